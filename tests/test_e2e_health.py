"""The retained state topics tell the truth: health follows link changes, and a clean stop says "down"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.schemas import validate
from tests.broker import Mosquitto
from tests.harness import Process, Recorder, start_gateway, start_simulator
from tests.test_e2e_radio import GW, gateway_config, newest, payloads


def slow_health_config(tmp_path: Path, mosquitto: Mosquitto, link: Path) -> Path:
    """Health reports due only every 10 minutes: any report after the first is an early one."""
    config = gateway_config(tmp_path, mosquitto, link)
    config.write_text(config.read_text().replace("health_interval_s = 0.5", "health_interval_s = 600"))
    return config


def radio_in_health(recorder: Recorder, state: str) -> Any:
    return newest(
        recorder, f"/gateways/{GW}/health", lambda report: report["devices"]["base"]["state"] == state
    )


def test_health_is_reported_again_when_a_link_changes_state(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    """Without early reports the retained health would say "starting" (and MQTT disconnected) for the
    whole interval after every start."""
    link = tmp_path / "radio0"
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(start_gateway(slow_health_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
        recorder.wait_for(radio_in_health(recorder, "down"), what="health: the absent radio down")
        processes.append(start_simulator("radio", link, log=tmp_path / "sim.out"))
        recorder.wait_for(radio_in_health(recorder, "up"), what="health: the radio up, long before 600 s")
        last = payloads(recorder, f"/gateways/{GW}/health")[-1]
        validate("health", last)
        assert last["mqtt"]["connected"] is True
        for report in payloads(recorder, f"/gateways/{GW}/health"):
            assert "null" not in json.dumps(report), f"absent values are omitted, not null: {report}"
    finally:
        recorder.close()


def test_a_clean_stop_leaves_the_retained_radio_state_and_health_saying_down(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    link = tmp_path / "radio0"
    processes.append(start_simulator("radio", link, log=tmp_path / "sim.out"))
    gateway = start_gateway(slow_health_config(tmp_path, mosquitto, link), tmp_path / "gw.out")
    processes.append(gateway)
    recorder = Recorder(mosquitto.port)
    try:
        recorder.wait_for(radio_in_health(recorder, "up"), what="the radio up")
        assert gateway.stop() == 0
    finally:
        recorder.close()
    later = Recorder(mosquitto.port)  # a dispatcher connecting after the stop sees the retained truth
    try:
        later.wait_for(
            lambda _: all(later.on(f"/gateways/{GW}/{t}") for t in ("availability", "radios/base", "health")),
            what="the retained availability, radio state and health",
        )
        assert later.on(f"/gateways/{GW}/availability")[-1].payload == b"offline"
        radio = later.on(f"/gateways/{GW}/radios/base")[-1].json()
        validate("radio", radio)
        assert (radio["state"], radio["error"]) == ("down", "gateway stopped")
        health = later.on(f"/gateways/{GW}/health")[-1].json()
        validate("health", health)
        assert health["devices"]["base"]["state"] == "down"
    finally:
        later.close()
