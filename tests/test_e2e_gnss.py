"""GNSS end to end: patrol-sim gps on a pty -> patrol-gateway run -> real mosquitto -> a subscriber."""

from __future__ import annotations

import signal
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.schemas import validate
from gateway.timefmt import iso_ms
from simulators.nmea_writer import Fix, epoch
from tests.broker import Mosquitto
from tests.gpsd_chk import compare_fix, gpsd_epochs, time_of_day_key
from tests.harness import Message, Process, Recorder, start_gateway, start_simulator, write_config
from tests.protocols.test_nmea_recorded import GPSD_DISAGREEMENTS, LOGS

UNIT = "CAR-7"
GW = "gw-test"
SHUTDOWN_LIMIT_S = 5.0


def gateway_config(tmp_path: Path, broker: Mosquitto, gps_link: Path, **report: float) -> Path:
    policy = {"min_interval_s": 0, "max_interval_s": 0, "min_distance_m": 0, "min_course_change_deg": 0}
    policy.update(report)
    lines = "\n".join(f"{key} = {value}" for key, value in policy.items())
    return write_config(
        tmp_path / "gateway.toml",
        f"""
[gateway]
id = "{GW}"
unit = "{UNIT}"
health_interval_s = 0.5

[mqtt]
url = "{broker.url}"
reconnect_min_s = 0.1
reconnect_max_s = 0.5

[gnss]
port = "{gps_link}"
baud = "auto"
silence_timeout_s = 1.0

[gnss.report]
{lines}

[spool]
path = "{tmp_path / "spool.db"}"
""",
    )


def positions(recorder: Recorder) -> list[dict[str, Any]]:
    return [m.json() for m in recorder.on(f"/units/{UNIT}/position")]


def availability(recorder: Recorder) -> list[str]:
    return [m.payload.decode() for m in recorder.on(f"/gateways/{GW}/availability")]


@pytest.fixture
def recorder(mosquitto: Mosquitto) -> Any:
    rec = Recorder(mosquitto.port)
    yield rec
    rec.close()


@pytest.mark.recorded
@pytest.mark.parametrize("name", LOGS)
def test_recorded_log_through_gateway_agrees_with_gpsd(
    gpsd_data: Path,
    name: str,
    tmp_path: Path,
    mosquitto: Mosquitto,
    recorder: Recorder,
    processes: list[Process],
) -> None:
    expected = {
        time: tpv
        for time, tpv in gpsd_epochs(gpsd_data / f"{name}.log.chk").items()
        if tpv.get("mode", 0) >= 2
    }
    assert expected, "the log has epochs with a fix"
    link = tmp_path / "gps0"
    processes.append(
        start_simulator(
            "gps", link, "--nmea", str(gpsd_data / f"{name}.log"), "--rate", "0", log=tmp_path / "sim.out"
        )
    )
    processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))

    # Epochs are matched by time of day: gpsd's dates can be its week-rollover guess (see tests/gpsd_chk.py).
    wanted = {time_of_day_key(time) for time in expected}

    def all_epochs_seen(_: list[Message]) -> bool:
        return wanted <= {time_of_day_key(p["time"]) for p in positions(recorder)}

    recorder.wait_for(all_epochs_seen, what=f"every gpsd epoch of {name}")
    published = positions(recorder)
    for payload in published:
        validate("position", payload)
        assert payload["gateway"] == GW and payload["source"] == "gnss" and payload["unit"] == UNIT
    by_time: dict[str, dict[str, Any]] = {}
    for payload in published:
        by_time.setdefault(time_of_day_key(payload["time"]), payload)
    for time, tpv in expected.items():
        problems = compare_fix(tpv, by_time[time_of_day_key(time)])
        known = GPSD_DISAGREEMENTS.get((name, time))
        if known is not None:
            problems = [p for p in problems if not p.startswith(known["field"] + ":")]
        assert not problems, f"{name} {time}: {problems}"
    seqs = [p["seq"] for p in published]
    assert len(set(seqs)) == len(seqs), "seq never repeats"


