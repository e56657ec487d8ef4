"""Configuration: a TOML file plus ``PATROL_GATEWAY_...`` environment variables, read with pydantic-settings.

Every tunable number lives here as a documented field with a named default. Environment variables win over
the file: ``PATROL_GATEWAY_`` + section + ``__`` + key, e.g. ``PATROL_GATEWAY_MQTT__URL``. Invalid values stop
start-up with a ``ConfigError`` naming the key, the value and what was expected.
"""

from __future__ import annotations

import difflib
import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from gateway.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/patrol-gateway/gateway.toml")
ENV_PREFIX = "PATROL_GATEWAY_"

DEFAULT_HEALTH_INTERVAL_S = 30.0
DEFAULT_MQTT_KEEPALIVE_S = 30
DEFAULT_RECONNECT_MIN_S = 0.5
DEFAULT_RECONNECT_MAX_S = 30.0
DEFAULT_PUBLISH_WINDOW = 64
DEFAULT_DRAIN_RATE_PER_S = 2000.0
DEFAULT_SESSION_EXPIRY_S = 600
DEFAULT_COMMAND_REPLAY_MAX_AGE_S = 600.0
DEFAULT_GNSS_AUTO_BAUDS = (9600, 4800, 38400, 115200, 19200, 57600)
DEFAULT_GNSS_SILENCE_TIMEOUT_S = 5.0
DEFAULT_BAUD_PROBE_S = 2.5
DEFAULT_GNSS_IDLE_FLUSH_S = 0.3
DEFAULT_DEVICE_RECONNECT_MAX_S = 10.0
DEFAULT_RADIO_BAUD = 38400
DEFAULT_RADIO_COMMAND_TIMEOUT_S = 5.0
DEFAULT_RADIO_POLL_INTERVAL_S = 30.0
DEFAULT_RADIO_INIT = (
    "AT",
    "AT+CTOM=0",
    "AT+CTSP=2,2,20",
    "AT+CTSP=1,3,130",
    "AT+CTSP=1,3,10",
    "AT+CTSP=1,3,137",
    "AT+CTSP=1,3,138",
)
DEFAULT_SEND_RETRIES = 2
DEFAULT_SEND_RETRY_BACKOFF_S = 1.0
DEFAULT_CONCAT_TIMEOUT_S = 120.0
DEFAULT_MAX_TEXT_BITS = 668
DEFAULT_SPOOL_PATH = Path("/var/lib/patrol-gateway/spool.db")
DEFAULT_SPOOL_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_SPOOL_MAX_EVENTS = 200_000
DEFAULT_POSITION_COMMIT_INTERVAL_S = 0.1
DEFAULT_LINE_MAX_BYTES = 1024
DEFAULT_TTL_S: dict[str, float] = {
    "emergency": 0.0,
    "status": 0.0,
    "text": 0.0,
    "result": 3600.0,
    "position": 86400.0,
    "health": 600.0,
    "radio": 600.0,
}

