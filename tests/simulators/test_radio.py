"""The TETRA radio simulator on real pseudo-terminals, spoken to with pyserial as the gateway would."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from gateway.protocols import lip, pei, sds, status
from gateway.protocols.bits import SdsPayload
from simulators import RadioFaults, RadioOptions, RadioSimulator
from simulators.pei_model import CommandAssembler, RadioIdentity, RadioModel, ReceivedLine, UserDataEnd
from simulators.radio import manifest_records
from simulators.script import ScriptLine, parse_script
from tests.simulators.conftest import SimProcess

READ_TIMEOUT_S = 5.0
ISSI = 9000


@pytest.fixture
def link(tmp_path: Path) -> Path:
    return tmp_path / "radio0"


@pytest.fixture(autouse=True)
def _no_leftover_links(link: Path) -> Iterator[None]:
    yield
    assert not link.is_symlink()


class Port:
    """A pyserial port with line helpers; every read is bounded by READ_TIMEOUT_S."""

    def __init__(self, path: Path) -> None:
        self.serial = serial.Serial(str(path), timeout=READ_TIMEOUT_S)

    def line(self) -> str:
        raw: bytes = self.serial.read_until(b"\r\n")
        assert raw.endswith(b"\r\n"), f"no complete line, got {raw!r}"
        return raw[:-2].decode("latin-1")

    def command(self, text: str, ending: bytes = b"\r") -> list[str]:
        """Send a command; the lines up to and including its final result code."""
        self.serial.write(text.encode() + ending)
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line == "OK" or "ERROR" in line:
                return lines

    def close(self) -> None:
        self.serial.close()


@pytest.fixture
def open_port() -> Iterator[type[Port]]:
    ports: list[Port] = []

    class Tracked(Port):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            ports.append(self)

    yield Tracked
    for port in ports:
        port.close()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("AT", ["OK"]),
        ("ATE0", ["OK"]),
        ("AT+CTOM=0", ["OK"]),
        ("AT+CTOM?", ["+CTOM: 0", "OK"]),
        ("AT+CTSP=1,3,130", ["OK"]),
        ("AT+CTSP=2,2,20", ["OK"]),
        ("AT+CTSDS=13,0", ["OK"]),
        ("AT+CNUMF?", [f"+CNUMF: 6,0293{1:05d}{ISSI:08d}", "OK"]),
        ("AT+GMI?", ["+GMI: patrol-sim", "OK"]),
        ("AT+GMM?", ["+GMM: TETRA PEI simulator", "OK"]),
        ("AT+GMR?", ["+GMR: 1.0", "OK"]),
        ("AT+CSQ?", ["+CSQ: 24,99", "OK"]),
        ("AT+CREG?", ["+CREG: 1,1001,029300001", "OK"]),
        ("AT+CTFOO=1", ["+CME ERROR: 4"]),
        ("AT+CMGS=?", ["+CMGS: (0-16777215),(0-1184)", "OK"]),
        ("AT+CTSDS=?", ["+CTSDS: (12,13),(0,1)", "OK"]),
        ("AT+CTSP=?", ["OK"]),
        ("AT+CTOM=?", ["OK"]),
        ("AT+CSQ=?", ["OK"]),
        ("AT+CTFOO=?", ["+CME ERROR: 4"]),
        ("AT+CMGS=12x,16", ["+CME ERROR: 35"]),
        ("AT+CMGS=5", ["+CME ERROR: 35"]),
        ("hello", ["ERROR"]),
    ],
)
def test_commands_are_answered(command: str, expected: list[str], link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link, RadioOptions(issi=ISSI)):
        port = open_port(link)
        assert port.command(command) == expected
        assert port.command(command.lower(), b"\r\n") == expected


def test_cnumf_identity_decodes_to_the_issi(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link, RadioOptions(issi=2269001)):
        assert pei.parse_cnumf(open_port(link).command("AT+CNUMF?")).issi == 2269001
    with RadioSimulator(link, RadioOptions(issi=2269001, cnumf_type=0)):
        assert open_port(link).command("AT+CNUMF?") == ["+CNUMF: 0,2269001", "OK"]


def test_echo_after_ate1(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link):
        port = open_port(link)
        assert port.command("ATE1") == ["OK"]
        assert port.command("AT+CSQ?") == ["AT+CSQ?", "+CSQ: 24,99", "OK"]


def test_cmgs_flow_reports_and_log(
    run_sim: type[SimProcess], link: Path, tmp_path: Path, open_port: type[Port]
) -> None:
    log = tmp_path / "radio.log"
    sim = run_sim(["radio", "--link", str(link), "--issi", str(ISSI), "--log", str(log)])
    sim.expect(f"ready at {link}")
    port = open_port(link)
    assert port.command("AT+CTSDS=12,0") == ["OK"]
    port.serial.write(b"AT+CMGS=23404,112\r\n82040801476A61746A616A676A61\x1a")
    immediate = [port.line(), port.line()]
    assert immediate[1] == "OK"
    response = pei.parse_cmgs_response(immediate)
    assert response.message_reference is not None
    assert port.line() == f"+CMGS: {response.instance},4,{response.message_reference}"
    header = pei.parse_ctsdsr(port.line())
    assert (header.service, header.calling, header.called, header.length_bits) == (12, "23404", str(ISSI), 32)
    report = sds.decode_sds(12, SdsPayload.from_hex(port.line(), header.length_bits))
    assert isinstance(report, sds.SdsReport)
    assert (report.message_reference, report.delivery_status) == (0x08, 0x00)
    port.serial.write(b"AT+CTSDS=13,0\r")
    assert port.line() == "OK"
    assert log.read_text().splitlines() == [
        "AT+CTSDS=12,0",
        "AT+CMGS=23404,112",
        "82040801476A61746A616A676A61",
        "AT+CTSDS=13,0",
    ]


def test_status_send_gets_no_delivery_report(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link):
        port = open_port(link)
        assert port.command("AT+CTSDS=13,0") == ["OK"]
        port.serial.write(b"AT+CMGS=23404,16\r\n8004\x1a")
        assert port.line().startswith("+CMGS: 0,")
        assert port.line() == "OK"
        assert port.line().startswith("+CMGS: 0,4,")
        assert port.command("AT") == ["OK"]


def test_fail_sends(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link, faults=RadioFaults(fail_sends=True)):
        port = open_port(link)
        port.serial.write(b"AT+CMGS=23404,16\r\n8004\x1a")
        assert port.line() == "+CME ERROR: 31"


def test_cme_on_open_until_an_at_gets_ok(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link, faults=RadioFaults(cme_on_open=True)):
        port = open_port(link)
        assert port.line() == "+CME ERROR: 35"
        assert port.command("AT") == ["+CME ERROR: 35"]
        assert port.command("AT+CSQ?") == ["+CME ERROR: 35"]
        assert port.command("AT") == ["OK"]
        assert port.command("AT+CSQ?") == ["+CSQ: 24,99", "OK"]


def test_script_starts_on_first_command_and_loops(
    run_sim: type[SimProcess], link: Path, tmp_path: Path, open_port: type[Port]
) -> None:
    script = tmp_path / "traffic.txt"
    script.write_text(
        "# status 8002 from unit 2001234\n+CTSDSR: 13,2001234,0,9000,0,16\n@0.05 8002\n\n@0.1 DONE\n"
    )
    sim = run_sim(["radio", "--link", str(link), "--script", str(script), "--loop"])
    sim.expect("ready at")
    port = open_port(link)
    port.serial.write(b"AT\r")
    assert port.line() == "OK"
    once = ["+CTSDSR: 13,2001234,0,9000,0,16", "8002", "DONE"]
    assert [port.line() for _ in range(6)] == once + once


def test_script_without_loop_runs_once_then_idles(link: Path, tmp_path: Path, open_port: type[Port]) -> None:
    script = tmp_path / "once.txt"
    script.write_text("ONE\n@0.01 TWO\n")
    with RadioSimulator(link, RadioOptions(script=script)):
        port = open_port(link)
        assert port.command("AT") == ["OK"]
        assert [port.line(), port.line()] == ["ONE", "TWO"]
        assert port.command("AT") == ["OK"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+CTSDSR: 13,1,0,2,0,16\n8002\n", [ScriptLine(0, "+CTSDSR: 13,1,0,2,0,16"), ScriptLine(0, "8002")]),
        ("# comment\n\n@1.5 text with  spaces \n", [ScriptLine(1.5, "text with  spaces ")]),
        ("@2\n@0  lead\n", [ScriptLine(2, ""), ScriptLine(0, " lead")]),
    ],
)
def test_parse_script(text: str, expected: list[ScriptLine]) -> None:
    assert parse_script(text) == expected


@pytest.mark.parametrize("text", ["@x hello\n", "@-1 hello\n", "@nan hello\n"])
def test_parse_script_rejects_bad_delays(text: str) -> None:
    with pytest.raises(ValueError, match="script:1"):
        parse_script(text)


def _decode_pair(header_line: str, payload_line: str) -> object:
    header = pei.parse_ctsdsr(header_line)
    payload = SdsPayload.from_hex(payload_line, header.length_bits)
    if header.service == 13:
        return status.decode_status_payload(payload)
    if payload.data[0] == lip.LIP_PID:
        return lip.decode_lip(payload)
    return sds.decode_sds(header.service, payload)


def test_fleet_emits_decodable_pairs_matching_the_manifest(
    run_sim: type[SimProcess], link: Path, tmp_path: Path, open_port: type[Port]
) -> None:
    manifest = tmp_path / "fleet.jsonl"
    sim = run_sim(
        [
            "radio",
            "--link",
            str(link),
            "--issi",
            "9000",
            "--fleet",
            "5",
            "--rate",
            "200",
            "--emergency-every",
            "0.05",
            "--manifest",
            str(manifest),
            "--seed",
            "4",
        ]
    )
    sim.expect("ready at")
    port = open_port(link)
    assert port.command("AT") == ["OK"]
    pairs = [(port.line(), port.line()) for _ in range(82)][:80]
    # a record is written right after its lines: two more pairs guarantee the first 80 are on disk
    records = manifest_records(manifest)[:80]
    assert [(r["header"], r["payload"]) for r in records] == pairs
    kinds = {r["kind"] for r in records}
    assert {"lip_short", "lip_long", "status", "text"} <= kinds
    emergencies = 0
    for record, (header_line, payload_line) in zip(records, pairs, strict=True):
        header = pei.parse_ctsdsr(header_line)
        assert header.calling == str(record["issi"]) and 1001001 <= record["issi"] <= 1001005
        assert header.called == "9000"
        decoded = _decode_pair(header_line, payload_line)
        values = record["values"]
        if record["kind"] == "status":
            assert isinstance(decoded, status.StatusValue) and decoded.value == values["code"]
            emergencies += decoded.value == 0
        elif record["kind"] == "text":
            assert isinstance(decoded, sds.TextMessage)
            assert (decoded.text, decoded.message_reference) == (values["text"], values["message_reference"])
        else:
            assert isinstance(decoded, lip.ShortLocationReport | lip.LongLocationReport)
            assert decoded.lat == pytest.approx(values["lat"], abs=1e-4)
            assert decoded.lon == pytest.approx(values["lon"], abs=1e-4)
            assert decoded.reason == values["reason"]
    assert emergencies > 0
    assert any(r["kind"] == "lip_short" and r["values"]["reason"] == 2 for r in records)


def test_fleet_unit_answers_a_location_request(link: Path, open_port: type[Port]) -> None:
    request = lip.encode_lip(lip.LocationRequest())
    with RadioSimulator(link, RadioOptions(fleet=2, fleet_rate=0)):
        port = open_port(link)
        assert port.command("AT+CTSDS=12,0") == ["OK"]
        port.serial.write(f"AT+CMGS=1001002,{request.bits}\r\n{request.data.hex().upper()}\x1a".encode())
        lines = [port.line() for _ in range(5)]
    assert lines[1] == "OK" and lines[2].startswith("+CMGS: 0,4,")
    assert pei.parse_ctsdsr(lines[3]).calling == "1001002"
    report = _decode_pair(lines[3], lines[4])
    assert isinstance(report, lip.ShortLocationReport) and report.reason == 32


def test_odd_hex_and_missing_payload(link: Path, tmp_path: Path, open_port: type[Port]) -> None:
    script = tmp_path / "lip.txt"
    script.write_text(
        "+CTSDSR: 12,2269001,0,9999,0,84\n0A112853A9FF4D4FFFE810\n+CTSDSR: 13,1,0,2,0,16\n8004\n"
    )
    with RadioSimulator(link, RadioOptions(script=script), faults=RadioFaults(odd_hex=True)):
        port = open_port(link)
        assert port.command("AT") == ["OK"]
        assert [port.line() for _ in range(4)] == [
            "+CTSDSR: 12,2269001,0,9999,0,84",
            "0A112853A9FF4D4FFFE81",
            "+CTSDSR: 13,1,0,2,0,16",
            "8004",
        ]
    with RadioSimulator(link, RadioOptions(script=script), faults=RadioFaults(missing_payload=1.0)):
        port = open_port(link)
        assert port.command("AT") == ["OK"]
        assert [port.line(), port.line()] == ["+CTSDSR: 12,2269001,0,9999,0,84", "+CTSDSR: 13,1,0,2,0,16"]


def test_garbage_lines_do_not_hide_responses(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link, faults=RadioFaults(garbage=1.0), seed=2):
        port = open_port(link)
        port.serial.write(b"AT+CSQ?\r")
        lines = [port.line() for _ in range(4)]
    assert lines[1] == "+CSQ: 24,99" and lines[3] == "OK"
    assert lines[0] not in ("OK", "+CSQ: 24,99") and lines[2] not in ("OK", "+CSQ: 24,99")


def test_split_output_arrives_intact(run_sim: type[SimProcess], link: Path, open_port: type[Port]) -> None:
    sim = run_sim(["radio", "--link", str(link), "--split", "--seed", "9"])
    sim.expect("ready at")
    port = open_port(link)
    for _ in range(5):
        assert port.command("AT+CNUMF?") == [f"+CNUMF: 6,0293{1:05d}{ISSI:08d}", "OK"]


def test_reboot_forgets_registrations(link: Path, open_port: type[Port]) -> None:
    faults = RadioFaults(reboot_after_s=0.0, reboot_silence_s=0.05)
    with RadioSimulator(link, faults=faults) as sim:
        port = open_port(link)
        port.serial.write(b"AT+CTSP=1,3,130\r")
        assert port.line() == "OK"
        assert [port.line(), port.line()] == ["+CTOM: 0", "+CREG: 1,1001,029300001"]
        assert sim.model.registrations == frozenset()
        assert port.command("AT+CTSP=1,3,10") == ["OK"]
        assert sim.model.registrations == {"1,3,10"}


def test_atz_resets_echo_and_registrations(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link) as sim:
        port = open_port(link)
        assert port.command("ATE1") == ["OK"]
        assert port.command("AT+CTSP=2,2,20") == ["AT+CTSP=2,2,20", "OK"]
        assert port.command("ATZ") == ["ATZ", "OK"]
        assert sim.model.registrations == frozenset()


def test_sigusr1_unplugs_the_radio(run_sim: type[SimProcess], link: Path, open_port: type[Port]) -> None:
    sim = run_sim(["radio", "--link", str(link)])
    sim.expect("ready at")
    sim.signal(signal.SIGUSR1)
    sim.expect("unplugged")
    assert not link.is_symlink()
    sim.signal(signal.SIGUSR1)
    sim.expect("ready at")
    assert open_port(link).command("AT") == ["OK"]
    assert sim.stop() == 0


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"AT\r"], [ReceivedLine("AT")]),
        ([b"A", b"T+CSQ", b"?\r", b"\n"], [ReceivedLine("AT+CSQ?")]),
        ([b"AT\nATE0\r\n\r\n"], [ReceivedLine("AT"), ReceivedLine("ATE0")]),
        (
            [b"AT+CMGS=1,16\r\n80", b"04\x1aAT\r"],
            [ReceivedLine("AT+CMGS=1,16"), ReceivedLine("8004", UserDataEnd.CTRL_Z), ReceivedLine("AT")],
        ),
        (
            [b"AT+CMGS=1,16\r8004\x1bAT\r"],
            [ReceivedLine("AT+CMGS=1,16"), ReceivedLine("8004", UserDataEnd.ESC), ReceivedLine("AT")],
        ),
        ([b"at+cmgs = 1, 16\r\x1a"], [ReceivedLine("at+cmgs = 1, 16"), ReceivedLine("", UserDataEnd.CTRL_Z)]),
        (
            [b"AT+CMGS=?\r\nAT\r8004\x1a\r"],
            [ReceivedLine("AT+CMGS=?"), ReceivedLine("AT"), ReceivedLine("8004\x1a")],
        ),
        ([b"AT+CMGS=1,x\rAT\r"], [ReceivedLine("AT+CMGS=1,x"), ReceivedLine("AT")]),
        ([b"AT+CMGS?\rAT\r"], [ReceivedLine("AT+CMGS?"), ReceivedLine("AT")]),
    ],
)
def test_command_assembler(chunks: list[bytes], expected: list[ReceivedLine]) -> None:
    assembler = CommandAssembler()
    assert [line for chunk in chunks for line in assembler.feed(chunk)] == expected
    whole = CommandAssembler()
    assert [line for byte in b"".join(chunks) for line in whole.feed(bytes([byte]))] == expected


def test_assembler_time_out_returns_the_partial_user_data_and_command_mode() -> None:
    assembler = CommandAssembler()
    assert assembler.feed(b"AT+CMGS=5,16\r\n80") == [ReceivedLine("AT+CMGS=5,16")]
    assert assembler.in_user_data
    assert assembler.time_out() == ReceivedLine("80", UserDataEnd.TIMEOUT)
    assert not assembler.in_user_data
    assert assembler.feed(b"AT\r") == [ReceivedLine("AT")]
    with pytest.raises(RuntimeError, match="no AT\\+CMGS"):
        assembler.time_out()


@pytest.mark.parametrize(
    ("end", "expected"),
    [(UserDataEnd.ESC, ("OK",)), (UserDataEnd.TIMEOUT, ("+CME ERROR: 37",))],
)
def test_model_cancelled_or_timed_out_user_data_is_not_sent(
    end: UserDataEnd, expected: tuple[str, ...]
) -> None:
    model = RadioModel(RadioIdentity(ISSI))
    assert model.handle(ReceivedLine("AT+CMGS=5,16")).outputs == ()
    reply = model.handle(ReceivedLine("8004", end))
    assert [output.lines for output in reply.outputs] == [expected]
    assert reply.sent is None
    # the send is over: data without a new AT+CMGS is refused
    assert model.handle(ReceivedLine("8004", UserDataEnd.CTRL_Z)).outputs[0].lines == ("+CME ERROR: 36",)


def test_test_commands_change_no_state(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link) as sim:
        port = open_port(link)
        assert port.command("AT+CTSP=?") == ["OK"]
        assert port.command("AT+CTOM=?") == ["OK"]
        assert sim.model.registrations == frozenset()
        assert port.command("AT+CTOM?") == ["+CTOM: 0", "OK"]


def test_cmgs_test_command_stays_in_command_mode(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link) as sim:
        port = open_port(link)
        port.serial.write(b"AT+CMGS=?\r\nAT+CSQ?\r")
        assert [port.line() for _ in range(4)] == ["+CMGS: (0-16777215),(0-1184)", "OK", "+CSQ: 24,99", "OK"]
        assert sim.lines_received == 2


def test_cmgs_without_user_data_times_out(link: Path, tmp_path: Path, open_port: type[Port]) -> None:
    log = tmp_path / "radio.log"
    timeout_s = 0.2
    with RadioSimulator(link, RadioOptions(log=log), user_data_timeout_s=timeout_s):
        port = open_port(link)
        sent_at = time.monotonic()
        port.serial.write(b"AT+CMGS=5,16\r\n")
        assert port.line() == "+CME ERROR: 37"
        assert time.monotonic() - sent_at >= timeout_s
        assert port.command("AT") == ["OK"]
        port.serial.write(b"AT+CMGS=5,16\r\n80")
        assert port.line() == "+CME ERROR: 37"
        assert port.command("AT+CSQ?") == ["+CSQ: 24,99", "OK"]
    assert log.read_text().splitlines() == ["AT+CMGS=5,16", "", "AT", "AT+CMGS=5,16", "80", "AT+CSQ?"]


def test_user_data_completed_in_time_is_sent(link: Path, open_port: type[Port]) -> None:
    with RadioSimulator(link, user_data_timeout_s=0.5):
        port = open_port(link)
        assert port.command("AT+CTSDS=13,0") == ["OK"]
        port.serial.write(b"AT+CMGS=5,16\r\n80")
        port.serial.write(b"04\x1a")
        assert port.line().startswith("+CMGS: 0,")
        assert port.line() == "OK"
        assert port.line().startswith("+CMGS: 0,4,")


def test_esc_cancels_the_user_data(link: Path, tmp_path: Path, open_port: type[Port]) -> None:
    log = tmp_path / "radio.log"
    with RadioSimulator(link, RadioOptions(log=log)) as sim:
        port = open_port(link)
        port.serial.write(b"AT+CMGS=5,16\r\n8004\x1b")
        assert port.line() == "OK"
        assert port.command("AT+CSQ?") == ["+CSQ: 24,99", "OK"]
        assert sim.lines_received == 3
    assert log.read_text().splitlines() == ["AT+CMGS=5,16", "8004", "AT+CSQ?"]
