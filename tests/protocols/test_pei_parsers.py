"""Pure response parsers: +CNUMF / identities, +CSQ, +CREG, +CMGS, +CTSDSR headers."""

from __future__ import annotations

import pytest

from gateway.errors import PeiError
from gateway.protocols.pei import (
    CmgsResponse,
    Identity,
    Registration,
    SdsHeader,
    Signal,
    parse_cmgs_response,
    parse_cnumf,
    parse_creg,
    parse_csq,
    parse_ctsdsr,
    parse_identity,
)

CNUMF_CASES = [
    ("issi", ["+CNUMF: 0,2001234"], Identity(2001234, None, "2001234")),
    ("issi with leading zeros", ["+CNUMF: 0,00009000"], Identity(9000, None, "00009000")),
    ("15-digit tsi", ["+CNUMF: 6,262100002001234"], Identity(2001234, "262100002001234", "262100002001234")),
    (
        "17-digit tsi",
        ["+CNUMF: 6,02620100002001234"],
        Identity(2001234, "02620100002001234", "02620100002001234"),
    ),
    (
        "among other lines, quoted",
        ["AT+CNUMF?", '+CNUMF: 0,"16777215"'],
        Identity(16777215, None, "16777215"),
    ),
]


@pytest.mark.parametrize(("lines", "identity"), [c[1:] for c in CNUMF_CASES], ids=[c[0] for c in CNUMF_CASES])
def test_parse_cnumf(lines: list[str], identity: Identity) -> None:
    assert parse_cnumf(lines) == identity


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["+CSQ: 1,1"],
        ["+CNUMF: 0"],
        ["+CNUMF: x,2001234"],
        ["+CNUMF: 0,12345678901"],  # 11 digits: neither ISSI nor TSI
        ["+CNUMF: 0,16777216"],  # SSI beyond 24 bits
        ["+CNUMF: 0,20O1234"],
        ["+CNUMF: 0,"],
    ],
)
def test_parse_cnumf_rejects(lines: list[str]) -> None:
    with pytest.raises(PeiError):
        parse_cnumf(lines)


def test_parse_identity_is_shared_with_ctsdsr_identities() -> None:
    assert parse_identity(" 2269001 ") == Identity(2269001, None, "2269001")
    assert parse_identity("262100000009000").issi == 9000


CSQ_CASES = [
    (["+CSQ: 20,99"], Signal(20, 99, -73)),
    (["+CSQ: 0,0"], Signal(0, 0, -113)),
    (["+CSQ: 31,7"], Signal(31, 7, -51)),
    (["+CSQ: 99,99"], Signal(99, 99, None)),
    (["AT+CSQ?", "+CSQ:15, 3"], Signal(15, 3, -83)),
]


@pytest.mark.parametrize(("lines", "signal"), CSQ_CASES)
def test_parse_csq(lines: list[str], signal: Signal) -> None:
    assert parse_csq(lines) == signal


@pytest.mark.parametrize("lines", [[], ["+CSQ: 40,99"], ["+CSQ: 20"], ["+CSQ: a,b"], ["+CSQ: 1,2,3"]])
def test_parse_csq_rejects(lines: list[str]) -> None:
    with pytest.raises(PeiError):
        parse_csq(lines)


CREG_CASES = [
    ("+CREG: 0", Registration(0, "searching")),
    ("+CREG: 1,1234,26201", Registration(1, "registered, home network", 1234, "26201")),
    ("+CREG: 2,,", Registration(2, "not registered")),
    ("+CREG: 3", Registration(3, "registration rejected")),
    ("+CREG: 4", Registration(4, "unknown")),
    ("+CREG: 5,77", Registration(5, "registered, visited network", 77)),
    ("+CREG: 7", Registration(7, "stat 7")),
    ("1,1234", Registration(1, "registered, home network", 1234)),
]


@pytest.mark.parametrize(("line", "registration"), CREG_CASES)
def test_parse_creg(line: str, registration: Registration) -> None:
    assert parse_creg(line) == registration


@pytest.mark.parametrize("line", ["+CREG:", "+CREG: x", "+CREG: 1,LA", "+CREG: 1,2,3,4", ""])
def test_parse_creg_rejects(line: str) -> None:
    with pytest.raises(PeiError):
        parse_creg(line)


CMGS_CASES = [
    (["+CMGS: 0"], CmgsResponse(0, None, None)),
    (["+CMGS: 1,0"], CmgsResponse(1, 0, None)),
    (["+CMGS: 1,4,55"], CmgsResponse(1, 4, 55)),
]


@pytest.mark.parametrize(("lines", "response"), CMGS_CASES)
def test_parse_cmgs_response(lines: list[str], response: CmgsResponse) -> None:
    assert parse_cmgs_response(lines) == response


@pytest.mark.parametrize("lines", [[], ["+CMGS:"], ["+CMGS: 1,2,3,4"], ["+CMGS: ,4"], ["OK"]])
def test_parse_cmgs_response_rejects(lines: list[str]) -> None:
    with pytest.raises(PeiError):
        parse_cmgs_response(lines)


@pytest.mark.parametrize(
    ("line", "header"),
    [
        ("+CTSDSR: 13,9000,16", SdsHeader(13, None, None, "9000", None, 16, None)),
        ("+CTSDSR: 12,9000,1,84", SdsHeader(12, None, None, "9000", 1, 84, None)),
        ("+CTSDSR: 12,2269001,0,9999,0,84", SdsHeader(12, "2269001", 0, "9999", 0, 84, None)),
        ("+CTSDSR: 12,2269001,0,9999,0,84,1", SdsHeader(12, "2269001", 0, "9999", 0, 84, 1)),
    ],
)
def test_parse_ctsdsr(line: str, header: SdsHeader) -> None:
    assert parse_ctsdsr(line) == header


@pytest.mark.parametrize(
    "line",
    [
        "+CTSDSR: 12,9000",
        "+CTSDSR: 12,1,0,9000,84",
        "+CTSDSR: 12,1,0,9000,0,84,0,0",
        "+CTSDSR: 12,,84",
        "+CTSDSR: x,9000,16",
        "+CTSDSR: 12,9000,-1",
        "+CTSDSR: 12,9000,2048",
        "+CTSDSR 12,9000,16",
    ],
)
def test_parse_ctsdsr_rejects(line: str) -> None:
    with pytest.raises(PeiError):
        parse_ctsdsr(line)