SECRET_MASK = "********"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class GatewaySection(_Section):
    id: str = Field(default_factory=socket.gethostname, description="This gateway's id, a topic segment.")
    unit: str | None = Field(
        None, description="Unit id this gateway's own GNSS positions are published under."
    )
    topic_prefix: str = Field("patrol", description="First topic segment of every topic.")
    health_interval_s: float = Field(
        DEFAULT_HEALTH_INTERVAL_S, gt=0, description="Seconds between retained health reports."
    )

    @field_validator("id", "topic_prefix", "unit")
    @classmethod
    def _topic_segment(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/+#\x00")):
            raise ValueError("a non-empty MQTT topic segment without '/', '+', '#'")
        return value


class MqttSection(_Section):
    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port or mqtts://host:port (TLS).")
    username: str | None = Field(
        None,
        validation_alias=AliasChoices("username", "user"),
        description="Broker user name (also accepted as `user`, or in the URL as mqtt://user:password@host).",
    )
    password: SecretStr | None = Field(None, description="Broker password (masked in check-config).")
    ca_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("ca_file", "ca"),
        description="CA certificate file for mqtts:// (also accepted as `ca`).",
    )
    cert_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("cert_file", "client_cert", "cert"),
        description="Client certificate for mutual TLS (also `client_cert`, `cert`).",
    )
    key_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("key_file", "client_key", "key"),
        description="Client private key for mutual TLS (also `client_key`, `key`).",
    )
    client_id: str | None = Field(None, description="MQTT client id (default: patrol-gateway-<gateway.id>).")
    protocol: Literal["5", "3.1.1"] = Field(
        "5", description="MQTT protocol version; 3.1.1 for brokers without MQTT 5 (the demo's embedded one)."
    )
    keepalive_s: int = Field(DEFAULT_MQTT_KEEPALIVE_S, ge=5, le=3600, description="MQTT keepalive.")
    reconnect_min_s: float = Field(DEFAULT_RECONNECT_MIN_S, gt=0, description="First reconnect delay.")
    reconnect_max_s: float = Field(DEFAULT_RECONNECT_MAX_S, gt=0, description="Reconnect delay cap.")
    publish_window: int = Field(
        DEFAULT_PUBLISH_WINDOW, ge=1, le=10_000, description="QoS 1 publishes in flight at once."
    )
    drain_rate_per_s: float = Field(
        DEFAULT_DRAIN_RATE_PER_S, gt=0, description="Backlog messages per second after a reconnect."
    )
    session_expiry_s: int = Field(
        DEFAULT_SESSION_EXPIRY_S,
        ge=0,
        le=2**32 - 1,
        description=(
            "How long the broker keeps this gateway's session while it is away: its command subscription, "
            "and the QoS 1 commands dispatchers sent meanwhile, which it then executes on reconnect. "
            "0 = a clean session each time (commands sent while the gateway is away are lost). With "
            "protocol 3.1.1 any value > 0 means a persistent session whose expiry the broker decides "
            "(mosquitto: persistent_client_expiration)."
        ),
    )
    command_replay_max_age_s: float = Field(
        DEFAULT_COMMAND_REPLAY_MAX_AGE_S,
        ge=0,
        description=(
            "A command accepted but not yet sent when the gateway stopped (killed, power cut) is executed at "
            "the next start if it was accepted at most this long before; an older one is answered "
            "'failed' instead (a status sent an hour late misleads). 0 = never execute such a command late."
        ),
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("a URL of the form mqtt://host:port or mqtts://host:port")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("mqtt://host:port or mqtts://host:port without a path, query or fragment")
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ValueError("a URL with a numeric port, e.g. mqtt://host:1883") from exc
        return value

    @model_validator(mode="after")
    def _credentials_from_url(self) -> Self:
        """``mqtt://user:password@host:port`` is accepted; the credentials move to their own (masked) keys."""
        parts = urlsplit(self.url)
        if parts.username is None and parts.password is None:
            return self
        if self.username is not None or self.password is not None:
            raise ValueError("credentials in mqtt.url or in mqtt.username/password, not both")
        self.username = unquote(parts.username) if parts.username else None
        self.password = SecretStr(unquote(parts.password)) if parts.password is not None else None
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        self.url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        return self

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"


class ReportPolicy(_Section):
    min_interval_s: float = Field(5.0, ge=0, description="Never publish positions more often than this.")
    max_interval_s: float = Field(
        60.0, ge=0, description="Publish at least this often, even when stationary."
    )
    min_distance_m: float = Field(25.0, ge=0, description="Publish when moved at least this far...")
    min_course_change_deg: float = Field(30.0, ge=0, le=180, description="...or turned at least this much.")

    @model_validator(mode="after")
    def _intervals(self) -> Self:
        if self.max_interval_s and self.min_interval_s > self.max_interval_s:
            raise ValueError(
                f"min_interval_s ({self.min_interval_s:g}) not above max_interval_s ({self.max_interval_s:g})"
            )
        return self


class GnssSection(_Section):
    port: str | None = Field(None, description="Device path or pyserial URL; absent = no GNSS.")
    baud: int | Literal["auto"] = Field(9600, description="Baud rate, or 'auto' to hunt it.")
    auto_bauds: list[int] = Field(
        list(DEFAULT_GNSS_AUTO_BAUDS), min_length=1, description="Rates tried, in order, by baud='auto'."
    )
    baud_probe_s: float = Field(DEFAULT_BAUD_PROBE_S, gt=0, description="Seconds to wait for NMEA per rate.")
    silence_timeout_s: float = Field(
        DEFAULT_GNSS_SILENCE_TIMEOUT_S, gt=0, description="No valid NMEA for this long = link 'silent'."
    )
    idle_flush_s: float = Field(
        DEFAULT_GNSS_IDLE_FLUSH_S,
        gt=0,
        description="Quiet this long after a sentence = the epoch is complete.",
    )
    reconnect_min_s: float = Field(DEFAULT_RECONNECT_MIN_S, gt=0, description="First reopen delay.")
    reconnect_max_s: float = Field(DEFAULT_DEVICE_RECONNECT_MAX_S, gt=0, description="Reopen delay cap.")
    max_line_bytes: int = Field(DEFAULT_LINE_MAX_BYTES, ge=82, description="Longest line kept.")
    report: ReportPolicy = Field(default_factory=ReportPolicy)  # type: ignore[arg-type]

    @field_validator("baud", mode="before")
    @classmethod
    def _baud(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        if isinstance(value, str) and value != "auto":
            raise ValueError("an integer baud rate or 'auto'")
        return value

    @field_validator("baud")
    @classmethod
    def _baud_positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value <= 0:
            raise ValueError("a positive integer baud rate or 'auto'")
        return value


class RadioSection(_Section):
    port: str = Field(description="Device path or pyserial URL of the radio's PEI.")
    baud: int = Field(DEFAULT_RADIO_BAUD, gt=0, description="PEI baud rate.")
    name: str | None = Field(None, description="Name used in topics (default radio0, radio1, ...).")
    rtscts: bool = Field(False, description="RTS/CTS hardware flow control.")
    line_ending: Literal["CR", "CRLF"] = Field("CR", description="What ends a command.")
    reset_on_start: bool = Field(False, description="Send ATZ first (reboots some Sepura radios).")
    init: list[str] = Field(list(DEFAULT_RADIO_INIT), description="Commands sent after opening.")
    command_timeout_s: float = Field(DEFAULT_RADIO_COMMAND_TIMEOUT_S, gt=0, description="Per command.")
    poll_interval_s: float = Field(
        DEFAULT_RADIO_POLL_INTERVAL_S,
        gt=0,
        description="Seconds between signal/registration checks; a check left unanswered reopens the radio.",
    )
    reconnect_min_s: float = Field(DEFAULT_RECONNECT_MIN_S, gt=0, description="First reopen delay.")
    reconnect_max_s: float = Field(DEFAULT_DEVICE_RECONNECT_MAX_S, gt=0, description="Reopen delay cap.")
    send_retries: int = Field(
        DEFAULT_SEND_RETRIES,
        ge=0,
        le=20,
        description=(
            "Retries of a send the radio refused with a transient error (out of service, no layer-2 ack, "
            "busy). The command's result waits for them: with the defaults a refusal is answered "
            "'failed' about 3 s after the command arrived."
        ),
    )
    send_retry_backoff_s: float = Field(DEFAULT_SEND_RETRY_BACKOFF_S, gt=0, description="First retry delay.")
    max_line_bytes: int = Field(DEFAULT_LINE_MAX_BYTES, ge=64, description="Longest PEI line kept.")
    max_text_bits: int = Field(DEFAULT_MAX_TEXT_BITS, ge=64, le=2047, description="Largest SDS user data.")
    concat_timeout_s: float = Field(
        DEFAULT_CONCAT_TIMEOUT_S, gt=0, description="Give up on missing parts of a concatenated text."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return GatewaySection._topic_segment(value)


class EmergencySection(_Section):
    status_codes: list[str] = Field(
        ["0000"], description="Status values (hex) raised as emergencies; 0000 is TETRA's emergency."
    )
    call_priority: int = Field(15, ge=1, le=15, description="Call priority at or above which = emergency.")

    @field_validator("status_codes")
    @classmethod
    def _hex_codes(cls, value: list[str]) -> list[str]:
        return [_hex16(code) for code in value]


class SpoolSection(_Section):
    path: Path = Field(DEFAULT_SPOOL_PATH, description="The store-and-forward SQLite file.")
    max_bytes: int = Field(DEFAULT_SPOOL_MAX_BYTES, ge=64 * 1024, description="Spool size bound.")
    max_events: int = Field(DEFAULT_SPOOL_MAX_EVENTS, ge=100, description="Spool event count bound.")
    position_commit_interval_s: float = Field(
        DEFAULT_POSITION_COMMIT_INTERVAL_S, ge=0, le=5, description="Batching window for positions."
    )
    ttl_s: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_TTL_S),
        description="Time to live per class, seconds; 0 = forever.",
    )


def _hex16(value: str) -> str:
    text = str(value).strip().upper()
    try:
        number = int(text, 16)
    except ValueError:
        raise ValueError(f"a 16-bit hex status value such as '8002', not {value!r}") from None
    if not 0 <= number <= 0xFFFF:
        raise ValueError(f"a 16-bit hex status value (0000-FFFF), not {value!r}")
    return f"{number:04X}"


class Settings(BaseSettings):
    """The whole effective configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    gateway: GatewaySection = Field(default_factory=GatewaySection)  # type: ignore[arg-type]
    mqtt: MqttSection = Field(default_factory=MqttSection)  # type: ignore[arg-type]
    gnss: GnssSection = Field(default_factory=GnssSection)  # type: ignore[arg-type]
    radios: list[RadioSection] = Field(default_factory=list)
    units: dict[str, str] = Field(default_factory=dict, description="ISSI -> unit id.")
    groups: dict[str, str] = Field(
        default_factory=dict,
        description="GSSI -> talkgroup name; commands to these are sent with the group address type.",
    )
    status_codes: dict[str, str] = Field(default_factory=dict, description="Hex status value -> label.")
    emergency: EmergencySection = Field(default_factory=EmergencySection)  # type: ignore[arg-type]
    spool: SpoolSection = Field(default_factory=SpoolSection)  # type: ignore[arg-type]

    @field_validator("status_codes")
    @classmethod
    def _status_codes(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for code, label in value.items():
            key = _hex16(code)
            if key in out:
                raise ValueError(f"each status value once; {code!r} is {key} again")
            out[key] = label
        return out

    @field_validator("units", "groups")
    @classmethod
    def _units(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for issi, unit in value.items():
            if not str(issi).isdigit() or len(str(issi)) > 8:
                raise ValueError(f"ISSIs/GSSIs of up to 8 digits as keys, not {issi!r}")
            GatewaySection._topic_segment(unit)
            if str(int(issi)) in out:
                raise ValueError(f"each ISSI/GSSI once; {issi!r} is {int(issi)} again")
            out[str(int(issi))] = unit
        return out

    @field_validator("radios")
    @classmethod
    def _radio_names(cls, radios: list[RadioSection]) -> list[RadioSection]:
        # A field validator, not a model validator: its error then names the key `radios` and shows the
        # radios alone, not the whole configuration with its secrets.
        seen: set[str] = set()
        for index, radio in enumerate(radios):
            if radio.name is None:
                radio.name = f"radio{index}"
            if radio.name in seen:
                raise ValueError(f"radio names must be unique; {radio.name!r} is used twice")
            seen.add(radio.name)
        return radios

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file is merged in by load_settings() as init values; environment wins over it.
        return env_settings, init_settings

    def unit_for(self, issi: int | str) -> str:
        """The unit id (call sign) for an ISSI, or the ISSI itself when unmapped."""
        key = str(int(issi))
        return self.units.get(key, key)

    def issi_for(self, unit_or_issi: str) -> int | None:
        """Resolve a unit id or digits to an ISSI/GSSI number, or None."""
        text = str(unit_or_issi).strip()
        if text.isdigit():
            return int(text)
        for issi, unit in self.units.items():
            if unit == text:
                return int(issi)
        return None

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, with secrets masked."""
        data = self.model_dump(mode="json")
        if self.mqtt.password is not None:
            data["mqtt"]["password"] = SECRET_MASK
        return data


SECRET_KEYS = frozenset({"password"})
"""Keys whose values are never printed, not even in an error message."""


def _redact(loc: tuple[Any, ...], value: Any) -> Any:
    if loc and str(loc[-1]) in SECRET_KEYS:
        return SECRET_MASK
    if isinstance(value, str) and "@" in value and "://" in value:
        parts = urlsplit(value)
        if parts.password is not None:
            return value.replace(f":{parts.password}@", f":{SECRET_MASK}@", 1)
    if isinstance(value, dict):
        return {k: _redact((*loc, k), v) for k, v in value.items()}
    return value


def _env_source(loc: tuple[Any, ...]) -> str | None:
    """The environment variable that set this key (or a table or list holding it), if one did."""
    names = {name.upper() for name in os.environ}
    for end in range(len(loc), 0, -1):
        if not all(isinstance(part, str) for part in loc[:end]):
            continue
        name = ENV_PREFIX + "__".join(str(part) for part in loc[:end]).upper()
        if name in names:
            return name
    return None


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    source = _env_source(loc)
    if source is not None:
        key += f" (from {source})"
    value = _redact(loc, error.get("input"))
    expected = error["msg"].removeprefix("Value error, ")
    if expected.startswith("Input should be "):  # pydantic's own wording, after our "expected"
        expected = expected.removeprefix("Input should be ")
        if expected.startswith(("greater", "less")):
            expected = f"a value {expected}"
    if error["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        if (close and close[0] in SECRET_KEYS) or any(
            word in str(loc[-1]).lower() for word in ("pass", "secret")
        ):
            value = SECRET_MASK  # a misspelt secret is still a secret
        hint = f"; did you mean {close[0]!r}?" if close else f": {', '.join(known)}" if known else ""
        return f"{key}: unknown key (value {value!r}); expected one of the documented keys{hint}"
    if error["type"] == "missing":
        return f"{key}: missing; expected a value ({expected})"
    return f"{key}: invalid value {value!r}; expected {expected}"


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys of the section at ``loc`` (for "unknown key" messages)."""
    model: type[BaseModel] = Settings
    for part in loc:
        if isinstance(part, int):
            continue  # an entry of a list, such as radios.0
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        inner = getattr(field.annotation, "__args__", (field.annotation,))
        found = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if found is None:
            return []
        model = found
    return sorted(model.model_fields)


def load_settings(path: Path | str | None = None, *, required: bool = False) -> Settings:
    """Read the TOML file (if present) and the environment; raise ConfigError on any invalid value.

    With ``required`` a missing file is an error; otherwise the default path may be absent.
    """
    file_path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    if file_path.exists():
        try:
            data = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file_path}: not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{file_path}: cannot read: {exc.strerror}") from exc
    elif required or path is not None:
        raise ConfigError(f"{file_path}: configuration file not found")
    try:
        return Settings(**data)
    except SettingsError as exc:  # an environment variable holding a list or table that is not JSON
        raise ConfigError(f"invalid configuration (environment): {exc}; expected JSON there") from exc
    except ValidationError as exc:
        lines = [_describe(dict(error)) for error in exc.errors()]
        raise ConfigError(f"invalid configuration ({file_path}):\n  " + "\n  ".join(lines)) from exc
