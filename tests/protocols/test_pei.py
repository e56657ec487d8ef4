"""The PEI state machine: command correlation, unsolicited lines, +CTSDSR, +CMGS, timeouts.

Every wire case is fed whole, byte by byte and split at every position; events and counters must agree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from gateway.errors import CommandError
from gateway.protocols.pei import (
    CME_ERRORS,
    CommandCompleted,
    CommandTimedOut,
    IncomingCall,
    MalformedLine,
    PeiEvent,
    PeiProtocol,
    RegistrationChanged,
    SdsHeaderExpired,
    SdsReceived,
    SendReport,
    UnknownLine,
    Unsolicited,
    decode_pei_lines,
)

NOW = 1.0
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Fed:
    events: list[PeiEvent]
    drops: Counter[str]
    unknown_lines: int
    pending: str | None


def feed(
    data: bytes, command: str | None = None, data_hex: str | None = None, max_line_bytes: int = 1024
) -> Fed:
    """Feed ``data`` (after sending ``command``, if any) whole, byte by byte and split everywhere."""

    def run(chunks: list[bytes]) -> Fed:
        protocol = PeiProtocol(max_line_bytes=max_line_bytes)
        if command is not None:
            protocol.send(command, data_hex=data_hex, timeout_s=TIMEOUT_S, now=0.0)
        events = [event for chunk in chunks for event in protocol.receive_data(chunk, NOW)]
        return Fed(events, protocol.drops, protocol.unknown_lines, protocol.pending_command)

    whole = run([data])
    assert run([data[i : i + 1] for i in range(len(data))]) == whole, "byte by byte"
    if len(data) <= 400:
        for cut in range(len(data) + 1):
            assert run([data[:cut], data[cut:]]) == whole, f"split at {cut}"
    return whole


def done(command: str, *lines: str, result: str = "OK") -> CommandCompleted:
    return CommandCompleted(command, ok=True, lines=lines, result=result)


# ------------------------------------------------------------------------------------- command/response

RESPONSE_CASES: list[tuple[str, str, bytes, list[PeiEvent]]] = [
    ("ok", "AT", b"\r\nOK\r\n", [done("AT")]),
    ("response line", "AT+CSQ?", b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n", [done("AT+CSQ?", "+CSQ: 20,99")]),
    (
        "plain text lines",
        "AT+GMI?",
        b"Motorola\r\nSolutions\r\nOK\r\n",
        [done("AT+GMI?", "Motorola", "Solutions")],
    ),
    ("lower-case ok", "AT", b"ok\r\n", [done("AT", result="ok")]),
    ("error", "AT+CTSP=1,3,130", b"\r\nERROR\r\n", [CommandCompleted("AT+CTSP=1,3,130", False, (), "ERROR")]),
    (
        "cme error with meaning",
        "AT+CTSDS=12,0",
        b"\r\n+CME ERROR: 35\r\n",
        [CommandCompleted("AT+CTSDS=12,0", False, (), "+CME ERROR: 35", 35, "syntax error")],
    ),
    (
        "cme error without space",
        "AT+CTOM=0",
        b"+CME ERROR:41\r\n",
        [CommandCompleted("AT+CTOM=0", False, (), "+CME ERROR:41", 41, "transmit inhibit")],
    ),
    (
        "cme error not in the table",
        "AT",
        b"+CME ERROR: 99\r\n",
        [CommandCompleted("AT", False, (), "+CME ERROR: 99", 99, None)],
    ),
    (
        "cme error without a number",
        "AT",
        b"+CME ERROR: x\r\n",
        [CommandCompleted("AT", False, (), "+CME ERROR: x", None, None)],
    ),
    (
        "cms error",
        "AT+CTSDS=12,0",
        b"+CMS ERROR: 500\r\n",
        [CommandCompleted("AT+CTSDS=12,0", False, (), "+CMS ERROR: 500", 500, None)],
    ),
    (
        "echo is skipped (ATE1)",
        "AT+CNUMF?",
        b"AT+CNUMF?\r\r\n+CNUMF: 6,262100002001234\r\n\r\nOK\r\n",
        [done("AT+CNUMF?", "+CNUMF: 6,262100002001234")],
    ),
    (
        "response prefix matching a shorter command name",
        "AT+CNUM?",
        b"+CNUMF: 0,2001234\r\nOK\r\n",
        [done("AT+CNUM?", "+CNUMF: 0,2001234")],
    ),
    (
        "unsolicited prefix that answers the pending query",
        "AT+CTOM?",
        b"+CTOM: 0\r\nOK\r\n",
        [done("AT+CTOM?", "+CTOM: 0")],
    ),
    (
        "unsolicited lines interleaved in a response",
        "AT+CSQ?",
        b"+CTXG: 1,3,0,0,1,2001234\r\n+CSQ: 18,99\r\n+ENCR: 15,1,2\r\n"
        b"+CTSDSR: 13,2001234,0,9000,0,16\r\n8002\r\n+CTCC: 1,1,1,0,0,1,1\r\nOK\r\n",
        [
            Unsolicited("+CTXG", "+CTXG: 1,3,0,0,1,2001234"),
            UnknownLine("+ENCR: 15,1,2"),
            SdsReceived(13, "2001234", 0, "9000", 0, 16, None, "8002"),
            Unsolicited("+CTCC", "+CTCC: 1,1,1,0,0,1,1"),
            done("AT+CSQ?", "+CSQ: 18,99"),
        ],
    ),
    (
        "creg as a response is also an event",
        "AT+CREG?",
        b"+CREG: 1,1234,26201\r\nOK\r\n",
        [
            RegistrationChanged(1, 1234, "26201", "registered, home network"),
            done("AT+CREG?", "+CREG: 1,1234,26201"),
        ],
    ),
    (
        "foreign +NAME line while pending is unknown",
        "AT",
        b"+XYZ: 1\r\nOK\r\n",
        [UnknownLine("+XYZ: 1"), done("AT")],
    ),
]


@pytest.mark.parametrize(
    ("command", "data", "expected"), [c[1:] for c in RESPONSE_CASES], ids=[c[0] for c in RESPONSE_CASES]
)
def test_command_response(command: str, data: bytes, expected: list[PeiEvent]) -> None:
    fed = feed(data, command)
    assert fed.events == expected
    assert fed.pending is None


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n", b"\n\r"], ids=["CR", "LF", "CRLF", "LFCR"])
def test_every_line_ending(ending: bytes) -> None:
    data = ending.join([b"+CSQ: 20,99", b"OK", b"+CTSDSR: 13,2001234,0,9000,0,16", b"8004", b""])
    fed = feed(data, "AT+CSQ?")
    assert fed.events == [
        done("AT+CSQ?", "+CSQ: 20,99"),
        SdsReceived(13, "2001234", 0, "9000", 0, 16, None, "8004"),
    ]


def test_cme_meanings_are_those_of_en_300_392_5() -> None:
    assert CME_ERRORS[0] == "cannot send over the air"
    assert CME_ERRORS[35] == "syntax error"
    assert CME_ERRORS[37] == "AT+CMGS timed out waiting for user data"
    assert CME_ERRORS[42] == "MT busy"
    assert sorted(CME_ERRORS) == [0, 3, 4, 20, 30, 31, 32, 33, 34, 35, 36, 37, 38, 40, 41, 42]


def test_cme_error_35_garbage_on_open_then_at_until_ok() -> None:
    protocol = PeiProtocol()
    assert protocol.receive_data(b"\xff\x00\x00+CME ERROR: 35\r\n", 0.0) == [UnknownLine("+CME ERROR: 35")]
    assert protocol.drops["garbage_bytes"] == 3
    assert protocol.send("AT", timeout_s=1.0, now=0.1) == b"AT\r"
    assert protocol.receive_data(b"+CME ERROR: 35\r\n", 0.2) == [
        CommandCompleted("AT", False, (), "+CME ERROR: 35", 35, "syntax error")
    ]
    protocol.send("AT", timeout_s=1.0, now=0.3)
    assert protocol.receive_data(b"\r\nOK\r\n", 0.4) == [done("AT")]
    assert protocol.unknown_lines == 1


# ------------------------------------------------------------------------------------- +CTSDSR

SDS_CASES: list[tuple[str, bytes, list[PeiEvent]]] = [
    (
        "3 fields",
        b"+CTSDSR: 13,9000,16\r\n8002\r\n",
        [SdsReceived(13, None, None, "9000", None, 16, None, "8002")],
    ),
    (
        "4 fields",
        b"+CTSDSR: 12,9000,0,84\r\n0A112853A9FF4D4FFFE810\r\n",
        [SdsReceived(12, None, None, "9000", 0, 84, None, "0A112853A9FF4D4FFFE810")],
    ),
    (
        "6 fields",
        b"+CTSDSR: 12,2269001,0,9999,0,84\r\n0A112853A9FF4D4FFFE810\r\n",
        [SdsReceived(12, "2269001", 0, "9999", 0, 84, None, "0A112853A9FF4D4FFFE810")],
    ),
    (
        "7 fields with e2ee",
        b"+CTSDSR: 12,2269001,0,9999,0,84,0\r\n0A112853A9FF4D4FFFE810\r\n",
        [SdsReceived(12, "2269001", 0, "9999", 0, 84, 0, "0A112853A9FF4D4FFFE810")],
    ),
    (
        "6 fields with empty calling identity",
        b"+CTSDSR:12,,,9999,1,16\r\n8004\r\n",
        [SdsReceived(12, None, None, "9999", 1, 16, None, "8004")],
    ),
    (
        "full TSI identities",
        b"+CTSDSR: 13,262100002001234,1,262100000009000,1,16\r\n8004\r\n",
        [SdsReceived(13, "262100002001234", 1, "262100000009000", 1, 16, None, "8004")],
    ),
    (
        "odd-length hex passed through untouched (Sepura)",
        b"+CTSDSR: 12,2001234,0,9000,0,84\r\n0A0BA7D5B95BC50AFFE16\r\n",
        [SdsReceived(12, "2001234", 0, "9000", 0, 84, None, "0A0BA7D5B95BC50AFFE16")],
    ),
    (
        "declared length and hex length disagree",
        b"+CTSDSR: 12,4567891,0,9876543,0,88\r\n0A007264F2654E89020810\r\n",
        [SdsReceived(12, "4567891", 0, "9876543", 0, 88, None, "0A007264F2654E89020810")],
    ),
    (
        "payload that is not hex is still the payload (the codec judges it)",
        b"+CTSDSR: 12,2001234,0,9000,0,16\r\nZZ\r\n",
        [SdsReceived(12, "2001234", 0, "9000", 0, 16, None, "ZZ")],
    ),
    (
        "header whose payload never comes: another +CTSDSR",
        b"+CTSDSR: 13,2001234,0,9000,0,16\r\n+CTSDSR: 13,2001235,0,9000,0,16\r\n8005\r\n",
        [
            SdsHeaderExpired("+CTSDSR: 13,2001234,0,9000,0,16"),
            SdsReceived(13, "2001235", 0, "9000", 0, 16, None, "8005"),
        ],
    ),
    (
        "header whose payload never comes: an unknown + line",
        b"+CTSDSR: 13,2001234,0,9000,0,16\r\n+ENCR: 15,1\r\n",
        [SdsHeaderExpired("+CTSDSR: 13,2001234,0,9000,0,16"), UnknownLine("+ENCR: 15,1")],
    ),
    (
        "malformed header (5 fields) and its payload are dropped",
        b"+CTSDSR: 12,2001234,0,9000,84\r\n0A11\r\n+CTSDSR: 13,9000,16\r\n8002\r\n",
        [
            MalformedLine("+CTSDSR: 12,2001234,0,9000,84", "+CTSDSR has 5 fields; expected 3, 4, 6 or 7"),
            SdsReceived(13, None, None, "9000", None, 16, None, "8002"),
        ],
    ),
    (
        "length beyond 2047 bits is malformed",
        b"+CTSDSR: 12,9000,4096\r\n00\r\n",
        [MalformedLine("+CTSDSR: 12,9000,4096", "+CTSDSR length 4096 bits exceeds 2047")],
    ),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in SDS_CASES], ids=[c[0] for c in SDS_CASES])
def test_ctsdsr(data: bytes, expected: list[PeiEvent]) -> None:
    assert feed(data).events == expected


def test_expired_and_malformed_headers_are_counted() -> None:
    fed = feed(
        b"+CTSDSR: 13,2001234,0,9000,0,16\r\n+CTSDSR: 12,2001234,0,9000,84\r\n0A11\r\n+CTSDSR: 13,9000,16\r\n"
    )
    assert fed.drops == Counter({"sds_header_expired": 1, "malformed +CTSDSR": 1, "orphan_sds_payload": 1})


def test_header_then_final_result_code_while_pending() -> None:
    fed = feed(b"+CTSDSR: 13,2001234,0,9000,0,16\r\nOK\r\n", "AT+CTSP=1,3,130")
    assert fed.events == [SdsHeaderExpired("+CTSDSR: 13,2001234,0,9000,0,16"), done("AT+CTSP=1,3,130")]


def test_payload_belongs_to_the_header_even_while_a_command_is_pending() -> None:
    fed = feed(b"+CTSDSR: 13,2001234,0,9000,0,16\r\nAT+CSQ?\r\n8004\r\n+CSQ: 9,99\r\nOK\r\n", "AT+CSQ?")
    assert fed.events == [
        SdsReceived(13, "2001234", 0, "9000", 0, 16, None, "8004"),
        done("AT+CSQ?", "+CSQ: 9,99"),
    ]


def test_header_expires_through_poll() -> None:
    protocol = PeiProtocol(header_timeout_s=2.0)
    assert protocol.next_deadline() is None
    assert protocol.receive_data(b"+CTSDSR: 13,2001234,0,9000,0,16\r\n", 10.0) == []
    assert protocol.awaiting_payload
    assert protocol.next_deadline() == 12.0
    assert protocol.poll(11.99) == []
    assert protocol.poll(12.0) == [SdsHeaderExpired("+CTSDSR: 13,2001234,0,9000,0,16")]
    assert protocol.next_deadline() is None
    assert protocol.drops["sds_header_expired"] == 1
    assert protocol.receive_data(b"8004\r\n", 12.5) == [UnknownLine("8004")]


def test_a_late_payload_finds_its_header_expired_even_without_poll() -> None:
    protocol = PeiProtocol(header_timeout_s=2.0)
    protocol.receive_data(b"+CTSDSR: 13,2001234,0,9000,0,16\r\n", 0.0)
    assert protocol.receive_data(b"8004\r\n", 3.0) == [
        SdsHeaderExpired("+CTSDSR: 13,2001234,0,9000,0,16"),
        UnknownLine("8004"),
    ]


# ------------------------------------------------------------------------------------- sending SDS


def test_cmgs_bytes_are_command_crlf_hex_ctrl_z() -> None:
    protocol = PeiProtocol()
    assert protocol.send("AT+CMGS=23404,32", data_hex="82100008", timeout_s=5, now=0) == (
        b"AT+CMGS=23404,32\r\n82100008\x1a"
    )


def test_line_ending_is_configurable() -> None:
    assert PeiProtocol(line_ending="CR").send("AT+CSQ?", timeout_s=1, now=0) == b"AT+CSQ?\r"
    assert PeiProtocol(line_ending="CRLF").send("AT+CSQ?", timeout_s=1, now=0) == b"AT+CSQ?\r\n"
    assert PeiProtocol(line_ending="\r").send("AT+CSQ?", timeout_s=1, now=0) == b"AT+CSQ?\r"
    assert PeiProtocol(line_ending="\r\n").send("AT+CSQ?", timeout_s=1, now=0) == b"AT+CSQ?\r\n"


CMGS_CASES: list[tuple[str, bytes, list[PeiEvent]]] = [
    (
        "immediate +CMGS is the response",
        b"\r\n+CMGS: 0,1,12\r\n\r\nOK\r\n",
        [done("AT+CMGS=23404,32", "+CMGS: 0,1,12")],
    ),
    (
        "echo of command and user data (with ctrl-z) skipped",
        b"AT+CMGS=23404,32\r\n82100008\x1a\r\n+CMGS: 0\r\n\r\nOK\r\n",
        [done("AT+CMGS=23404,32", "+CMGS: 0")],
    ),
    (
        "prompt before the user data",
        b"\r\n> \r\n+CMGS: 3\r\nOK\r\n",
        [done("AT+CMGS=23404,32", "+CMGS: 3")],
    ),
    (
        "a second +CMGS while pending is a report for an earlier message",
        b"+CMGS: 7\r\n+CMGS: 6,4,200\r\nOK\r\n",
        [SendReport(6, 4, 200), done("AT+CMGS=23404,32", "+CMGS: 7")],
    ),
    (
        "later unsolicited +CMGS is a send report",
        b"+CMGS: 7\r\nOK\r\n+CMGS: 7,4,12\r\n+CMGS: 8,5,13\r\n",
        [done("AT+CMGS=23404,32", "+CMGS: 7"), SendReport(7, 4, 12), SendReport(8, 5, 13)],
    ),
    (
        "malformed send report",
        b"OK\r\n+CMGS: x,4\r\n",
        [done("AT+CMGS=23404,32"), MalformedLine("+CMGS: x,4", "+CMGS instance 'x' is not a number")],
    ),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CMGS_CASES], ids=[c[0] for c in CMGS_CASES])
def test_cmgs(data: bytes, expected: list[PeiEvent]) -> None:
    assert feed(data, "AT+CMGS=23404,32", data_hex="82100008").events == expected


# ------------------------------------------------------------------------------------- other unsolicited

UNSOLICITED_CASES: list[tuple[str, bytes, list[PeiEvent]]] = [
    (
        "creg",
        b"+CREG: 5,1234,26201\r\n+CREG: 2\r\n",
        [
            RegistrationChanged(5, 1234, "26201", "registered, visited network"),
            RegistrationChanged(2, None, None, "not registered"),
        ],
    ),
    (
        "cticn full, emergency priority",
        b"+CTICN: 1,0,0,1,2001234,1,1,0,0,0,1,9000,15\r\n",
        [
            IncomingCall(
                instance=1,
                call_status=0,
                service=0,
                calling="2001234",
                calling_type=1,
                priority=15,
                hook=1,
                simplex=1,
                e2ee=0,
                comms_type=0,
                slots_codec=0,
                called="9000",
                called_type=1,
            )
        ],
    ),
    (
        "cticn with fields missing",
        b"+CTICN: 3,0,0,,,1\r\n",
        [IncomingCall(3, 0, 0, None, None, None, hook=1)],
    ),
    (
        "cticn malformed",
        b"+CTICN: a\r\n",
        [MalformedLine("+CTICN: a", "+CTICN CC instance 'a' is not a number")],
    ),
    (
        "known prefixes without their own event",
        b"+CTXD: 1,1\r\n+CTCR: 1,1\r\n+CTOM: 1\r\n+CDTXC: 1,0\r\n+CTXN: 1,1\r\n",
        [
            Unsolicited("+CTXD", "+CTXD: 1,1"),
            Unsolicited("+CTCR", "+CTCR: 1,1"),
            Unsolicited("+CTOM", "+CTOM: 1"),
            Unsolicited("+CDTXC", "+CDTXC: 1,0"),
            Unsolicited("+CTXN", "+CTXN: 1,1"),
        ],
    ),
    ("motorola +ENCR", b"+ENCR: 15,0,1\r\n", [UnknownLine("+ENCR: 15,0,1")]),
    ("final result with nothing pending", b"OK\r\n", [UnknownLine("OK")]),
    ("hex with nothing pending", b"8004\r\n", [UnknownLine("8004")]),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in UNSOLICITED_CASES], ids=[c[0] for c in UNSOLICITED_CASES]
)
def test_unsolicited(data: bytes, expected: list[PeiEvent]) -> None:
    fed = feed(data)
    assert fed.events == expected
    assert fed.unknown_lines == sum(isinstance(event, UnknownLine) for event in expected)


# ---------------------------------------------------------------------- framing through the protocol


def test_over_long_line_is_dropped_and_counted() -> None:
    fed = feed(b"+CSQ: " + b"9" * 100 + b"\r\n+CSQ: 20,99\r\nOK\r\n", "AT+CSQ?", max_line_bytes=64)
    assert fed.events == [done("AT+CSQ?", "+CSQ: 20,99")]
    assert fed.drops == Counter({"line_too_long": 1})


def test_binary_garbage_is_dropped_and_counted() -> None:
    fed = feed(b"\x00\x00\xff\r\n\x01+CSQ\x00: 1,1\r\n\xfe\xfeOK\x00\r\n", "AT+CSQ?")
    assert fed.events == [done("AT+CSQ?")]
    assert fed.drops == Counter({"garbage_bytes": 7, "binary_line": 1})


def test_recent_keeps_the_last_32_lines() -> None:
    protocol = PeiProtocol()
    protocol.receive_data(b"".join(b"+X: %d\r\n" % n for n in range(40)), 0.0)
    assert list(protocol.recent) == [f"+X: {n}" for n in range(8, 40)]
    assert protocol.unknown_lines == 40


def test_response_lines_are_capped() -> None:
    protocol = PeiProtocol()
    protocol.send("AT+GMI?", timeout_s=1, now=0)
    (event,) = protocol.receive_data(b"line\r\n" * 70 + b"OK\r\n", 0.5)
    assert isinstance(event, CommandCompleted)
    assert len(event.lines) == 64
    assert protocol.drops["response_overflow"] == 6


# ------------------------------------------------------------------------------------- timeouts and misuse


def test_command_times_out_through_poll_and_a_late_ok_is_unknown() -> None:
    protocol = PeiProtocol()
    protocol.send("AT+CNUMF?", timeout_s=5.0, now=100.0)
    assert protocol.next_deadline() == 105.0
    assert protocol.receive_data(b"+CNUMF: 0,2001234\r\n", 101.0) == []
    assert protocol.poll(104.9) == []
    assert protocol.poll(105.0) == [CommandTimedOut("AT+CNUMF?", ("+CNUMF: 0,2001234",))]
    assert protocol.pending_command is None
    assert protocol.next_deadline() is None
    assert protocol.receive_data(b"OK\r\n", 106.0) == [UnknownLine("OK")]


def test_next_deadline_is_the_earlier_of_command_and_header() -> None:
    protocol = PeiProtocol(header_timeout_s=2.0)
    protocol.send("AT", timeout_s=5.0, now=0.0)
    protocol.receive_data(b"+CTSDSR: 13,9000,16\r\n", 1.0)
    assert protocol.next_deadline() == 3.0
    assert protocol.poll(3.0) == [SdsHeaderExpired("+CTSDSR: 13,9000,16")]
    assert protocol.next_deadline() == 5.0


def test_send_while_pending_is_the_callers_fault() -> None:
    protocol = PeiProtocol()
    protocol.send("AT", timeout_s=1, now=0)
    with pytest.raises(CommandError, match="still pending"):
        protocol.send("AT+CSQ?", timeout_s=1, now=0)
    protocol.receive_data(b"OK\r\n", 0.1)
    assert protocol.send("AT+CSQ?", timeout_s=1, now=0.2) == b"AT+CSQ?\r"


@pytest.mark.parametrize(
    ("command", "data_hex", "timeout_s"),
    [
        ("", None, 1.0),
        ("CSQ?", None, 1.0),
        ("AT\r+CSQ?", None, 1.0),
        ("AT\x1a", None, 1.0),
        ("AT+CSQ?", None, 0.0),
        ("AT+CMGS=9000,16", None, 1.0),
        ("AT+CMGS=9000,16", "80 04", 1.0),
        ("AT+CMGS=9000,16", "", 1.0),
        ("AT+CSQ?", "8004", 1.0),
    ],
)
def test_illegal_commands_raise_command_error(command: str, data_hex: str | None, timeout_s: float) -> None:
    protocol = PeiProtocol()
    with pytest.raises(CommandError):
        protocol.send(command, data_hex=data_hex, timeout_s=timeout_s, now=0)
    assert protocol.pending_command is None


@pytest.mark.parametrize(
    "kwargs", [{"header_timeout_s": 0.0}, {"line_ending": "LF"}, {"max_line_bytes": 0}], ids=str
)
def test_illegal_settings_raise_command_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(CommandError):
        PeiProtocol(**kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- offline decoding


def test_decode_pei_lines() -> None:
    captured = [
        "+CTSDSR: 12,2269001,0,9999,0,84\r\n",
        "0A112853A9FF4D4FFFE810",
        "",
        "+ENCR: 15,0,1",
        "OK",
        "+CMGS: 7,4,12",
        "+CTSDSR: 13,2001234,0,9000,0,16",
    ]
    assert list(decode_pei_lines(captured)) == [
        SdsReceived(12, "2269001", 0, "9999", 0, 84, None, "0A112853A9FF4D4FFFE810"),
        UnknownLine("+ENCR: 15,0,1"),
        UnknownLine("OK"),
        SendReport(7, 4, 12),
        SdsHeaderExpired("+CTSDSR: 13,2001234,0,9000,0,16"),
    ]
