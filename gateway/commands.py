"""Dispatcher commands from MQTT, validated into small frozen objects before anything touches a radio.

A malformed command raises ``CommandError`` with a message a dispatcher can act on; the caller answers it
with ``{"ok": false, "error": ...}`` and nothing else changes.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

from gateway.errors import CommandError

MAX_TEXT_CHARS = 2000
MAX_ID_CHARS = 200
MAX_ADDRESS = 99_999_999
COMMAND_NAMES = ("send_status", "send_text", "request_location")


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a command goes: the ISSI/GSSI and what the dispatcher called it."""

    number: int
    given: str
    group: bool = False
    """A talkgroup (GSSI from the ``groups`` table): sent with the group address type."""


@dataclass(frozen=True, slots=True)
class SendStatus:
    id: str
    to: Destination
    code: int
    radio: str | None = None


@dataclass(frozen=True, slots=True)
class SendText:
    id: str
    to: Destination
    text: str
    radio: str | None = None


@dataclass(frozen=True, slots=True)
class RequestLocation:
    id: str
    to: Destination
    radio: str | None = None


Command = SendStatus | SendText | RequestLocation


def command_id(payload: bytes) -> str | None:
    """The ``id`` of a command, if it can be read at all (for answering a command that fails validation)."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def parse_command(
    name: str, payload: bytes, units: dict[str, str], groups: dict[str, str] | None = None
) -> Command:
    """Validate one command; ``units`` maps ISSI -> unit id and ``groups`` GSSI -> talkgroup name (both
    looked up in reverse for ``to``)."""
    if name not in COMMAND_NAMES:
        raise CommandError(f"unknown command {name!r}; expected one of {', '.join(COMMAND_NAMES)}")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError("payload must be a JSON object")
    ident = data.get("id")
    if not isinstance(ident, str) or not ident or len(ident) > MAX_ID_CHARS:
        raise CommandError(f"'id' must be a non-empty string of at most {MAX_ID_CHARS} characters")
    to = _destination(data.get("to"), units, groups or {})
    radio = data.get("radio")
    if radio is not None and not isinstance(radio, str):
        raise CommandError("'radio' must be a radio name")
    if name == "send_status":
        return SendStatus(ident, to, _status_code(data.get("code")), radio)
    if name == "send_text":
        text = data.get("text")
        if not isinstance(text, str) or not text:
            raise CommandError("'text' must be a non-empty string")
        if len(text) > MAX_TEXT_CHARS:
            raise CommandError(f"'text' is {len(text)} characters; at most {MAX_TEXT_CHARS} are sent")
        return SendText(ident, to, text, radio)
    return RequestLocation(ident, to, radio)


def _destination(value: Any, units: dict[str, str], groups: dict[str, str]) -> Destination:
    if isinstance(value, bool) or value is None:
        raise CommandError("'to' must be an ISSI/GSSI (digits) or a unit id from the units table")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise CommandError("'to' must be an ISSI/GSSI (digits) or a unit id from the units table")
    text = value.strip()
    if text.isascii() and text.isdigit():  # str.isdigit() alone also takes "²", which int() refuses
        number = int(text)
        if not 0 < number <= MAX_ADDRESS:
            raise CommandError(f"'to' {text} is not an ISSI/GSSI (1..{MAX_ADDRESS})")
        return Destination(number, text, group=str(number) in groups)
    for issi, unit in units.items():
        if unit == text:
            return Destination(int(issi), text)
    for gssi, group in groups.items():
        if group == text:
            return Destination(int(gssi), text, group=True)
    raise CommandError(f"'to' {text!r} is neither digits nor a unit id or group name from the configuration")


def _status_code(value: Any) -> int:
    if isinstance(value, bool):
        raise CommandError("'code' must be an integer 0..65535 or 4 hex digits such as \"8002\"")
    if isinstance(value, int):
        code = value
    elif isinstance(value, str) and len(value) == 4:
        # int(_, 16) alone would also take "0x12", "+123", "1_00" and " 802"
        if not all(c in string.hexdigits for c in value):
            raise CommandError(f"'code' {value!r} is not 4 hex digits")
        code = int(value, 16)
    else:
        raise CommandError("'code' must be an integer 0..65535 or 4 hex digits such as \"8002\"")
    if not 0 <= code <= 0xFFFF:
        raise CommandError(f"'code' {code} is out of range 0..65535")
    return code
