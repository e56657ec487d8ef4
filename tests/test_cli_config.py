"""``patrol-gateway check-config`` and configuration errors, in-process (``gateway.cli.main``) and as a
process.

Good files print the effective configuration as JSON with secrets masked; environment variables win over the
file key by key; a bad value exits 2 naming the key, the value and what was expected; ``run`` with a bad file
exits 2 before it opens anything. An absent device is not a configuration error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import EXIT_CONFIG, EXIT_OK, main
from gateway.config import ENV_PREFIX, SECRET_MASK
from tests.broker import Mosquitto
from tests.harness import REPO, Message, Process, Recorder, start_gateway, start_simulator

PASSWORD = "s3cret-Passw0rd"

GOOD = f"""
[gateway]
id = "gw-cfg"
unit = "CAR-7"

[mqtt]
url = "mqtts://broker.example:8883"
username = "gateway"
password = "{PASSWORD}"

[gnss]
port = "/dev/serial/by-id/usb-u-blox-if00"
baud = "auto"

[gnss.report]
min_interval_s = 2
max_interval_s = 30

[[radios]]
port = "socket://10.0.0.5:4001"
baud = 38400
name = "north"

[[radios]]
port = "/dev/ttyUSB1"

[units]
"2001234" = "PA-12"
"0042" = "PA-42"

[status_codes]
"8002" = "on patrol"
"80ff" = "returning"
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PATROL_GATEWAY_* variable from the caller's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def _write(tmp_path: Path, text: str, name: str = "gateway.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _check_config(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = main(["check-config", "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_good_file_prints_effective_configuration_with_password_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _check_config(capsys, _write(tmp_path, GOOD))
    assert (code, err) == (EXIT_OK, "")
    config = json.loads(out)
    assert config["mqtt"]["password"] == SECRET_MASK
    assert PASSWORD not in out
    assert config["mqtt"]["username"] == "gateway"
    assert config["mqtt"]["url"] == "mqtts://broker.example:8883"
    assert config["gateway"] == {
        **config["gateway"],
        "id": "gw-cfg",
        "unit": "CAR-7",
        "topic_prefix": "patrol",
    }
    assert config["gnss"]["baud"] == "auto"
    assert config["gnss"]["report"]["min_interval_s"] == 2
    assert config["gnss"]["report"]["max_interval_s"] == 30
    assert config["gnss"]["report"]["min_distance_m"] == 25.0, "defaults are filled in"
    assert [(r["name"], r["port"], r["baud"]) for r in config["radios"]] == [
        ("north", "socket://10.0.0.5:4001", 38400),
        ("radio1", "/dev/ttyUSB1", 38400),
    ], "an unnamed radio is named by its position"
    assert config["units"] == {"2001234": "PA-12", "42": "PA-42"}, "ISSI keys lose leading zeros"
    assert config["status_codes"] == {"8002": "on patrol", "80FF": "returning"}, "hex keys upper-cased"


