"""``patrol-gateway decode nmea|pei|lip|sds``: captured lines or hex from the field to JSON lines.

The LIP, status and text vectors are the test vectors of the TETRA notes in the project specification
(spec/tetra.md), not third-party captures. The NMEA and PEI captures are written by the tests themselves.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from functools import reduce
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main
from tests.harness import REPO

# ("[BITS] HEX" as `decode` reads it, the values the record must carry)
LIP_VECTORS: list[tuple[str, dict[str, Any]]] = [
    (
        "0A112853A9FF4D4FFFE810",  # Motorola: 22 digits for 84 bits, no length given, padding ignored
        {"type": "ShortLocationReport", "lon": 26.044346, "lat": 44.938642, "time_elapsed": 1,
         "position_error": 7, "horizontal_velocity": 127, "reason": 129, "has_position": True},
    ),
    (
        "84 0A0BA7D5B95BC50AFFE16",  # Sepura: an odd digit count
        {"type": "ShortLocationReport", "lon": -97.748891, "lat": 30.565692, "position_error": 2,
         "accuracy_m": 200.0, "reason": 22, "reason_name": "regained_position"},
    ),
    (
        "0A0088BD4247F737FFE810",
        {"type": "ShortLocationReport", "lon": 12.018099, "lat": 51.325099, "position_error": 7,
         "horizontal_velocity": 127, "reason": 129, "reason_name": "max_interval_exceeded"},
    ),
    (
        "88 0A007264F2654E89020810",  # declared 88 for an 84-bit PDU
        {"type": "ShortLocationReport", "lon": 10.054185, "lat": 53.903915, "position_error": 1,
         "accuracy_m": 20.0, "horizontal_velocity": 1, "speed_mps": 1 / 3.6, "direction": 0,
         "course_deg": 0.0, "reason": 129},
    ),
    (
        "88 0A30000000000007FFE810",
        {"type": "ShortLocationReport", "time_elapsed": 3, "lon": 0.0, "lat": 0.0, "has_position": False},
    ),
    (
        "104 0A4E73DDA841F55809493CC081",
        {"type": "LongLocationReport", "time_type": 2, "shape": 1, "lon": 11.015854, "lat": 52.234218,
         "time_of_position": {"type": "PositionTime", "day": 14, "hour": 15, "minute": 29, "second": 42},
         "reason": 129, "has_position": True},
    ),
]  # fmt: skip

SDS_VECTORS: list[tuple[str, dict[str, Any]]] = [
    ("104 0201746573746D657373616765", {"type": "TextMessage", "pid": 2, "coding": 1, "text": "testmessage"}),
    (
        "120 82029C01746573746D657373616765",
        {"type": "TextMessage", "pid": 0x82, "message_reference": 0x9C, "report_request": 0,
         "text": "testmessage"},
    ),
    (
        "112 82040801476A61746A616A676A61",
        {"type": "TextMessage", "pid": 0x82, "message_reference": 8, "report_request": 1,
         "text": "Gjatjajgja"},
    ),
    ("821000C9", {"type": "SdsReport", "delivery_status": 0, "message_reference": 0xC9}),
    ("822001C9", {"type": "SdsAck", "delivery_status": 1, "message_reference": 0xC9}),
    (
        "8A02C981045A8F050003C90201746573746D657373616765",
        {"type": "TextMessage", "pid": 0x8A, "text": "testmessage",
         "concat": {"type": "ConcatPart", "reference": 0xC9, "total": 2, "number": 1,
                    "wide_reference": False}},
    ),
    ("0A112853A9FF4D4FFFE810", {"type": "ShortLocationReport", "lon": 26.044346, "lat": 44.938642}),
]  # fmt: skip

# A PEI capture as an installer would save it from a terminal: headers, payloads and the radio's other output.
PEI_CAPTURE = "\r\n".join(
    [
        "OK",
        "+CTSDSR: 12,2269001,0,9999,0,84",
        "0A112853A9FF4D4FFFE810",
        "+CTSDSR: 13,1234567,0,2345678,0,16",
        "8004",
        "+CSQ: 22,99",
        "+CTSDSR: 12,4567891,0,9876543,0,120",
        "82029C01746573746D657373616765",
        "+CTSDSR: 12,23404,0,9000,0,112",
        "82040801476A61746A616A676A61",
        "+CTSDSR: 12,1234567,0,4378565,0,88",
        "0A30000000000007FFE810",
        "",
    ]
)


def _close(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, int | float):
        return abs(actual - expected) < 5e-6
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(key in actual and _close(actual[key], value) for key, value in expected.items())
    return bool(actual == expected)


def _decode(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["decode", *args])
    out, err = capsys.readouterr()
    assert err == ""
    return code, [json.loads(line) for line in out.splitlines()]


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


@pytest.mark.parametrize(("line", "expected"), LIP_VECTORS, ids=[v[0] for v in LIP_VECTORS])
def test_lip_vector(
    line: str, expected: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, records = _decode(capsys, "lip", _write(tmp_path, "lip.hex", line + "\n"))
    assert code == EXIT_OK
    assert len(records) == 1
    assert _close(records[0], expected), records[0]


def test_lip_with_bits_option_and_comment_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "# Sepura capture, 84 bits each\n\n0A0BA7D5B95BC50AFFE16\n"
    code, records = _decode(capsys, "lip", "--bits", "84", _write(tmp_path, "lip.hex", text))
    assert code == EXIT_OK
    assert len(records) == 1, "comments and blank lines give no records"
    assert _close(records[0], {"lon": -97.748891, "lat": 30.565692, "reason": 22})


def test_all_lip_vectors_in_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "".join(f"{line}\n" for line, _ in LIP_VECTORS)
    code, records = _decode(capsys, "lip", _write(tmp_path, "lip.hex", text))
    assert code == EXIT_OK
    assert len(records) == len(LIP_VECTORS)
    for record, (_, expected) in zip(records, LIP_VECTORS, strict=True):
        assert _close(record, expected), record


@pytest.mark.parametrize(("line", "expected"), SDS_VECTORS, ids=[v[0] for v in SDS_VECTORS])
def test_sds_vector(
    line: str, expected: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, records = _decode(capsys, "sds", _write(tmp_path, "sds.hex", line + "\n"))
    assert code == EXIT_OK
    assert len(records) == 1
    assert _close(records[0], expected), records[0]


@pytest.mark.parametrize("order", ["option first", "file first"])
def test_status_vector_with_service_13(
    order: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`+CTSDSR: 13,1234567,0,2345678,0,16` / `8004`; the option may come before or after FILE."""
    path = _write(tmp_path, "status.hex", "8004\n")
    args = ["--service", "13", path] if order == "option first" else [path, "--service", "13"]
    code, records = _decode(capsys, "sds", *args)
    assert code == EXIT_OK
    assert records == [{"type": "StatusValue", "value": 0x8004}]


