"""Nothing accepted is lost: the real gateway between the device simulators and a real mosquitto, with the
broker stopped, the gateway killed with SIGKILL, and both at once.

What "nothing lost" is checked by, without looking inside the gateway: within one run of the gateway, the
spool hands out consecutive ``seq`` values and commits them in order (a batch of positions not yet committed
when the process dies is the newest of that run, never one in the middle). So every seq a run committed
arrives iff the seqs received form at most one unbroken range per run. Duplicates (QoS 1 redelivery after a
crash or a reconnect) are allowed; gaps are not. And within a class, first arrivals come in seq order.
"""

from __future__ import annotations

import json
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from gateway.schemas import validate
from tests.broker import Mosquitto
from tests.harness import Message, Process, Recorder, start_gateway, start_simulator, write_config

GW = "veh-1"
UNIT = "CAR-1"
FLEET_BASE = 1001001
MANIFEST_RECHECK_S = 0.05
RADIO_ISSI = 9000  # patrol-sim radio's default identity
CLASS_OF_KIND = {"position": "position", "status": "status", "text": "text", "emergency": "emergency"}


def config(tmp_path: Path, broker: Mosquitto, gps: Path, radio: Path) -> Path:
    units = "\n".join(f'"{FLEET_BASE + n}" = "P-{n}"' for n in range(10))
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
reconnect_max_s = 0.3

[gnss]
port = "{gps}"
baud = 9600

[gnss.report]
min_interval_s = 0
max_interval_s = 0
min_distance_m = 0
min_course_change_deg = 0

[[radios]]
port = "{radio}"
name = "base"
reconnect_min_s = 0.1
reconnect_max_s = 0.3

[units]
{units}

