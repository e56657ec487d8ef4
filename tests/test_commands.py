"""Dispatcher command validation: every valid form becomes a frozen command, every malformed one a
CommandError whose message says why (the gateway answers it with ``{"ok": false, "error": ...}``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from gateway.commands import (
    COMMAND_NAMES,
    MAX_ADDRESS,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    Command,
    Destination,
    RequestLocation,
    SendStatus,
    SendText,
    command_id,
    parse_command,
)
from gateway.errors import CommandError

UNITS = {"2001234": "PA-12", "2001235": "PA-13"}


def _payload(data: Any) -> bytes:
    return json.dumps(data).encode()


ID = "cmd-1"
D = Destination

VALID: list[tuple[str, dict[str, Any], Command]] = [
    # `to` as an integer, a digit string (kept as given) or a unit id from the units table
    ("send_status", {"to": 2001234, "code": 0x8002}, SendStatus(ID, D(2001234, "2001234"), 0x8002)),
    ("send_status", {"to": "2001234", "code": 32770}, SendStatus(ID, D(2001234, "2001234"), 0x8002)),
    ("send_status", {"to": " 0042 ", "code": 1}, SendStatus(ID, D(42, "0042"), 1)),
    ("send_status", {"to": "PA-12", "code": "8002"}, SendStatus(ID, D(2001234, "PA-12"), 0x8002)),
    ("send_status", {"to": "PA-13", "code": "80ff"}, SendStatus(ID, D(2001235, "PA-13"), 0x80FF)),
    ("send_status", {"to": 1, "code": 0}, SendStatus(ID, D(1, "1"), 0)),
    ("send_status", {"to": MAX_ADDRESS, "code": 0xFFFF}, SendStatus(ID, D(MAX_ADDRESS, "99999999"), 0xFFFF)),
    ("send_status", {"to": 9000, "code": "0000"}, SendStatus(ID, D(9000, "9000"), 0)),
    ("send_status", {"to": 9000, "code": 1, "radio": "north"}, SendStatus(ID, D(9000, "9000"), 1, "north")),
    ("send_text", {"to": "PA-12", "text": "Return"}, SendText(ID, D(2001234, "PA-12"), "Return")),
    ("send_text", {"to": 5, "text": "Čakajte", "radio": "r1"}, SendText(ID, D(5, "5"), "Čakajte", "r1")),
    ("send_text", {"to": 9, "text": "x" * MAX_TEXT_CHARS}, SendText(ID, D(9, "9"), "x" * MAX_TEXT_CHARS)),
    ("request_location", {"to": "PA-13"}, RequestLocation(ID, D(2001235, "PA-13"))),
    ("request_location", {"to": 2001234, "radio": "r0"}, RequestLocation(ID, D(2001234, "2001234"), "r0")),
    # keys a command does not use are ignored, so dispatchers can add their own bookkeeping
    ("request_location", {"to": 5, "note": "x", "code": "zz"}, RequestLocation(ID, D(5, "5"))),
]


@pytest.mark.parametrize(("name", "fields", "expected"), VALID)
def test_valid_command(name: str, fields: dict[str, Any], expected: Command) -> None:
    assert parse_command(name, _payload({"id": ID, **fields}), UNITS) == expected


def test_longest_id_is_accepted() -> None:
    ident = "i" * MAX_ID_CHARS
    assert parse_command("request_location", _payload({"id": ident, "to": 5}), UNITS).id == ident


def test_commands_are_frozen() -> None:
    command = parse_command("send_status", _payload({"id": "c", "to": 1, "code": 1}), UNITS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.code = 2  # type: ignore[misc]


DROP = object()  # a field left out of the payload


def _with(name: str, **fields: Any) -> tuple[str, bytes]:
    """A valid ``name`` command with ``fields`` changed (``DROP`` removes one)."""
    base: dict[str, Any] = {"id": "c", "to": 2001234}
    base.update({"send_status": {"code": 1}, "send_text": {"text": "hi"}}.get(name, {}))
    base.update(fields)
    return name, _payload({key: value for key, value in base.items() if value is not DROP})


ok_status = {"id": "c", "to": 2001234, "code": 1}
MUST_TO = "'to' must be an ISSI/GSSI (digits) or a unit id from the units table"
MUST_CODE = "'code' must be an integer 0..65535 or 4 hex digits such as \"8002\""
MUST_TEXT = "'text' must be a non-empty string"
MUST_ID = f"'id' must be a non-empty string of at most {MAX_ID_CHARS} characters"

INVALID: list[tuple[str, tuple[str, bytes], str]] = [
    ("unknown command", ("reboot", _payload(ok_status)), "unknown command 'reboot'"),
    ("empty command name", ("", _payload(ok_status)), "unknown command ''"),
    ("not JSON", ("send_status", b"{id: c"), "payload is not JSON"),
    ("not UTF-8", ("send_status", b"\xff\xfe{"), "payload is not JSON"),
    ("empty payload", ("send_status", b""), "payload is not JSON"),
    ("JSON array", ("send_status", _payload([ok_status])), "payload must be a JSON object"),
    ("JSON string", ("send_status", _payload("send it")), "payload must be a JSON object"),
    ("JSON null", ("send_status", b"null"), "payload must be a JSON object"),
    ("missing id", _with("send_status", id=DROP), MUST_ID),
    ("empty id", _with("send_status", id=""), MUST_ID),
    ("numeric id", _with("send_text", id=7), MUST_ID),
    ("id too long", _with("request_location", id="i" * (MAX_ID_CHARS + 1)), MUST_ID),
    ("missing to", _with("send_status", to=DROP), MUST_TO),
    ("null to", _with("send_status", to=None), MUST_TO),
    ("bool to", _with("send_status", to=True), MUST_TO),
    ("float to", _with("send_text", to=2001234.0), MUST_TO),
    ("list to", _with("send_status", to=[1]), MUST_TO),
    ("blank to", _with("send_status", to="  "), MUST_TO),
    ("unknown unit", _with("send_status", to="PA-99"), "'to' 'PA-99' is neither digits nor a unit id"),
    ("unknown unit, location", _with("request_location", to="x"), "'x' is neither digits nor a unit id"),
    ("to 0", _with("send_status", to=0), f"'to' 0 is not an ISSI/GSSI (1..{MAX_ADDRESS})"),
    ("to '000'", _with("send_text", to="000"), "'to' 000 is not an ISSI/GSSI"),
    ("to negative", _with("send_status", to=-5), "'to' '-5' is neither digits nor a unit id"),
    ("to too large", _with("send_status", to=MAX_ADDRESS + 1), f"'to' {MAX_ADDRESS + 1} is not an ISSI/GSSI"),
    ("to superscript digit", _with("send_status", to="²"), "'to' '²' is neither digits nor a unit id"),
    ("non-string radio", _with("send_status", radio=1), "'radio' must be a radio name"),
    ("missing code", _with("send_status", code=DROP), MUST_CODE),
    ("bool code", _with("send_status", code=True), MUST_CODE),
    ("float code", _with("send_status", code=8002.0), MUST_CODE),
    ("code 70000", _with("send_status", code=70000), "'code' 70000 is out of range 0..65535"),
    ("negative code", _with("send_status", code=-1), "'code' -1 is out of range 0..65535"),
    ("code 80G2", _with("send_status", code="80G2"), "'code' '80G2' is not 4 hex digits"),
    ("code 0x12", _with("send_status", code="0x12"), "'code' '0x12' is not 4 hex digits"),
    ("code +123", _with("send_status", code="+123"), "'code' '+123' is not 4 hex digits"),
    ("code 1_00", _with("send_status", code="1_00"), "'code' '1_00' is not 4 hex digits"),
    ("code ' 802'", _with("send_status", code=" 802"), "'code' ' 802' is not 4 hex digits"),
    ("code 3 hex digits", _with("send_status", code="802"), MUST_CODE),
    ("code 5 hex digits", _with("send_status", code="08002"), MUST_CODE),
    ("missing text", _with("send_text", text=DROP), MUST_TEXT),
    ("empty text", _with("send_text", text=""), MUST_TEXT),
    ("numeric text", _with("send_text", text=42), MUST_TEXT),
    (
        "text too long",
        _with("send_text", text="x" * (MAX_TEXT_CHARS + 1)),
        f"'text' is {MAX_TEXT_CHARS + 1} characters; at most {MAX_TEXT_CHARS} are sent",
    ),
]


@pytest.mark.parametrize(("command", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_malformed_command(command: tuple[str, bytes], message: str) -> None:
    name, payload = command
    with pytest.raises(CommandError) as caught:
        parse_command(name, payload, UNITS)
    assert message in str(caught.value)


def test_unknown_command_lists_the_known_ones() -> None:
    with pytest.raises(CommandError) as caught:
        parse_command("send_sds", _payload(ok_status), UNITS)
    for known in COMMAND_NAMES:
        assert known in str(caught.value)


def test_unit_lookup_uses_the_given_table() -> None:
    payload = _payload({"id": "c", "to": "PA-12"})
    with pytest.raises(CommandError):
        parse_command("request_location", payload, {})
    assert parse_command("request_location", payload, {"77": "PA-12"}) == RequestLocation(
        "c", Destination(77, "PA-12")
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (_payload({"id": "abc", "to": "nobody"}), "abc"),  # readable id, even though the command is invalid
        (_payload({"id": "i" * (MAX_ID_CHARS + 1)}), "i" * (MAX_ID_CHARS + 1)),
        (_payload({"id": ""}), None),
        (_payload({"id": 12}), None),
        (_payload({"to": 1}), None),
        (_payload(["abc"]), None),
        (b"{not json", None),
        (b"\xff\xfe", None),
        (b"", None),
    ],
)
def test_command_id(payload: bytes, expected: str | None) -> None:
    assert command_id(payload) == expected


GROUPS = {"9100": "ALL-PATROLS"}


@pytest.mark.parametrize(
    ("to", "number", "group"),
    [("ALL-PATROLS", 9100, True), ("9100", 9100, True), (9100, 9100, True), ("9101", 9101, False)],
)
def test_talkgroups_from_the_groups_table_are_addressed_as_groups(
    to: object, number: int, group: bool
) -> None:
    command = parse_command("send_text", json.dumps({"id": "g", "to": to, "text": "x"}).encode(), {}, GROUPS)
    assert command.to.number == number and command.to.group is group


def test_a_group_name_unknown_to_the_table_is_refused() -> None:
    with pytest.raises(CommandError, match="group name"):
        parse_command("send_text", b'{"id": "g", "to": "NORTH", "text": "x"}', {}, GROUPS)
