"""The GNSS simulator on real pseudo-terminals, read with pyserial as the gateway would."""

from __future__ import annotations

import itertools
import math
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from gateway.errors import LinkError
from simulators import nmea_writer
from simulators.faults import FaultInjector, Outage
from simulators.gps import GpsFaults, GpsSimulator, group_epochs, read_log_lines, sentence_time
from simulators.route import LJUBLJANA_LOOP
from tests.simulators.conftest import SimProcess

READ_TIMEOUT_S = 5.0

SMALL_LOG = (
    b"# Name: hand-made test log\n"
    b"#\n"
    b"$GPGGA,120000.00,4603.24000,N,01430.16200,E,1,08,0.9,295.0,M,46.0,M,,*60\n"
    b"$GPGSA,A,3,01,02,03,04,05,06,07,08,,,,,1.6,0.9,1.2*3A\n"
    b"$GPRMC,120000.00,A,4603.24000,N,01430.16200,E,0.0,0.0,010125,,,A*6F\r\n"
    b"\x00\xffgarbage*in$the log\n"
    b"$GPGGA,120001.00,4603.24100,N,01430.16300,E,1,08,0.9,295.0,M,46.0,M,,*6A\n"
    b"$GPRMC,120001.00,A,4603.24100,N,01430.16300,E,5.0,45.0,010125,,,A*6C\n"
)


def _expected_stream(log: bytes) -> bytes:
    lines = [line.rstrip(b"\r") for line in log.split(b"\n")]
    return b"".join(line + b"\r\n" for line in lines if line and not line.startswith(b"#"))


def _valid_checksum(line: bytes) -> bool:
    match = re.fullmatch(rb"\$([^*$]*)\*([0-9A-F]{2})", line)
    return match is not None and nmea_writer.checksum(match.group(1).decode()) == int(match.group(2), 16)


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    path = tmp_path / "small.log"
    path.write_bytes(SMALL_LOG)
    return path


@pytest.fixture
def link(tmp_path: Path) -> Path:
    return tmp_path / "gps0"


def _open(path: Path) -> serial.Serial:
    return serial.Serial(str(path), timeout=READ_TIMEOUT_S)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"$GNRMC,171926.00,A,4404.14063,N,12118.85478,W,0.117,,180315,,,A*76", b"171926.00"),
        (b"$GNGGA,171926.00,4404.14063,N,12118.85478,W,1,12,0.91,1147.2,M,-21.3,M,,*44", b"171926.00"),
        (b"$GNGLL,4404.14066,N,12118.85481,W,171925.00,A,A*66", b"171925.00"),
        (b"$GPGSV,4,1,13,01,53,280,36*7C", None),
        (b"$GPRMC,,V,,,,,,,,,,N*53", None),
        (b"garbage,123456", None),
    ],
)
def test_sentence_time(line: bytes, expected: bytes | None) -> None:
    assert sentence_time(line) == expected


def test_epochs_split_on_time_change_and_keep_timeless_sentences(small_log: Path) -> None:
    epochs = group_epochs(read_log_lines(small_log))
    assert [len(epoch) for epoch in epochs] == [4, 2]
    assert epochs[0][0].startswith(b"$GPGGA,120000")
    assert epochs[0][3] == b"\x00\xffgarbage*in$the log"
    assert epochs[1][0].startswith(b"$GPGGA,120001")


def test_replay_starts_on_open_and_bytes_match_the_log(
    run_sim: type[SimProcess], small_log: Path, link: Path
) -> None:
    sim = run_sim(["gps", "--link", str(link), "--nmea", str(small_log), "--rate", "0"])
    sim.expect(f"ready at {link}")
    expected = _expected_stream(SMALL_LOG)
    with _open(link) as port:
        assert port.read(len(expected)) == expected
    assert sim.stop() == 0
    assert not link.exists() and not link.is_symlink()


@pytest.mark.recorded
def test_recorded_log_larger_than_the_pty_buffer_arrives_whole(gpsd_data: Path, link: Path) -> None:
    log = gpsd_data / "neo-m8n.log"
    expected = _expected_stream(log.read_bytes().replace(b"\r\n", b"\n"))
    assert len(expected) > 16384
    with GpsSimulator(link, nmea=log, rate_hz=0), _open(link) as port:
        assert port.read(len(expected)) == expected