[spool]
path = "{tmp_path / "spool.db"}"
""",
    )


class Rig:
    """A GNSS simulator, a radio fleet, the gateway, a recorder; restartable gateway."""

    def __init__(self, tmp_path: Path, broker: Mosquitto) -> None:
        self.tmp_path = tmp_path
        self.broker = broker
        self.manifest = tmp_path / "manifest.jsonl"
        self.gps = start_simulator("gps", tmp_path / "gps0", "--rate", "10", log=tmp_path / "gps.out")
        self.radio = start_simulator(
            "radio",
            tmp_path / "radio0",
            "--fleet",
            "10",
            "--rate",
            "20",
            "--emergency-every",
            "1",
            "--manifest",
            str(self.manifest),
            "--seed",
            "11",
            log=tmp_path / "radio.out",
        )
        self.config = config(tmp_path, broker, tmp_path / "gps0", tmp_path / "radio0")
        self.runs = 0
        self.recorder = Recorder(broker.port, client_id=f"durability-{tmp_path.name}", persistent=True)
        self.gateway = self.start_gateway()

    def start_gateway(self) -> Process:
        self.runs += 1
        return start_gateway(self.config, self.tmp_path / f"gw-{self.runs}.out")

    def unit_messages(self) -> list[Message]:
        return [m for m in self.recorder.messages if m.topic.startswith("patrol/units/")]

    def wait_more(self, count: int, what: str) -> None:
        target = len(self.unit_messages()) + count
        self.recorder.wait_for(lambda _: len(self.unit_messages()) >= target, timeout=60, what=what)

    def stop_devices_and_drain(self) -> None:
        """Stop the simulators, then wait for a later health report taken with the spool empty."""
        self.radio.stop()
        self.gps.stop()
        reports_before = len(self.recorder.on(f"/gateways/{GW}/health"))

        def drained(_: Any) -> bool:
            later = [m.json() for m in self.recorder.on(f"/gateways/{GW}/health")][reports_before:]
            return any(report["spool"]["depth"] == 0 for report in later)

        self.recorder.wait_for(drained, timeout=60, what="the spool drained")

    def emitted(self) -> int:
        """Fleet messages the radio simulator has printed so far."""
        return len(self.manifest.read_text().splitlines()) if self.manifest.exists() else 0

    def wait_emitted(self, count: int, what: str) -> None:
        self.recorder.wait_for(lambda _: self.emitted() >= count, what=what, recheck_s=MANIFEST_RECHECK_S)

    def close(self) -> None:
        self.recorder.close()
        for process in (self.gateway, self.radio, self.gps):
            process.stop()


PERSISTENCE = "persistence true\npersistence_location {store}/\n"


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Any:
    """A mosquitto that keeps sessions across its restarts, so the recorder misses nothing."""
    store = tmp_path / "broker-store"
    store.mkdir()
    broker = Mosquitto(tmp_path, extra_config=PERSISTENCE.format(store=store))
    broker.config.write_text(broker.config.read_text().replace("persistence false\n", ""))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def rig(tmp_path: Path, persistent_broker: Mosquitto) -> Any:
    r = Rig(tmp_path, persistent_broker)
    yield r
    r.close()


def seq_ranges(seqs: set[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def check_delivery(rig: Rig) -> None:
    """No seq gaps within a run; first arrivals in seq order within each class; every payload valid."""
    messages = [m for m in rig.recorder.messages if m.topic.startswith(f"patrol/gateways/{GW}/health")] + [
        m for m in rig.recorder.messages if m.topic.startswith("patrol/units/") or "/radios/" in m.topic
    ]
    seqs = {m.json()["seq"] for m in messages}
    ranges = seq_ranges(seqs)
    assert len(ranges) <= rig.runs, f"gaps in seq: {len(ranges)} ranges for {rig.runs} runs: {ranges[:6]}"
    first_arrival: dict[str, list[int]] = defaultdict(list)
    seen: set[int] = set()
    for message in rig.recorder.messages:
        if not message.topic.startswith("patrol/units/"):
            continue
        payload = message.json()
        kind = message.topic.split("/")[-1]
        validate(kind, payload)
        if payload["seq"] not in seen:
            seen.add(payload["seq"])
            first_arrival[CLASS_OF_KIND[kind]].append(payload["seq"])
    for cls, order in first_arrival.items():
        assert order == sorted(order), f"{cls} arrived out of order"


def fleet_statuses_in_order(rig: Rig) -> None:
    """Each unit's statuses arrive in the order the radio heard them (a subsequence of the manifest)."""
    heard: dict[int, list[int]] = defaultdict(list)
    for line in rig.manifest.read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "status":
            heard[record["issi"]].append(record["values"]["code"])
    got: dict[int, list[int]] = defaultdict(list)
    seen: set[int] = set()
    for message in rig.recorder.messages:
        if message.topic.endswith("/status"):
            payload = message.json()
            if payload["seq"] not in seen:
                seen.add(payload["seq"])
                got[payload["issi"]].append(payload["code"])
    for issi, codes in got.items():
        iterator = iter(heard[issi])
        assert all(code in iterator for code in codes), f"{issi}: statuses out of order"


def test_broker_outage_under_a_steady_stream_loses_nothing(rig: Rig) -> None:
    rig.wait_more(50, "traffic before the outage")
    rig.broker.stop()
    rig.gateway.wait_line("MQTT broker unavailable")
    rig.wait_emitted(rig.emitted() + 40, "traffic during the outage")
    rig.broker.start()
    rig.wait_more(100, "traffic after the outage")
    # The gateway was never down, so every status the radio printed up to now must arrive, in order per unit.
    heard: dict[int, list[int]] = defaultdict(list)
    for line in rig.manifest.read_text().splitlines():
        record = json.loads(line)
        if record["kind"] == "status":
            heard[record["issi"]].append(record["values"]["code"])

    def statuses_by_unit() -> dict[int, list[int]]:
        got: dict[int, list[int]] = defaultdict(list)
        seen: set[int] = set()
        for message in rig.recorder.on("/status"):
            payload = message.json()
            if payload["seq"] not in seen:
                seen.add(payload["seq"])
                got[payload["issi"]].append(payload["code"])
        return got

    rig.recorder.wait_for(
        lambda _: all(len(statuses_by_unit()[issi]) >= len(codes) for issi, codes in heard.items()),
        what="every status heard",
    )
    got = statuses_by_unit()
    for issi, codes in heard.items():
        assert got[issi][: len(codes)] == codes, f"{issi}: statuses lost or reordered"
    assert any(0 in codes for codes in heard.values()), "the fleet raised emergencies"
    emergencies = [m.json() for m in rig.recorder.on("/emergency")]
    for issi, codes in heard.items():
        assert sum(1 for e in emergencies if e["issi"] == issi and e["kind"] == "status") >= codes.count(0)
    rig.stop_devices_and_drain()
    check_delivery(rig)