def test_receiver_unplugged_and_back_resumes_positions(
    tmp_path: Path, mosquitto: Mosquitto, recorder: Recorder, processes: list[Process]
) -> None:
    link = tmp_path / "gps0"
    sim = start_simulator("gps", link, "--rate", "10", log=tmp_path / "sim.out")
    processes.append(sim)
    processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
    recorder.wait_for(lambda _: len(positions(recorder)) >= 5, what="first positions")

    sim.signal(signal.SIGUSR1)  # unplug: the device path vanishes

    def gnss_state(state: str) -> Any:
        def check(_: list[Message]) -> bool:
            healths = [m.json() for m in recorder.on(f"/gateways/{GW}/health")]
            return bool(healths) and healths[-1]["devices"].get("gnss", {}).get("state") == state

        return check

    recorder.wait_for(gnss_state("down"), what="the gateway to see the receiver down")
    before = len(positions(recorder))
    sim.signal(signal.SIGUSR1)  # plug back in
    recorder.wait_for(lambda _: len(positions(recorder)) >= before + 5, what="positions after replug")
    recorder.wait_for(gnss_state("up"), what="the receiver up again")
    for health in recorder.on(f"/gateways/{GW}/health"):
        validate("health", health.json())
    assert availability(recorder) == ["online"], "availability stayed online throughout"