def test_no_password_prints_null(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _check_config(capsys, _write(tmp_path, '[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n'))
    assert code == EXIT_OK
    assert json.loads(out)["mqtt"]["password"] is None


def test_check_config_as_a_process(tmp_path: Path) -> None:
    result = _cli("check-config", "--config", str(_write(tmp_path, GOOD)))
    assert result.returncode == EXIT_OK, result.stderr
    config = json.loads(result.stdout)
    assert config["mqtt"]["password"] == SECRET_MASK
    assert PASSWORD not in result.stdout + result.stderr
    assert config["radios"][0]["name"] == "north"


def test_environment_wins_over_the_file_key_by_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATROL_GATEWAY_MQTT__URL", "mqtt://10.1.2.3:1884")
    monkeypatch.setenv("PATROL_GATEWAY_GNSS__REPORT__MIN_INTERVAL_S", "7.5")
    monkeypatch.setenv("PATROL_GATEWAY_GATEWAY__ID", "from-env")
    code, out, err = _check_config(capsys, _write(tmp_path, GOOD))
    assert (code, err) == (EXIT_OK, "")
    config = json.loads(out)
    assert config["mqtt"]["url"] == "mqtt://10.1.2.3:1884"
    assert config["gnss"]["report"]["min_interval_s"] == 7.5
    assert config["gateway"]["id"] == "from-env"
    # deep merge: what the environment does not set stays as the file has it
    assert config["mqtt"]["username"] == "gateway"
    assert config["mqtt"]["password"] == SECRET_MASK
    assert config["gnss"]["report"]["max_interval_s"] == 30
    assert config["gnss"]["port"] == "/dev/serial/by-id/usb-u-blox-if00"
    assert config["gateway"]["unit"] == "CAR-7"


def test_environment_alone_configures_a_section(tmp_path: Path) -> None:
    path = _write(tmp_path, '[mqtt]\nusername = "from-file"\n')
    result = _cli(
        "check-config",
        "--config",
        str(path),
        env={
            "PATROL_GATEWAY_MQTT__URL": "mqtts://tls.example:8883",
            "PATROL_GATEWAY_MQTT__PASSWORD": PASSWORD,
        },
    )
    assert result.returncode == EXIT_OK, result.stderr
    mqtt = json.loads(result.stdout)["mqtt"]
    assert (mqtt["url"], mqtt["username"], mqtt["password"]) == (
        "mqtts://tls.example:8883",
        "from-file",
        SECRET_MASK,
    )
    assert PASSWORD not in result.stdout


# (case, TOML text, fragments the message must contain: the key, the value, what was expected)
BAD: list[tuple[str, str, tuple[str, ...]]] = [
    ("baud 'fast'", '[gnss]\nbaud = "fast"\n', ("gnss.baud", "'fast'", "an integer baud rate or 'auto'")),
    ("baud 0", "[gnss]\nbaud = 0\n", ("gnss.baud", "0", "a positive integer baud rate or 'auto'")),
    ("radio baud text", '[[radios]]\nport = "/dev/x"\nbaud = "x"\n', ("radios.0.baud", "'x'", "integer")),
    (
        "negative minimum interval",
        "[gnss.report]\nmin_interval_s = -1\n",
        ("gnss.report.min_interval_s", "-1", "greater than or equal to 0"),
    ),
    (
        "negative maximum interval",
        "[gnss.report]\nmax_interval_s = -30\n",
        ("gnss.report.max_interval_s", "-30", "greater than or equal to 0"),
    ),
    (
        "zero health interval",
        "[gateway]\nhealth_interval_s = 0\n",
        ("gateway.health_interval_s", "0", "greater than 0"),
    ),
    (
        "http URL",
        '[mqtt]\nurl = "http://broker:1883"\n',
        ("mqtt.url", "'http://broker:1883'", "mqtt://host:port or mqtts://host:port"),
    ),
    (
        "URL with a port that is not a number",
        '[mqtt]\nurl = "mqtt://broker:port"\n',
        ("mqtt.url", "'mqtt://broker:port'", "numeric port"),
    ),
    ("URL without host", '[mqtt]\nurl = "mqtt://"\n', ("mqtt.url", "'mqtt://'", "mqtt://host:port")),
    (
        "URL with a path",
        '[mqtt]\nurl = "mqtt://broker:1883/gw"\n',
        ("mqtt.url", "'mqtt://broker:1883/gw'", "without a path"),
    ),
    (
        "minimum interval above the maximum",
        "[gnss.report]\nmin_interval_s = 10\nmax_interval_s = 5\n",
        ("gnss.report", "'min_interval_s': 10", "min_interval_s (10) not above max_interval_s (5)"),
    ),
    (
        "the same ISSI twice",
        '[units]\n"02001018" = "A"\n"2001018" = "B"\n',
        ("units", "'2001018': 'B'", "each ISSI/GSSI once; '2001018' is 2001018 again"),
    ),
    (
        "the same status value twice",
        '[status_codes]\n"8002" = "available"\n"8002 " = "free"\n',
        ("status_codes", "'8002 ': 'free'", "each status value once"),
    ),
    (
        "a misspelt key",
        "[[radios]]\nport = '/dev/x'\nbuad = 9600\n",
        ("radios.0.buad", "9600", "did you mean 'baud'?"),
    ),
    ("unknown top-level key", 'brokr = "x"\n', ("brokr", "unknown key", "'x'", "documented keys")),
    ("unknown key in a section", "[mqtt]\nport = 1883\n", ("mqtt.port", "unknown key", "1883")),
    (
        "unknown key in a radio",
        '[[radios]]\nport = "/dev/x"\nspeed = 9600\n',
        ("radios.0.speed", "unknown key"),
    ),
    (
        "status code not hex",
        '[status_codes]\n"80G2" = "on patrol"\n',
        ("status_codes", "'80G2'", "a 16-bit hex status value"),
    ),
    (
        "status code too large",
        '[status_codes]\n"10000" = "x"\n',
        ("status_codes", "'10000'", "0000-FFFF"),
    ),
    (
        "emergency status code not hex",
        '[emergency]\nstatus_codes = ["XYZ"]\n',
        ("emergency.status_codes", "'XYZ'", "a 16-bit hex status value"),
    ),
    (
        "ISSI key not digits",
        '[units]\n"PA12" = "PA-12"\n',
        ("units", "'PA12'", "ISSIs/GSSIs of up to 8 digits"),
    ),
    ("ISSI key too long", '[units]\n"123456789" = "X"\n', ("units", "'123456789'", "up to 8 digits")),
    (
        "duplicate radio names",
        '[[radios]]\nport = "/dev/a"\nname = "r"\n[[radios]]\nport = "/dev/b"\nname = "r"\n',
        ("radios", "'r' is used twice", "unique"),
    ),
    (
        "explicit name clashing with a default one",
        '[[radios]]\nport = "/dev/a"\n[[radios]]\nport = "/dev/b"\nname = "radio0"\n',
        ("radios", "'radio0' is used twice"),
    ),
    ("radio without port", "[[radios]]\nbaud = 9600\n", ("radios.0.port", "missing")),
    ("gateway id with a slash", '[gateway]\nid = "a/b"\n', ("gateway.id", "'a/b'", "topic segment")),
    ("unit id with a wildcard", '[units]\n"1" = "PA+1"\n', ("units", "'PA+1'", "topic segment")),
    (
        "line ending",
        '[[radios]]\nport = "/dev/a"\nline_ending = "LF"\n',
        ("radios.0.line_ending", "'LF'", "CR"),
    ),
    ("invalid TOML", "[gnss\nbaud = 9600\n", ("not valid TOML", "line 1")),
    ("a string where a table belongs", 'mqtt = "mqtt://x:1"\n', ("mqtt", "'mqtt://x:1'")),
]


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_value_exits_2_naming_key_value_and_expectation(
    text: str, fragments: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, text)
    code, out, err = _check_config(capsys, path)
    assert code == EXIT_CONFIG
    assert out == "", "nothing on stdout: no half-printed configuration"
    assert err.startswith("patrol-gateway: ")
    assert str(path) in err, "the message says which file"
    for fragment in fragments:
        assert fragment in err


def test_every_bad_key_is_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, '[gnss]\nbaud = "fast"\n[mqtt]\nurl = "ftp://x"\n')
    code, _, err = _check_config(capsys, path)
    assert code == EXIT_CONFIG
    assert "gnss.baud" in err and "mqtt.url" in err


