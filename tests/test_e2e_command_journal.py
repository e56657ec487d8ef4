"""Dispatcher commands the gateway has accepted survive a kill; a repeated command is executed once."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from gateway.schemas import validate
from tests.broker import Mosquitto
from tests.harness import Process, Recorder, publish, start_gateway, start_simulator
from tests.test_e2e_radio import GW, gateway_config, newest, payloads, radio_state

CMD = f"patrol/gateways/{GW}/cmd"


def command_counts(recorder: Recorder, **wanted: int) -> Any:
    """A wait condition: the newest health report's ``commands`` section has these counts."""

    def holds(report: dict[str, Any]) -> bool:
        validate("health", report)
        return all(report["commands"][key] == value for key, value in wanted.items())

    return newest(recorder, f"/gateways/{GW}/health", holds)


def status_sends(log: Path) -> list[str]:
    """The AT+CMGS lines of status SDS the radio simulator received, in order."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [lines[i + 1] for i, line in enumerate(lines[:-1]) if line == "AT+CTSDS=13,0"]


@pytest.mark.parametrize(("max_age_s", "executed"), [(600, True), (0, False)], ids=["replayed", "too-old"])
def test_a_command_accepted_before_a_kill_is_executed_after_the_restart(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process], max_age_s: int, executed: bool
) -> None:
    """The gateway acknowledges a command to the broker only once it is journaled on disk, so a SIGKILL
    between the PUBACK and the radio send loses nothing: the restarted gateway sends it (or, when it is older
    than ``mqtt.command_replay_max_age_s``, answers it failed). Before the journal, the broker had forgotten
    the command at the PUBACK and this test lost it."""
    link = tmp_path / "radio0"
    sim_log = tmp_path / "radio.log"
    config = gateway_config(tmp_path, mosquitto, link)
    config.write_text(
        config.read_text()
        .replace("[mqtt]\n", f"[mqtt]\ncommand_replay_max_age_s = {max_age_s}\n")
        .replace("send_retry_backoff_s = 0.1", "send_retry_backoff_s = 5\nsend_retries = 20")
    )
    recorder = Recorder(mosquitto.port)
    try:
        first = start_gateway(config, tmp_path / "gw1.out")  # no radio yet: the command must wait
        processes.append(first)
        recorder.wait_for(radio_state(recorder, "down"), what="the absent radio reported down")
        publish(mosquitto.port, f"{CMD}/send_status", {"id": "kill-1", "to": "P-1", "code": "8002"})
        first.wait_line("command send_status accepted")
        first.signal(signal.SIGKILL)
        assert first.popen.wait(10) == -signal.SIGKILL
        assert not payloads(recorder, "/result"), "killed before any result"

        processes.append(start_simulator("radio", link, "--log", str(sim_log), log=tmp_path / "sim.out"))
        processes.append(start_gateway(config, tmp_path / "gw2.out"))
        recorder.wait_for(lambda _: bool(payloads(recorder, "/result")), what="the kept command's result")
        publish(mosquitto.port, f"{CMD}/send_status", {"id": "later-1", "to": "P-1", "code": "8003"})
        recorder.wait_for(
            lambda _: any(r.get("id") == "later-1" for r in payloads(recorder, "/result")),
            what="a later command's result, after anything a redelivery would have done",
        )
        results = [r for r in payloads(recorder, "/result") if r.get("id") == "kill-1"]
        assert len(results) == 1
        recorder.wait_for(
            command_counts(recorder, replayed=int(executed), expired=int(not executed), in_progress=0),
            what="the health report counting the command found unfinished at start",
        )
        if executed:
            assert results[0]["ok"] is True and results[0]["state"] == "sent"
            assert status_sends(sim_log) == ["AT+CMGS=1234567,16", "AT+CMGS=1234567,16"], "once, then later-1"
        else:
            assert results[0]["ok"] is False and results[0]["state"] == "failed"
            assert "command_replay_max_age_s" in results[0]["error"]
            assert status_sends(sim_log) == ["AT+CMGS=1234567,16"], "only later-1 went out"
    finally:
        recorder.close()


def test_a_repeated_command_is_executed_once_and_answered_with_its_first_result(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    """A QoS 1 redelivery (a PUBACK lost with the connection) or a dispatcher retrying with the same id must
    not send the status twice over the air; the repeat gets the first result again."""
    link = tmp_path / "radio0"
    sim_log = tmp_path / "radio.log"
    processes.append(start_simulator("radio", link, "--log", str(sim_log), log=tmp_path / "sim.out"))
    processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
    recorder = Recorder(mosquitto.port)
    command = {"id": "rep-1", "to": "P-1", "code": "8002"}
    try:
        recorder.wait_for(radio_state(recorder, "up"), what="the radio up")
        publish(mosquitto.port, f"{CMD}/send_status", command)
        first = recorder.wait_count("/send_status/result", 1)[0].json()
        publish(mosquitto.port, f"{CMD}/send_status", command)
        second = recorder.wait_count("/send_status/result", 2)[1].json()
        assert first["state"] == "sent"
        second_seq, first_seq = second.pop("seq"), first.pop("seq")
        assert second == first
        assert second_seq > first_seq, "a new message, with a seq of its own"
        publish(mosquitto.port, f"{CMD}/send_status", {**command, "id": "rep-2"})
        recorder.wait_count("/send_status/result", 3)
        assert status_sends(sim_log) == ["AT+CMGS=1234567,16"] * 2, "rep-1 once, rep-2 once"
        recorder.wait_for(
            command_counts(recorder, received=3, repeated=1, in_progress=0),
            what="the repeat counted in health",
        )
    finally:
        recorder.close()
