"""The shipped JSON Schemas: valid draft 2020-12, accept the documented payloads, reject drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from gateway.schemas import SCHEMA_NAMES, load_schema, validate

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "gateway" / "schemas"
T = "2024-05-01T12:34:56.789Z"
ENVELOPE = {"gateway": "car-17", "seq": 42}

POSITION_GNSS = {
    "unit": "PA-17",
    "time": T,
    "lat": 44.8125,
    "lon": 20.4612,
    "alt_m": 117.3,
    "speed_mps": 13.9,
    "course_deg": 359.9,
    "fix": "3d",
    "sats": 9,
    "hdop": 0.9,
    "accuracy_m": 4.5,
    "source": "gnss",
    **ENVELOPE,
}
POSITION_LIP = {
    "unit": "2269001",
    "issi": 2269001,
    "tsi": "262100002269001",
    "time": T,
    "lat": -33.9,
    "lon": -179.5,
    "fix": "2d",
    "accuracy_m": 200,
    "source": "lip",
    "reason": "max_interval_exceeded",
    **ENVELOPE,
}
POSITION_NONE = {"unit": "1234567", "issi": 1234567, "time": T, "fix": "none", "source": "lip", **ENVELOPE}
STATUS = {
    "unit": "PA-17",
    "issi": 1234567,
    "to": 2345678,
    "code": 0x8004,
    "hex": "8004",
    "label": "On scene",
    "time": T,
    **ENVELOPE,
}
TEXT = {"unit": "PA-17", "issi": 23404, "to": 9999, "text": "Gjatjajgja", "time": T, **ENVELOPE}
EMERGENCY_STATUS = {
    "unit": "PA-17",
    "issi": 1234567,
    "time": T,
    "kind": "status",
    "code": 0,
    "position": {"lat": 44.8, "lon": 20.4, "time": T, "fix": "3d", "source": "gnss"},
    **ENVELOPE,
}
EMERGENCY_LIP = {"unit": "PA-17", "issi": 1234567, "time": T, "kind": "lip", **ENVELOPE}
HEALTH = {
    "version": "0.1.0",
    "uptime_s": 12.5,
    "time": T,
    "spool": {"depth": 3, "bytes": 900, "oldest_age_s": 1.2, "drops": {"position": 2}},
    "mqtt": {"connected": True, "reconnects": 1},
    "devices": {
        "gnss": {"kind": "gnss", "state": "up", "baud": 9600, "sentences": 1200},
        "radio0": {"kind": "radio", "state": "silent"},
    },
    **ENVELOPE,
}
RADIO = {
    "name": "radio0",
    "state": "up",
    "issi": 2001234,
    "registration": "registered_home",
    "signal_dbm": -81,
    "time": T,
    **ENVELOPE,
}
RESULT_SENT = {
    "id": "c1",
    "ok": True,
    "state": "sent",
    "command": "send_text",
    "to": 9999,
    "message_reference": 8,
}

GOOD: list[tuple[str, dict[str, Any]]] = [
    ("position", POSITION_GNSS),
    ("position", POSITION_LIP),
    ("position", POSITION_NONE),
    ("position", {k: v for k, v in POSITION_GNSS.items() if k not in ("alt_m", "sats", "hdop", "speed_mps")}),
    ("position", {**POSITION_GNSS, "lat": 0.0, "lon": 0.0}),
    ("status", STATUS),
    ("status", {k: v for k, v in STATUS.items() if k != "label"}),
    ("text", TEXT),
    ("text", {**TEXT, "coding": 1, "message_reference": 8, "text": ""}),
    ("emergency", EMERGENCY_STATUS),
    ("emergency", EMERGENCY_LIP),
    ("emergency", {**EMERGENCY_LIP, "kind": "call"}),
    ("health", HEALTH),
    ("health", {**HEALTH, "spool": {"depth": 0, "bytes": 0, "drops": {}}, "devices": {}}),
    ("radio", RADIO),
    ("radio", {"state": "down", **ENVELOPE}),
    ("command-send_status", {"id": "a", "to": 1234567, "code": 32770}),
    ("command-send_status", {"id": "a", "to": "1234567", "code": "8002", "radio": "radio1"}),
    ("command-send_status", {"id": "a", "to": "PA-17", "code": "80ff"}),
    ("command-send_text", {"id": "b", "to": "PA-17", "text": "Return to base"}),
    ("command-send_text", {"id": "b", "to": 9999, "text": "x" * 2000}),
    ("command-request_location", {"id": "c", "to": 2269001}),
    ("command-result", RESULT_SENT),
    ("command-result", {"id": "c1", "ok": True, "state": "delivered", "message_reference": 8}),
    (
        "command-result",
        {"id": "c1", "ok": False, "state": "failed", "error": "+CME ERROR: 30 MS out of service"},
    ),
    (
        "command-result",
        {"ok": False, "error": "payload is not JSON", "command": "send_text", **ENVELOPE, "time": T},
    ),
]

BAD: list[tuple[str, str, dict[str, Any]]] = [
    ("position missing unit", "position", {k: v for k, v in POSITION_GNSS.items() if k != "unit"}),
    ("position missing seq", "position", {k: v for k, v in POSITION_GNSS.items() if k != "seq"}),
    ("position null field", "position", {**POSITION_GNSS, "alt_m": None}),
    ("position null issi", "position", {**POSITION_LIP, "issi": None}),
    ("position time without ms", "position", {**POSITION_GNSS, "time": "2024-05-01T12:34:56Z"}),
    ("position time with offset", "position", {**POSITION_GNSS, "time": "2024-05-01T12:34:56.789+00:00"}),
    ("position lat out of range", "position", {**POSITION_GNSS, "lat": 90.5}),
    ("position lon out of range", "position", {**POSITION_GNSS, "lon": 180.01}),
    ("position course 360", "position", {**POSITION_GNSS, "course_deg": 360}),
    ("position negative speed", "position", {**POSITION_GNSS, "speed_mps": -0.1}),
    ("position bad fix", "position", {**POSITION_GNSS, "fix": "dgps"}),
    ("position bad source", "position", {**POSITION_GNSS, "source": "wifi"}),
    ("position seq negative", "position", {**POSITION_GNSS, "seq": -1}),
    ("position seq string", "position", {**POSITION_GNSS, "seq": "42"}),
    ("position unknown key", "position", {**POSITION_GNSS, "heading": 12}),
    ("fix none with 0,0", "position", {**POSITION_NONE, "lat": 0.0, "lon": 0.0}),
    ("fix none with lat only", "position", {**POSITION_NONE, "lat": 1.0}),
    ("3d fix without lon", "position", {k: v for k, v in POSITION_GNSS.items() if k != "lon"}),
    ("status missing to", "status", {k: v for k, v in STATUS.items() if k != "to"}),
    ("status lower-case hex", "status", {**STATUS, "hex": "800a"}),
    ("status code too big", "status", {**STATUS, "code": 65536}),
    ("status null label", "status", {**STATUS, "label": None}),
    ("status to as string", "status", {**STATUS, "to": "2345678"}),
    ("text missing text", "text", {k: v for k, v in TEXT.items() if k != "text"}),
    ("text unknown key", "text", {**TEXT, "priority": 1}),
    ("emergency bad kind", "emergency", {**EMERGENCY_LIP, "kind": "panic"}),
    ("emergency status without code", "emergency", {**EMERGENCY_STATUS, "code": None}),
    (
        "emergency status code missing",
        "emergency",
        {k: v for k, v in EMERGENCY_STATUS.items() if k != "code"},
    ),
    ("emergency code on a lip alarm", "emergency", {**EMERGENCY_LIP, "code": 0}),
    (
        "emergency position without lat",
        "emergency",
        {**EMERGENCY_STATUS, "position": {"lon": 1.0, "time": T}},
    ),
    (
        "emergency position fix none",
        "emergency",
        {**EMERGENCY_STATUS, "position": {"lat": 1.0, "lon": 1.0, "time": T, "fix": "none"}},
    ),
    ("health missing devices", "health", {k: v for k, v in HEALTH.items() if k != "devices"}),
    ("health spool without depth", "health", {**HEALTH, "spool": {"drops": {}}}),
    ("health drop count negative", "health", {**HEALTH, "spool": {"depth": 0, "drops": {"position": -1}}}),
    ("health device state", "health", {**HEALTH, "devices": {"gnss": {"kind": "gnss", "state": "ok"}}}),
    ("health device kind", "health", {**HEALTH, "devices": {"x": {"kind": "modem", "state": "up"}}}),
    ("health mqtt connected missing", "health", {**HEALTH, "mqtt": {}}),
    ("radio missing state", "radio", {k: v for k, v in RADIO.items() if k != "state"}),
    ("send_status missing code", "command-send_status", {"id": "a", "to": 1}),
    ("send_status code too big", "command-send_status", {"id": "a", "to": 1, "code": 70000}),
    ("send_status code 3 hex digits", "command-send_status", {"id": "a", "to": 1, "code": "802"}),
    ("send_status empty id", "command-send_status", {"id": "", "to": 1, "code": 1}),
    ("send_status numeric id", "command-send_status", {"id": 7, "to": 1, "code": 1}),
    ("send_status empty to", "command-send_status", {"id": "a", "to": "", "code": 1}),
    ("send_status negative to", "command-send_status", {"id": "a", "to": -5, "code": 1}),
    ("send_status unknown key", "command-send_status", {"id": "a", "to": 1, "code": 1, "prio": 1}),
    ("send_text empty text", "command-send_text", {"id": "b", "to": 1, "text": ""}),
    ("send_text too long", "command-send_text", {"id": "b", "to": 1, "text": "x" * 2001}),
    ("send_text missing to", "command-send_text", {"id": "b", "text": "hi"}),
    ("request_location missing id", "command-request_location", {"to": 1}),
    ("result missing ok", "command-result", {"id": "c1", "state": "sent"}),
    ("result empty id", "command-result", {"id": "", "ok": True, "state": "sent"}),
    ("result null id", "command-result", {"id": None, "ok": False, "error": "x"}),
    ("send_text id too long", "command-send_text", {"id": "i" * 201, "to": 1, "text": "hi"}),
    ("result bad state", "command-result", {"id": "c1", "ok": True, "state": "queued"}),
    ("result failure without error", "command-result", {"id": "c1", "ok": False, "state": "failed"}),
    ("result failed but ok", "command-result", {"id": "c1", "ok": True, "state": "failed"}),
    (
        "result delivered but not ok",
        "command-result",
        {"id": "c1", "ok": False, "state": "delivered", "error": "x"},
    ),
    ("result null error", "command-result", {"id": "c1", "ok": False, "error": None}),
]


def test_every_schema_file_is_listed() -> None:
    assert sorted(path.stem for path in SCHEMA_DIR.glob("*.json")) == sorted(SCHEMA_NAMES)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema == json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schemas_never_allow_null(name: str) -> None:
    assert '"null"' not in (SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8")


def test_event_payloads_reject_unknown_keys() -> None:
    for name in ("position", "status", "text", "emergency"):
        assert load_schema(name)["additionalProperties"] is False


@pytest.mark.parametrize(("name", "payload"), GOOD)
def test_accepts(name: str, payload: dict[str, Any]) -> None:
    validate(name, payload)


@pytest.mark.parametrize(("case", "name", "payload"), BAD, ids=[case for case, _, _ in BAD])
def test_rejects(case: str, name: str, payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        validate(name, payload)


def test_load_schema_returns_a_copy_and_rejects_unknown_names() -> None:
    schema = load_schema("position")
    schema["required"].clear()
    assert "unit" in load_schema("position")["required"]
    with pytest.raises(KeyError):
        load_schema("../config")