def test_synthetic_route_gives_valid_moving_epochs(link: Path) -> None:
    with GpsSimulator(link, rate_hz=0, seed=7) as sim, _open(link) as port:
        lines = [port.readline() for _ in range(4 * 60)]
    assert sim.epochs_sent >= 60
    sentences = [line.rstrip(b"\r\n") for line in lines]
    assert all(line.endswith(b"\r\n") for line in lines)
    assert all(_valid_checksum(sentence) for sentence in sentences)
    assert [s[:6] for s in sentences[:4]] == [b"$GNRMC", b"$GNGGA", b"$GNGSA", b"$GNVTG"]
    positions = []
    for sentence in sentences:
        if sentence.startswith(b"$GNRMC"):
            fields = sentence.decode().split(",")
            lat = int(fields[3][:2]) + float(fields[3][2:]) / 60
            lon = int(fields[5][:3]) + float(fields[5][3:]) / 60
            positions.append((lat, lon, float(fields[7]) / nmea_writer.KNOTS_PER_MPS))
    lats = [p[0] for p in LJUBLJANA_LOOP]
    lons = [p[1] for p in LJUBLJANA_LOOP]
    assert all(min(lats) <= lat <= max(lats) and min(lons) <= lon <= max(lons) for lat, lon, _ in positions)
    assert all(0 <= speed <= 60 / 3.6 for _, _, speed in positions)
    travelled = math.hypot(positions[-1][0] - positions[0][0], positions[-1][1] - positions[0][1])
    assert travelled > 0.001
    steps = [math.hypot(b[0] - a[0], b[1] - a[1]) * 111_000 for a, b in itertools.pairwise(positions)]
    assert max(steps) < 20


def test_epoch_sentences_have_correct_checksums_and_fields() -> None:
    from datetime import UTC, datetime

    fix = nmea_writer.Fix(
        time=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        lat=-46.5,
        lon=-14.25,
        alt_m=295.4,
        speed_mps=10.0,
        course_deg=90.0,
        satellites=(1, 2, 3, 4, 5, 6),
        hdop=0.9,
    )
    rmc, gga, gsa, vtg = nmea_writer.epoch(fix)
    assert rmc == nmea_writer.sentence(
        "GNRMC",
        ["030405.00", "A", "4630.00000", "S", "01415.00000", "W", "19.438", "90.00", "020125", "", "", "A"],
    )
    assert b",06,0.90,295.4,M," in gga
    assert gsa.startswith(b"$GNGSA,A,3,01,02,03,04,05,06,,,,,,,")
    assert b",36.000,K," in vtg
    assert all(_valid_checksum(s) for s in (rmc, gga, gsa, vtg))
    assert nmea_writer.checksum("GPGGA,x") == 0x47 ^ 0x50 ^ 0x47 ^ 0x47 ^ 0x41 ^ 0x2C ^ 0x78


@pytest.mark.parametrize(
    ("faults", "check"),
    [
        (GpsFaults(checksum_errors=1.0), "all_bad_checksums"),
        (GpsFaults(garbage=1.0), "garbage_between"),
        (GpsFaults(split=True), "unchanged"),
    ],
)
def test_faults_corrupt_the_stream(faults: GpsFaults, check: str, link: Path, tmp_path: Path) -> None:
    log = tmp_path / "clean.log"
    clean = [
        nmea_writer.sentence("GPGGA", [f"1200{i:02d}.00", "4603.24", "N", "01430.16", "E", "1"])
        for i in range(20)
    ]
    log.write_bytes(b"".join(s + b"\r\n" for s in clean))
    expected = b"".join(s + b"\r\n" for s in clean)
    with GpsSimulator(link, nmea=log, rate_hz=0, faults=faults, seed=3), _open(link) as port:
        if check == "unchanged":
            assert port.read(len(expected)) == expected
            return
        received = port.read_until(clean[-1][:-3])
        received += port.read(5)
    if check == "all_bad_checksums":
        lines = received.split(b"\r\n")[:-1]
        assert len(lines) == len(clean)
        assert [line[:-2] for line in lines] == [s[:-2] for s in clean]
        assert not any(_valid_checksum(line) for line in lines)
    else:
        assert all(s + b"\r\n" in received for s in clean)
        assert len(received) > len(expected)


def test_drop_leaves_out_sentences_in_order(link: Path, tmp_path: Path) -> None:
    log = tmp_path / "clean.log"
    clean = [nmea_writer.sentence("GPGGA", [f"1200{i:02d}.00"]) for i in range(40)]
    log.write_bytes(b"".join(s + b"\r\n" for s in clean) + b"$END\r\n")
    with GpsSimulator(link, nmea=log, rate_hz=0, faults=GpsFaults(drop=0.5), seed=1), _open(link) as port:
        received = port.read_until(b"$END\r\n").split(b"\r\n")[:-1]
    kept = [line for line in received if line != b"$END"]
    assert 0 < len(kept) < len(clean)
    assert kept == [s for s in clean if s in kept]