def test_errors_never_show_the_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A check spanning several keys (unique radio names) must not echo the whole configuration."""
    radios = '[[radios]]\nport = "/a"\nname = "r"\n[[radios]]\nport = "/b"\nname = "r"\n'
    text = f'[mqtt]\npassword = "{PASSWORD}"\n{radios}'
    code, _, err = _check_config(capsys, _write(tmp_path, text))
    assert code == EXIT_CONFIG
    assert "radios" in err and PASSWORD not in err


def test_a_misspelt_password_is_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _check_config(capsys, _write(tmp_path, f'[mqtt]\npasword = "{PASSWORD}"\n'))
    assert code == EXIT_CONFIG
    assert "mqtt.pasword" in err and "did you mean 'password'" in err and PASSWORD not in err


def test_a_password_of_the_wrong_type_is_not_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _check_config(capsys, _write(tmp_path, "[mqtt]\npassword = 80417\n"))
    assert code == EXIT_CONFIG
    assert "mqtt.password" in err and "80417" not in err and SECRET_MASK in err


def test_credentials_in_the_url_are_used_and_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, f'[mqtt]\nurl = "mqtts://gw%40north:{PASSWORD}@broker.example:8883"\n')
    code, out, _ = _check_config(capsys, path)
    assert code == EXIT_OK and PASSWORD not in out
    mqtt = json.loads(out)["mqtt"]
    assert mqtt["url"] == "mqtts://broker.example:8883"
    assert (mqtt["username"], mqtt["password"]) == ("gw@north", SECRET_MASK)


def test_credentials_twice_and_a_bad_url_never_show_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for text in [
        f'[mqtt]\nurl = "mqtt://a:{PASSWORD}@h:1883"\nusername = "b"\n',
        f'[mqtt]\nurl = "mqtt://a:{PASSWORD}@h:99999"\n',
    ]:
        code, _, err = _check_config(capsys, _write(tmp_path, text))
        assert code == EXIT_CONFIG and "mqtt" in err and PASSWORD not in err, err


def test_the_spec_words_user_ca_cert_and_key_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '[mqtt]\nuser = "gw"\nca = "/etc/ca.pem"\nclient_cert = "/etc/c.pem"\nclient_key = "/etc/k.pem"\n'
    code, out, _ = _check_config(capsys, _write(tmp_path, text))
    assert code == EXIT_OK
    mqtt = json.loads(out)["mqtt"]
    assert (mqtt["username"], mqtt["ca_file"], mqtt["cert_file"], mqtt["key_file"]) == (
        "gw",
        "/etc/ca.pem",
        "/etc/c.pem",
        "/etc/k.pem",
    )


def test_bad_environment_value_names_the_key_and_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATROL_GATEWAY_GNSS__REPORT__MIN_INTERVAL_S", "-3")
    code, out, err = _check_config(capsys, _write(tmp_path, GOOD))
    assert (code, out) == (EXIT_CONFIG, "")
    assert "gnss.report.min_interval_s (from PATROL_GATEWAY_GNSS__REPORT__MIN_INTERVAL_S)" in err
    assert "'-3'" in err


def test_environment_table_that_is_not_json_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATROL_GATEWAY_RADIOS", "not json")
    code, out, err = _check_config(capsys, _write(tmp_path, GOOD))
    assert (code, out) == (EXIT_CONFIG, "")
    assert "radios" in err and "JSON" in err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.toml"
    code, out, err = _check_config(capsys, missing)
    assert (code, out) == (EXIT_CONFIG, "")
    assert f"{missing}: configuration file not found" in err


def test_unreadable_bytes_are_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[gateway]\nid = "caf\xe9"\n')
    code, _, err = _check_config(capsys, path)
    assert code == EXIT_CONFIG
    assert "not valid TOML" in err


def test_bad_value_as_a_process(tmp_path: Path) -> None:
    result = _cli("check-config", "--config", str(_write(tmp_path, '[gnss]\nbaud = "fast"\n')))
    assert result.returncode == EXIT_CONFIG
    assert result.stdout == ""
    assert "gnss.baud: invalid value 'fast'; expected an integer baud rate or 'auto'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "env", "fragment"),
    [
        ('[gnss]\nbaud = "fast"\n', {}, "gnss.baud"),
        ("", {"PATROL_GATEWAY_MQTT__URL": "tcp://x"}, "mqtt.url"),
        ("[gnss\n", {}, "not valid TOML"),
    ],
    ids=["bad value", "bad environment", "invalid TOML"],
)
def test_run_with_bad_configuration_exits_2_before_starting_anything(
    tmp_path: Path, text: str, env: dict[str, str], fragment: str
) -> None:
    spool = tmp_path / "spool.db"
    path = _write(tmp_path, f'[spool]\npath = "{spool}"\n{text}')
    result = _cli("run", "--config", str(path), env=env)
    assert result.returncode == EXIT_CONFIG
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert not spool.exists(), "nothing was opened"
    assert list(tmp_path.iterdir()) == [path]


def test_run_with_missing_file_exits_2(tmp_path: Path) -> None:
    result = _cli("run", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == EXIT_CONFIG
    assert "configuration file not found" in result.stderr


def test_absent_devices_are_not_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '[gnss]\nport = "/dev/does-not-exist-gps"\n[[radios]]\nport = "/dev/does-not-exist-radio"\n'
    code, out, err = _check_config(capsys, _write(tmp_path, text))
    assert (code, err) == (EXIT_OK, "")
    assert json.loads(out)["gnss"]["port"] == "/dev/does-not-exist-gps"


GW = "gw-absent"


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


def test_gateway_starts_with_an_absent_receiver_and_picks_it_up_when_it_appears(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    link = tmp_path / "gps0"  # nothing there yet: the receiver is "unplugged"
    config = _write(
        tmp_path,
        f"""