def test_gateway_killed_mid_stream_and_restarted_loses_nothing_accepted(rig: Rig) -> None:
    rig.wait_more(80, "traffic before the kill")
    rig.gateway.signal(signal.SIGKILL)
    rig.gateway.stop()
    rig.gateway = rig.start_gateway()
    rig.wait_more(80, "traffic after the restart")
    rig.stop_devices_and_drain()
    check_delivery(rig)
    fleet_statuses_in_order(rig)


def test_broker_down_and_gateway_killed_together(rig: Rig) -> None:
    rig.wait_more(50, "traffic before the faults")
    rig.broker.stop()
    rig.gateway.wait_line("MQTT broker unavailable")
    backlog_from = rig.emitted()
    rig.wait_emitted(backlog_from + 40, "a backlog in the spool")
    rig.gateway.signal(signal.SIGKILL)
    rig.gateway.stop()
    rig.gateway = rig.start_gateway()
    rig.gateway.wait_line("MQTT broker unavailable")
    rig.broker.start()
    rig.wait_more(200, "the backlog and live traffic")
    rig.stop_devices_and_drain()
    check_delivery(rig)
    fleet_statuses_in_order(rig)
    # The statuses heard while the broker was down were accepted before the kill: they all arrived.
    emitted = [json.loads(line) for line in rig.manifest.read_text().splitlines()]
    during = [r for r in emitted[backlog_from : backlog_from + 40] if r["kind"] == "status"]
    arrived = [
        (m.json()["issi"], m.json()["code"]) for m in rig.recorder.messages if m.topic.endswith("/status")
    ]
    for record in during:
        assert (record["issi"], record["values"]["code"]) in arrived


def test_corrupt_spool_is_moved_aside_and_the_gateway_runs_on(tmp_path: Path, mosquitto: Mosquitto) -> None:
    spool = tmp_path / "spool.db"
    spool.write_bytes(b"this is not an SQLite database, it is what a power cut left behind" * 100)
    gps = start_simulator("gps", tmp_path / "gps0", "--rate", "10", log=tmp_path / "gps.out")
    radio = start_simulator("radio", tmp_path / "radio0", log=tmp_path / "radio.out")
    recorder = Recorder(mosquitto.port)
    gateway = start_gateway(
        config(tmp_path, mosquitto, tmp_path / "gps0", tmp_path / "radio0"), tmp_path / "gw.out"
    )
    try:
        recorder.wait_for(lambda _: len(recorder.on(f"/units/{UNIT}/position")) >= 5, what="positions")
        recorder.wait_for(
            lambda _: any(m.json().get("issi") == RADIO_ISSI for m in recorder.on(f"/units/{UNIT}/position")),
            what="the vehicle's own positions carrying its radio's ISSI",
        )
        healths = [m.json() for m in recorder.on(f"/gateways/{GW}/health")]
        assert "corrupt" in healths[-1]["spool"]["recovered_from"]
        assert list(tmp_path.glob("spool.db.corrupt-*")), "the bad file is kept for diagnosis"
        assert "corrupt" in gateway.output().lower()
        assert gateway.popen.poll() is None
    finally:
        gateway.stop()
        recorder.close()
        radio.stop()
        gps.stop()