def test_split_cuts_into_small_ordered_chunks() -> None:
    data = bytes(range(200))
    chunks = FaultInjector(5).split(data)
    assert b"".join(chunks) == data
    assert len(chunks) > 200 // 7
    assert all(1 <= len(chunk) <= 7 for chunk in chunks)


def test_corrupt_checksum_keeps_the_sentence_shape() -> None:
    good = nmea_writer.sentence("GPGGA", ["1"])
    bad = FaultInjector(1).corrupt_checksum(good)
    assert bad[:-2] == good[:-2] and bad != good and re.fullmatch(rb".*\*[0-9A-F]{2}", bad)
    assert FaultInjector(1).corrupt_checksum(b"no checksum") == b"no checksum"


@pytest.mark.parametrize(("elapsed", "covered"), [(0.9, False), (1.0, True), (2.9, True), (3.0, False)])
def test_outage_window(elapsed: float, covered: bool) -> None:
    assert Outage(after_s=1.0, for_s=2.0).covers(elapsed) is covered


def test_sigusr1_unplugs_and_replugs(run_sim: type[SimProcess], link: Path) -> None:
    sim = run_sim(["gps", "--link", str(link), "--rate", "0"])
    sim.expect("ready at")
    with _open(link) as port:
        assert port.readline().startswith(b"$GNRMC")
        sim.signal(signal.SIGUSR1)
        sim.expect(f"unplugged {link}")
        assert not link.is_symlink()
        with pytest.raises(serial.SerialException):
            while True:
                port.read(4096)
    sim.signal(signal.SIGUSR1)
    sim.expect(f"ready at {link}")
    with _open(link) as port:
        line = b""
        while not line.startswith(b"$"):
            line = port.readline()
        assert _valid_checksum(line.rstrip(b"\r\n"))
    assert sim.stop() == 0
    assert not link.is_symlink()


def test_unplug_after_replugs_by_itself(link: Path) -> None:
    sim = GpsSimulator(link, rate_hz=0, faults=GpsFaults(unplug=Outage(after_s=0.0, for_s=0.1)))
    with sim:
        with _open(link):
            assert sim.wait_plugged(False)
            assert not link.is_symlink()
        assert sim.wait_plugged(True, generation=2)
        with _open(link) as port:
            assert port.readline().endswith(b"\r\n")
    assert not link.is_symlink()


def test_reader_leaving_and_coming_back_does_not_stop_the_replay(link: Path, tmp_path: Path) -> None:
    log = tmp_path / "numbered.log"
    clean = [nmea_writer.sentence("GPZDA", [f"1200{i:02d}.00"]) for i in range(30)]
    log.write_bytes(b"".join(s + b"\r\n" for s in clean))
    with GpsSimulator(link, nmea=log, rate_hz=0, loop=True):
        with _open(link) as port:
            first = port.readline()
        with _open(link) as port:
            port.readline()
            again = [port.readline().rstrip(b"\r\n") for _ in range(40)]
    assert first == clean[0] + b"\r\n"
    assert all(line in clean for line in again)
    assert clean[0] in again


def test_refuses_to_clobber_a_regular_file(link: Path) -> None:
    link.write_text("precious")
    with pytest.raises(LinkError), GpsSimulator(link):
        pass
    assert link.read_text() == "precious"


def test_replaces_a_stale_symlink(link: Path) -> None:
    link.symlink_to("/dev/pts/does-not-exist")
    with GpsSimulator(link):
        assert Path(str(link.resolve())).exists()
    assert not link.is_symlink()


def test_cli_refuses_a_regular_file(run_sim: type[SimProcess], link: Path) -> None:
    link.write_text("precious")
    sim = run_sim(["gps", "--link", str(link)])
    assert sim.process.wait(timeout=10) == 2
    assert link.read_text() == "precious"


@pytest.fixture(autouse=True)
def _no_leftover_links(link: Path) -> Iterator[None]:
    yield
    assert not link.is_symlink()


@pytest.mark.parametrize(("stall", "expected"), [(None, 100.0), (Outage(after_s=0.0, for_s=5.0), 105.0)])
def test_stall_holds_the_next_epoch_until_the_window_ends(
    stall: Outage | None, expected: float, link: Path
) -> None:
    sim = GpsSimulator(link, faults=GpsFaults(stall=stall))
    sim._on_reader_opened(100.0)
    assert sim._next_deadline() == expected