def test_stdin_in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("8004\n0000\n"))
    code, records = _decode(capsys, "sds", "--service", "13", "-")
    assert code == EXIT_OK
    assert [r["value"] for r in records] == [0x8004, 0]


def test_stdin_is_the_default(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("0A0088BD4247F737FFE810\n"))
    code, records = _decode(capsys, "lip")
    assert code == EXIT_OK
    assert len(records) == 1
    assert _close(records[0], {"lon": 12.018099, "lat": 51.325099})


def _run(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "decode", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def _lines(result: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def test_lip_from_stdin_as_a_process() -> None:
    stdin = "".join(f"{line}\n" for line, _ in LIP_VECTORS).encode()
    result = _run("lip", "-", stdin=stdin)
    assert result.returncode == EXIT_OK, result.stderr
    records = _lines(result)
    assert len(records) == len(LIP_VECTORS)
    for record, (_, expected) in zip(records, LIP_VECTORS, strict=True):
        assert _close(record, expected), record


def test_pei_capture_yields_decoded_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, records = _decode(capsys, "pei", _write(tmp_path, "radio.log", PEI_CAPTURE))
    assert code == EXIT_OK
    sds = [r for r in records if r["type"] == "SdsReceived"]
    assert [(r["service"], r["calling"], r["called"], r["length_bits"]) for r in sds] == [
        (12, "2269001", "9999", 84),
        (13, "1234567", "2345678", 16),
        (12, "4567891", "9876543", 120),
        (12, "23404", "9000", 112),
        (12, "1234567", "4378565", 88),
    ]
    lip, status, text, text_tl, no_position = (r["decoded"] for r in sds)
    assert _close(lip, {"type": "ShortLocationReport", "lon": 26.044346, "lat": 44.938642, "reason": 129})
    assert status == {"type": "StatusValue", "value": 0x8004}
    assert _close(text, {"type": "TextMessage", "text": "testmessage", "message_reference": 0x9C})
    assert _close(text_tl, {"type": "TextMessage", "text": "Gjatjajgja", "report_request": 1})
    assert _close(no_position, {"type": "ShortLocationReport", "time_elapsed": 3, "has_position": False})
    assert not any("error" in r for r in records)
    assert len(records) > len(sds), "the radio's other lines are reported too"


def test_pei_capture_from_stdin_with_lf_line_ends() -> None:
    result = _run("pei", stdin=PEI_CAPTURE.replace("\r\n", "\n").encode())
    assert result.returncode == EXIT_OK, result.stderr
    decoded = [r["decoded"] for r in _lines(result) if r["type"] == "SdsReceived"]
    assert [d["type"] for d in decoded] == [
        "ShortLocationReport",
        "StatusValue",
        "TextMessage",
        "TextMessage",
        "ShortLocationReport",
    ]


def test_pei_header_without_payload_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "+CTSDSR: 12,2269001,0,9999,0,84\r\n+CTSDSR: 13,1234567,0,2345678,0,16\r\n8004\r\n"
    code, records = _decode(capsys, "pei", _write(tmp_path, "radio.log", text))
    assert code == EXIT_OK
    assert [r["type"] for r in records] == ["SdsHeaderExpired", "SdsReceived"]
    assert records[0]["header"] == "+CTSDSR: 12,2269001,0,9999,0,84"
    assert records[1]["decoded"] == {"type": "StatusValue", "value": 0x8004}


def test_pei_bad_payload_is_an_error_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "+CTSDSR: 13,1,0,2,0,16\r\nZZZZ\r\n+CTSDSR: 13,1,0,2,0,16\r\n8002\r\n"
    path = _write(tmp_path, "radio.log", text)
    code, records = _decode(capsys, "pei", path)
    assert code == EXIT_OK
    assert "error" in records[0] and "not hex" in records[0]["error"]
    assert records[1]["decoded"] == {"type": "StatusValue", "value": 0x8002}
    assert _decode(capsys, "pei", "--strict", path)[0] == EXIT_FAILURE


@pytest.mark.parametrize("kind", ["lip", "sds"])
def test_garbage_lines_give_error_records_and_the_run_goes_on(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "not hex at all\n0A11\n0A0088BD4247F737FFE810\n"
    path = _write(tmp_path, "mixed.hex", text)
    code, records = _decode(capsys, kind, path)
    assert code == EXIT_OK
    assert [sorted(r) for r in records[:2]] == [["error", "line"], ["error", "line"]]
    assert [r["line"] for r in records[:2]] == ["not hex at all", "0A11"]
    assert "not hex" in records[0]["error"]
    assert _close(records[2], {"lon": 12.018099, "lat": 51.325099})
    assert _decode(capsys, kind, "--strict", path)[0] == EXIT_FAILURE


def test_strict_exits_0_when_everything_decodes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "ok.hex", "0A0088BD4247F737FFE810\n")
    assert _decode(capsys, "lip", "--strict", path)[0] == EXIT_OK


def _nmea(body: str) -> str:
    checksum = reduce(lambda acc, ch: acc ^ ord(ch), body, 0)
    return f"${body}*{checksum:02X}"


NMEA_CAPTURE = "\r\n".join(
    [
        _nmea("GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W,A"),
        _nmea("GPGGA,123519.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,"),
        "$GPGGA,123520.00,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*00",  # wrong checksum
        "line noise at the wrong baud",
        _nmea("GPRMC,123521.00,A,3345.000,S,07030.000,W,000.0,,230394,,,A"),
        "",
    ]
)


def test_nmea_lines_give_fixes_and_drop_records(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, records = _decode(capsys, "nmea", _write(tmp_path, "gps.nmea", NMEA_CAPTURE))
    assert code == EXIT_OK
    drops = [r for r in records if "error" in r]
    fixes = [r for r in records if "error" not in r]
    assert [(d["error"], d["line"][:6]) for d in drops] == [("checksum", "$GPGGA"), ("garbage", "line n")]
    assert len(fixes) == 2
    first, second = fixes
    assert _close(
        first,
        {"time": "1994-03-23T12:35:19.000Z", "lat": 48.1173, "lon": 11.516667, "alt_m": 545.4,
         "sats": 8, "hdop": 0.9, "course_deg": 84.4, "speed_mps": 22.4 * 1852 / 3600},
    )  # fmt: skip
    assert _close(second, {"time": "1994-03-23T12:35:21.000Z", "lat": -33.75, "lon": -70.5, "speed_mps": 0.0})
    assert _decode(capsys, "nmea", "--strict", str(tmp_path / "gps.nmea"))[0] == EXIT_FAILURE


def test_nmea_from_stdin_survives_bytes_that_are_not_utf8() -> None:
    """Captures at the wrong baud are full of such bytes; a strict stdin encoding must not stop the run."""
    stdin = b"\xff\xfe\x80 noise\r\n" + NMEA_CAPTURE.encode()
    result = _run("nmea", "-", stdin=stdin, env={"PYTHONIOENCODING": "utf-8:strict"})
    assert result.returncode == EXIT_OK, result.stderr
    records = _lines(result)
    assert records[0]["error"] == "garbage"
    assert sum("error" not in r for r in records) == 2


def test_missing_input_file_exits_2_with_a_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope.hex"
    result = _run("lip", str(missing))
    assert result.returncode == EXIT_USAGE
    assert result.stdout == b""
    assert f"cannot read {missing}" in result.stderr.decode()
    assert b"Traceback" not in result.stderr


def test_extra_arguments_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "x.hex", "8004\n")
    result = _run("sds", path, "another.hex")
    assert result.returncode == 2
    assert b"unrecognized arguments: another.hex" in result.stderr


def test_nmea_comment_lines_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = "# Name: a receiver log with a header\r\n# Chipset: SiRF\r\n" + NMEA_CAPTURE
    code, records = _decode(capsys, "nmea", _write(tmp_path, "gps.nmea", capture))
    assert code == EXIT_OK
    assert [r["error"] for r in records if "error" in r] == ["checksum", "garbage"], "no error for comments"


def test_pei_responses_in_a_capture_are_decoded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A capture shows the answers to the gateway's own commands without the commands' context."""
    capture = "+CSQ: 20,99\r\n+CNUMF: 6,901234500001234\r\n+CMGS: 3,4,201\r\n+CSQ: x\r\n"
    code, records = _decode(capsys, "pei", _write(tmp_path, "pei.log", capture))
    assert code == EXIT_OK
    signal, identity, report, bad = records
    assert (signal["decoded"]["response"], signal["decoded"]["dbm"]) == ("+CSQ", -73)
    assert (identity["decoded"]["issi"], identity["decoded"]["tsi"]) == (1234, "901234500001234")
    assert report["type"] == "SendReport" and report["status"] == 4, "the unsolicited +CMGS as before"
    assert bad["decoded"]["response"] == "+CSQ" and "rssi" in bad["decoded"]["error"]


def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path) -> None:
    """``decode ... | head`` closes the pipe: no traceback, exit 0."""
    capture = _write(tmp_path, "gps.nmea", NMEA_CAPTURE * 2000)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "decode", "nmea", capture],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    assert process.wait(60) == EXIT_OK
    assert process.stderr.read() == b""
    process.stderr.close()