[gateway]
id = "{GW}"
unit = "CAR-1"
health_interval_s = 0.3

[mqtt]
url = "{mosquitto.url}"

[gnss]
port = "{link}"
reconnect_min_s = 0.1
reconnect_max_s = 0.3

[gnss.report]
min_interval_s = 0
min_distance_m = 0
min_course_change_deg = 0

[spool]
path = "{tmp_path / "spool.db"}"
""",
    )
    recorder = Recorder(mosquitto.port)
    try:
        gateway = start_gateway(config, tmp_path / "gw.out")
        processes.append(gateway)

        def gnss_state(state: str) -> Any:
            def check(messages: list[Message]) -> bool:
                healths = [m.json() for m in messages if m.topic.endswith(f"/gateways/{GW}/health")]
                return bool(healths) and healths[-1]["devices"].get("gnss", {}).get("state") == state

            return check

        recorder.wait_for(gnss_state("down"), what="health reporting the absent receiver as down")
        assert [m.payload for m in recorder.on(f"/gateways/{GW}/availability")] == [b"online"]

        processes.append(start_simulator("gps", link, "--rate", "5", log=tmp_path / "sim.out"))
        recorder.wait_for(gnss_state("up"), what="the receiver picked up once it appeared")
        recorder.wait_for(lambda _: bool(recorder.on("/units/CAR-1/position")), what="a position")
    finally:
        recorder.close()
    assert gateway.stop() == 0


def test_run_with_an_unusable_spool_says_why_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool's folder should be")
    config = tmp_path / "gw.toml"
    config.write_text(f'[mqtt]\nurl = "mqtt://127.0.0.1:1"\n[spool]\npath = "{blocker / "spool.db"}"\n')
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "cannot start" in err and str(blocker) in err and "Traceback" not in err