def test_broker_stopped_and_started_positions_resume(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    link = tmp_path / "gps0"
    processes.append(start_simulator("gps", link, "--rate", "10", log=tmp_path / "sim.out"))
    gateway = start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out")
    processes.append(gateway)
    first = Recorder(mosquitto.port)
    first.wait_for(lambda _: len(positions(first)) >= 3, what="positions before the outage")
    last_seq = max(p["seq"] for p in positions(first))
    first.close()

    mosquitto.stop()
    gateway.wait_line("MQTT broker unavailable")
    mosquitto.start()

    second = Recorder(mosquitto.port)
    try:
        second.wait_for(
            lambda _: any(p["seq"] > last_seq + 20 for p in positions(second)),
            what="positions after the outage",
        )
        assert gateway.popen.poll() is None, "the gateway was not restarted"
        assert [m.payload for m in second.on(f"/gateways/{GW}/availability")][-1] == b"online"
    finally:
        second.close()


def test_sigterm_publishes_offline_and_exits_zero(
    tmp_path: Path, mosquitto: Mosquitto, recorder: Recorder, processes: list[Process]
) -> None:
    link = tmp_path / "gps0"
    processes.append(start_simulator("gps", link, "--rate", "5", log=tmp_path / "sim.out"))
    gateway = start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out")
    recorder.wait_for(lambda _: len(positions(recorder)) >= 2, what="positions")
    gateway.signal(signal.SIGTERM)
    assert gateway.popen.wait(SHUTDOWN_LIMIT_S) == 0
    gateway.stop()
    recorder.wait_for(lambda _: availability(recorder)[-1:] == ["offline"], what="offline")
    assert availability(recorder) == ["online", "offline"]


def test_hard_kill_makes_broker_publish_last_will(
    tmp_path: Path, mosquitto: Mosquitto, recorder: Recorder, processes: list[Process]
) -> None:
    link = tmp_path / "gps0"
    processes.append(start_simulator("gps", link, "--rate", "5", log=tmp_path / "sim.out"))
    gateway = start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out")
    recorder.wait_for(lambda _: availability(recorder) == ["online"], what="online")
    gateway.signal(signal.SIGKILL)
    gateway.stop()
    recorder.wait_for(lambda _: availability(recorder)[-1:] == ["offline"], timeout=60, what="the last will")
    retained = Recorder(mosquitto.port, [f"patrol/gateways/{GW}/availability"])
    try:
        retained.wait_for(lambda ms: bool(ms), what="the retained availability")
        assert retained.messages[-1].payload == b"offline" and retained.messages[-1].retain
    finally:
        retained.close()


def southern_fix(index: int) -> Fix:
    """A receiver south and west of the equator and Greenwich, one fix per second from a fixed start."""
    return Fix(
        datetime(2026, 1, 2, 3, 0, 0, tzinfo=UTC) + timedelta(seconds=index),
        -33.8688 - index * 1e-5,
        -70.6 - index * 1e-5,
        520.0,
        10.0,
        225.0,
        (1, 3, 5, 7, 9, 11),
        0.8,
    )


FIXES_BEFORE_HANGUP = 20
TCP_EPOCH_INTERVAL_S = 0.02


def test_receiver_behind_a_serial_over_tcp_server(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """gnss.port = socket://host:port (a serial device server) needs no special code, and a server that
    hangs up is reconnected to. Like a real receiver, the server talks continuously (pyserial discards what
    arrives while it opens the socket, so the first bytes of a connection may be lost, as on a real line)."""
    done = threading.Event()
    sent: dict[str, Fix] = {}
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve() -> None:
            index = 0
            for connection_number in range(2):  # the second connection proves the reconnect
                connection, _ = server.accept()
                with connection:
                    sent_here = 0
                    while not done.is_set() and (connection_number or sent_here < FIXES_BEFORE_HANGUP):
                        fix = southern_fix(index)
                        sent[iso_ms(fix.time)] = fix
                        connection.sendall(b"".join(line + b"\r\n" for line in epoch(fix)))
                        index += 1
                        sent_here += 1
                        done.wait(TCP_EPOCH_INTERVAL_S)  # the receiver's epoch rate

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        config = tmp_path / "gw.toml"
        config.write_text(
            gateway_config(tmp_path, mosquitto, Path("unused"))
            .read_text()
            .replace('port = "unused"', f'port = "socket://127.0.0.1:{port}"')
            .replace('baud = "auto"', "baud = 9600")
        )
        recorder = Recorder(mosquitto.port)
        gateway = start_gateway(config, tmp_path / "gw.out")
        first_of_second_connection = iso_ms(southern_fix(FIXES_BEFORE_HANGUP).time)
        try:
            recorder.wait_for(
                lambda _: sum(p["time"] > first_of_second_connection for p in positions(recorder)) >= 5,
                what="fixes from the second connection",
            )
            got = positions(recorder)
            assert sum(p["time"] < first_of_second_connection for p in got) >= 5, "fixes from the first one"
            times = [p["time"] for p in got]
            assert times == sorted(times) and len(set(times)) == len(times)
            for payload in got:
                fix = sent[payload["time"]]
                assert payload["lat"] == pytest.approx(fix.lat, abs=1e-7) and payload["lat"] < 0
                assert payload["lon"] == pytest.approx(fix.lon, abs=1e-7) and payload["lon"] < 0
                assert (
                    payload["alt_m"] == pytest.approx(520.0)
                    and payload["fix"] == "3d"
                    and payload["sats"] == 6
                )
            assert "socket disconnected" in gateway.output()
        finally:
            done.set()
            gateway.stop()
            recorder.close()


def test_noisy_receiver_that_stalls_garbage_is_counted_never_published(
    tmp_path: Path, mosquitto: Mosquitto, recorder: Recorder, processes: list[Process]
) -> None:
    """Checksum errors, binary garbage, dropped and split sentences, then a receiver that stops talking
    for a while: only good fixes are published, drops are counted in health, the link goes silent and
    comes back."""
    link = tmp_path / "gps0"
    faults = ["--checksum-errors", "0.2", "--garbage", "0.2", "--drop", "0.1", "--split", "--seed", "4"]
    stall = ["--stall-after", "2", "--stall-for", "4"]
    processes.append(start_simulator("gps", link, "--rate", "10", *faults, *stall, log=tmp_path / "sim.out"))
    processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))

    def gnss_health(_: list[Message]) -> dict[str, Any]:
        healths = [m.json() for m in recorder.on(f"/gateways/{GW}/health")]
        return healths[-1]["devices"].get("gnss", {}) if healths else {}

    recorder.wait_for(lambda ms: gnss_health(ms).get("state") == "silent", what="the stall seen as silence")
    count_at_stall = len(positions(recorder))
    recorder.wait_for(
        lambda ms: gnss_health(ms).get("state") == "up" and len(positions(recorder)) > count_at_stall + 5,
        what="the receiver talking again",
    )
    lat_range, lon_range = (46.0, 46.1), (14.4, 14.6)  # the simulator's route through Ljubljana
    for payload in positions(recorder):
        validate("position", payload)
        if payload["fix"] != "none":
            assert (
                lat_range[0] < payload["lat"] < lat_range[1] and lon_range[0] < payload["lon"] < lon_range[1]
            )
    drops = gnss_health(recorder.messages)["drops"]
    assert drops.get("checksum", 0) > 0, drops
    recent = gnss_health(recorder.messages)["recent_lines"]
    assert recent and all(isinstance(line, str) for line in recent), (
        "the last raw lines, for remote diagnosis"
    )
    assert any(line.startswith("$GN") for line in recent)
