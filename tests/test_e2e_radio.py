"""TETRA end to end: patrol-sim radio on a pty -> patrol-gateway run -> real mosquitto, and commands back."""

from __future__ import annotations

import json
import signal
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.config import DEFAULT_SEND_RETRIES
from gateway.protocols import sds
from gateway.protocols.bits import SdsPayload
from gateway.schemas import validate
from tests.broker import Mosquitto
from tests.harness import Process, Recorder, publish, start_gateway, start_simulator, write_config

GW = "base-1"
RADIO_ISSI = 9000
UNITS = {"1234567": "P-1", "2269001": "P-2", "23404": "P-3", "3000001": "P-4", "4000001": "P-5"}
FLEET_BASE = 1001001
LIP_STEP_DEG = 360 / 2**25  # the coarsest LIP coordinate step (longitude)


def gateway_config(
    tmp_path: Path, broker: Mosquitto, link: Path, units: dict[str, str] | None = None
) -> Path:
    table = "\n".join(f'"{issi}" = "{unit}"' for issi, unit in (units or UNITS).items())
    return write_config(
        tmp_path / "gateway.toml",
        f"""
[gateway]
id = "{GW}"
health_interval_s = 0.5

[mqtt]
url = "{broker.url}"
reconnect_min_s = 0.1
reconnect_max_s = 0.5

[[radios]]
port = "{link}"
name = "base"
poll_interval_s = 1
command_timeout_s = 1
reconnect_min_s = 0.1
reconnect_max_s = 0.5
send_retry_backoff_s = 0.1

[units]
{table}

[groups]
"9100" = "ALL-PATROLS"

[status_codes]
"8002" = "available"
"8004" = "on scene"

[spool]
path = "{tmp_path / "spool.db"}"
""",
    )


def payloads(recorder: Recorder, suffix: str) -> list[dict[str, Any]]:
    return [m.json() for m in recorder.on(suffix)]


def newest(recorder: Recorder, suffix: str, holds: Callable[[dict[str, Any]], bool]) -> Any:
    """A wait condition: the newest JSON payload on ``*suffix`` exists and ``holds``."""

    def check(_: Any) -> bool:
        found = payloads(recorder, suffix)
        return bool(found) and holds(found[-1])

    return check


def radio_state(recorder: Recorder, state: str) -> Any:
    return newest(recorder, f"/gateways/{GW}/radios/base", lambda radio: radio["state"] == state)


def test_scripted_traffic_arrives_on_the_right_topics(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    concat = sds.split_text(
        "Patrola P-6: nesreča na obvoznici, dva vozila, ena oseba poškodovana. Zaprt desni pas proti Kranju.",
        max_bits=300,
        first_message_reference=40,
        concat_reference=0xC9,
    )
    assert len(concat) > 1
    concat_lines = [
        line for part in concat for line in (f"+CTSDSR: 12,6000001,0,{RADIO_ISSI},0,{part.bits}", part.hex())
    ]
    script = tmp_path / "traffic.script"
    script.write_text(
        "\n".join(
            [
                "# real vectors from tetra.md, in the order a base station might hear them",
                f"@1 +CTSDSR: 12,2269001,0,{RADIO_ISSI},0,84",
                "0A112853A9FF4D4FFFE810",
                "+CTSDSR: 13,1234567,0,2345678,0,16",
                "8004",
                f"+CTSDSR: 12,3000001,0,{RADIO_ISSI},0,84",
                "0A0BA7D5B95BC50AFFE16",
                "+CTSDSR: 12,1234567,0,4378565,0,88",
                "0A30000000000007FFE810",
                f"+CTSDSR: 12,23404,0,{RADIO_ISSI},0,112",
                "82040801476A61746A616A676A61",
                f"+CTSDSR: 12,4000001,0,{RADIO_ISSI},0,104",
                "0A4E73DDA841F55809493CC081",
                "# a header whose payload never comes",
                f"+CTSDSR: 12,5000001,0,{RADIO_ISSI},0,84",
                f"+CTSDSR: 12,5000002,0,{RADIO_ISSI},0,120",
                "82029C01746573746D657373616765",
                f"+CTSDSR: 13,2269001,0,{RADIO_ISSI},0,16",
                "0000",
                "+CTICN: 7,0,0,0,4000001,1,1,0,1,1,0,9000,15",
                "+ENCR: 15,1,0",
                *concat_lines,
                "@0.2 +CTSDSR: 13,1234567,0,2345678,0,16",
                "8002",
            ]
        )
        + "\n"
    )
    link = tmp_path / "radio0"
    sim_log = tmp_path / "radio.log"
    processes.append(
        start_simulator(
            "radio",
            link,
            "--issi",
            str(RADIO_ISSI),
            "--script",
            str(script),
            "--log",
            str(sim_log),
            log=tmp_path / "s",
        )
    )
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
        recorder.wait_for(
            lambda _: any(p["hex"] == "8002" for p in payloads(recorder, "/units/P-1/status")),
            what="the last scripted status",
        )
        recorder.wait_for(
            lambda _: len(payloads(recorder, "/units/6000001/text")) == 1, what="the joined text"
        )

        motorola = payloads(recorder, "/units/P-2/position")[0]
        assert motorola["lon"] == pytest.approx(26.044346, abs=1e-6)
        assert motorola["lat"] == pytest.approx(44.938642, abs=1e-6)
        assert motorola["source"] == "lip" and motorola["issi"] == 2269001 and motorola["fix"] == "2d"
        assert motorola["reason"] == "max_interval_exceeded" and "accuracy_m" not in motorola

        sepura = payloads(recorder, "/units/P-4/position")[0]
        assert sepura["lon"] == pytest.approx(-97.748891, abs=1e-6)  # western: negative
        assert sepura["lat"] == pytest.approx(30.565692, abs=1e-6)
        assert sepura["accuracy_m"] == 200

        no_position = payloads(recorder, "/units/P-1/position")[0]
        assert no_position["fix"] == "none" and "lat" not in no_position and "lon" not in no_position

        long_report = payloads(recorder, "/units/P-5/position")[0]
        assert long_report["lon"] == pytest.approx(11.015854, abs=1e-6)
        assert long_report["lat"] == pytest.approx(52.234218, abs=1e-6)
        assert long_report["time"][8:19] == "14T15:29:42"

        statuses = payloads(recorder, "/units/P-1/status")
        assert [(s["code"], s["hex"], s.get("label"), s["to"]) for s in statuses] == [
            (0x8004, "8004", "on scene", 2345678),
            (0x8002, "8002", "available", 2345678),
        ]

        text = payloads(recorder, "/units/P-3/text")[0]
        assert text["text"] == "Gjatjajgja" and text["issi"] == 23404 and text["to"] == RADIO_ISSI
        unmapped = payloads(recorder, "/units/5000002/text")[0]
        assert unmapped["text"] == "testmessage" and unmapped["unit"] == "5000002"
        joined = payloads(recorder, "/units/6000001/text")[0]
        assert joined["text"].startswith("Patrola P-6") and joined["text"].endswith("proti Kranju.")

        emergencies = {e["kind"]: e for e in payloads(recorder, "/emergency")}
        assert emergencies["status"]["unit"] == "P-2" and emergencies["status"]["code"] == 0
        assert emergencies["status"]["position"]["lat"] == pytest.approx(44.938642, abs=1e-6)
        assert emergencies["call"]["unit"] == "P-5" and emergencies["call"]["issi"] == 4000001
        assert payloads(recorder, "/units/5000001/position") == [], "the header without payload was dropped"

        for message in recorder.messages:
            kind = message.topic.split("/")[-1]
            if message.topic.startswith("patrol/units/"):
                validate(kind, message.json())
            elif "/radios/" in message.topic:
                validate("radio", message.json())
            elif kind == "health":
                validate("health", message.json())

        sent = sim_log.read_text().splitlines()
        assert "AT+CMGS=23404,32" in sent and sent[sent.index("AT+CMGS=23404,32") + 1] == "82100008"
        recorder.wait_for(
            lambda _: (
                payloads(recorder, f"/gateways/{GW}/health")[-1]["devices"]["base"]["counters"].get(
                    "sds_header_expired", 0
                )
                >= 1
            ),
            what="the expired header counted in health",
        )
        assert "OK" in payloads(recorder, f"/gateways/{GW}/health")[-1]["devices"]["base"]["recent_lines"]
    finally:
        recorder.close()


def test_dispatcher_commands_go_out_as_at_commands_with_results(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    link = tmp_path / "radio0"
    sim_log = tmp_path / "radio.log"
    processes.append(
        start_simulator(
            "radio", link, "--issi", str(RADIO_ISSI), "--log", str(sim_log), log=tmp_path / "sim.out"
        )
    )
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
        recorder.wait_for(radio_state(recorder, "up"), what="the radio up")
        cmd = f"patrol/gateways/{GW}/cmd"
        publish(mosquitto.port, f"{cmd}/send_status", {"id": "s-1", "to": "P-1", "code": "8003"})
        publish(mosquitto.port, f"{cmd}/send_text", {"id": "t-1", "to": 2269001, "text": "Javite se na 112."})
        publish(mosquitto.port, f"{cmd}/send_status", {"id": "bad-1", "to": "P-1", "code": "80G3"})
        publish(mosquitto.port, f"{cmd}/send_status", {"id": "g-1", "to": "ALL-PATROLS", "code": "8002"})
        publish(mosquitto.port, f"{cmd}/send_text", b"{not json")

        def results(_: Any) -> bool:
            got = payloads(recorder, "/result")
            states = {(r.get("id"), r.get("state")) for r in got}
            return {
                ("s-1", "sent"),
                ("t-1", "sent"),
                ("t-1", "delivered"),
                ("bad-1", None),
            } <= states and any("id" not in r for r in got)

        recorder.wait_for(results, what="all results")
        by_id = defaultdict(list)
        for result in payloads(recorder, "/result"):
            validate("command-result", result)
            by_id[result.get("id")].append(result)
        assert [r["state"] for r in by_id["s-1"]] == ["sent"] and by_id["s-1"][0]["ok"] is True
        assert [r["state"] for r in by_id["t-1"]] == ["sent", "delivered"]
        assert by_id["bad-1"][0]["ok"] is False and "hex" in by_id["bad-1"][0]["error"]
        assert by_id[None][0]["ok"] is False and "JSON" in by_id[None][0]["error"]

        sent = sim_log.read_text().splitlines()
        status_at = sent.index("AT+CMGS=1234567,16")
        assert sent[status_at - 1] == "AT+CTSDS=13,0" and sent[status_at + 1] == "8003"
        text_at = next(i for i, line in enumerate(sent) if line.startswith("AT+CMGS=2269001,"))
        assert sent[text_at - 1] == "AT+CTSDS=12,0"
        bits = int(sent[text_at].split(",")[1])
        message = sds.decode_sds(12, SdsPayload.from_hex(sent[text_at + 1], bits))
        assert (
            isinstance(message, sds.TextMessage)
            and message.text == "Javite se na 112."
            and message.needs_report
        )
        assert not any("80G3" in line for line in sent), "a bad command sends nothing"
        group_at = sent.index("AT+CMGS=9100,16")
        assert sent[group_at - 1] == "AT+CTSDS=13,1", "a talkgroup is addressed with the group type"
    finally:
        recorder.close()


def test_refused_send_is_retried_then_reported_failed(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    link = tmp_path / "radio0"
    sim_log = tmp_path / "radio.log"
    processes.append(
        start_simulator("radio", link, "--fail-sends", "--log", str(sim_log), log=tmp_path / "sim.out")
    )
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
        recorder.wait_for(radio_state(recorder, "up"), what="the radio up")
        publish(
            mosquitto.port,
            f"patrol/gateways/{GW}/cmd/send_status",
            {"id": "s-9", "to": 1234567, "code": 32770},
        )
        recorder.wait_for(lambda _: bool(payloads(recorder, "/result")), what="the result")
        result = payloads(recorder, "/result")[0]
        assert result["ok"] is False and result["state"] == "failed" and "31" in result["error"]
        attempts = [line for line in sim_log.read_text().splitlines() if line == "AT+CMGS=1234567,16"]
        assert len(attempts) == 1 + DEFAULT_SEND_RETRIES, "the first try and the configured retries"
    finally:
        recorder.close()


def fleet_positions_after(recorder: Recorder, count: int) -> Any:
    def check(_: Any) -> bool:
        return sum(1 for m in recorder.messages if m.topic.endswith("/position")) >= count

    return check


@pytest.mark.parametrize("fault", ["--reboot-after", "unplug"])
def test_radio_reboot_and_unplug_mid_stream_are_survived(
    fault: str, tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    link = tmp_path / "radio0"
    sim_log = tmp_path / "radio.log"
    extra = ["--reboot-after", "2"] if fault == "--reboot-after" else []
    sim = start_simulator(
        "radio", link, "--fleet", "5", "--rate", "10", "--log", str(sim_log), *extra, log=tmp_path / "sim.out"
    )
    processes.append(sim)
    recorder = Recorder(mosquitto.port)
    try:
        gateway = start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out")
        processes.append(gateway)
        recorder.wait_for(fleet_positions_after(recorder, 5), what="fleet traffic")
        if fault == "unplug":
            sim.signal(signal.SIGUSR1)
        recorder.wait_for(radio_state(recorder, "down"), what="the radio seen down")
        if fault == "unplug":
            sim.signal(signal.SIGUSR1)
        recorder.wait_for(radio_state(recorder, "up"), what="the radio up again")
        before = sum(1 for m in recorder.messages if m.topic.endswith("/position"))
        recorder.wait_for(fleet_positions_after(recorder, before + 10), what="traffic after recovery")
        registrations = [line for line in sim_log.read_text().splitlines() if line == "AT+CTSP=1,3,130"]
        assert len(registrations) >= 2, "the init sequence ran again after recovery"
        assert gateway.popen.poll() is None
        availability = [m.payload for m in recorder.on(f"/gateways/{GW}/availability")]
        assert availability == [b"online"]
    finally:
        recorder.close()


@pytest.mark.slow
def test_fleet_of_50_at_20_per_second_for_a_minute_arrives_complete(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    link = tmp_path / "radio0"
    manifest = tmp_path / "manifest.jsonl"
    sim = start_simulator(
        "radio",
        link,
        "--fleet",
        "50",
        "--rate",
        "20",
        "--emergency-every",
        "10",
        "--manifest",
        str(manifest),
        "--seed",
        "7",
        log=tmp_path / "sim.out",
    )
    processes.append(sim)
    recorder = Recorder(mosquitto.port)
    try:
        units = {str(FLEET_BASE + n): f"CAR-{n:02d}" for n in range(50)}
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link, units), tmp_path / "gw.out"))

        def emitted() -> int:
            return len(manifest.read_text().splitlines()) if manifest.exists() else 0

        recorder.wait_for(
            lambda _: emitted() >= 20 * 60, timeout=120, what="a minute of fleet traffic", recheck_s=0.1
        )
        sim.stop()
        records = [json.loads(line) for line in manifest.read_text().splitlines()]
        expected: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            kind = {"lip_short": "position", "lip_long": "position"}.get(record["kind"], record["kind"])
            expected[(units[str(record["issi"])], kind)].append(record)
        total = sum(len(v) for v in expected.values())

        def arrived(_: Any) -> bool:
            return (
                sum(1 for m in recorder.messages if m.topic.split("/")[-1] in ("position", "status", "text"))
                >= total
            )

        recorder.wait_for(arrived, timeout=120, what=f"all {total} fleet messages")
        got: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for message in recorder.messages:
            parts = message.topic.split("/")
            if parts[1] == "units" and parts[3] in ("position", "status", "text"):
                got[(parts[2], parts[3])].append(message.json())
        assert set(got) == set(expected)
        for key, records_for_key in expected.items():
            received = got[key]
            assert len(received) == len(records_for_key), f"{key}: {len(received)} of {len(records_for_key)}"
            for record, payload in zip(records_for_key, received, strict=True):
                values = record["values"]
                if key[1] == "position":
                    assert payload["lat"] == pytest.approx(values["lat"], abs=LIP_STEP_DEG)
                    assert payload["lon"] == pytest.approx(values["lon"], abs=LIP_STEP_DEG)
                elif key[1] == "status":
                    assert payload["code"] == values["code"], key
                else:
                    assert payload["text"] == values["text"], key
        emergencies = [m.json() for m in recorder.messages if m.topic.endswith("/emergency")]
        expected_emergencies = sum(1 for r in records if r["kind"] == "status" and r["values"]["code"] == 0)
        assert expected_emergencies >= 1
        assert len([e for e in emergencies if e["kind"] == "status"]) == expected_emergencies
        seqs = [m.json()["seq"] for m in recorder.messages if m.topic.startswith("patrol/units/")]
        assert len(seqs) == len(set(seqs))
    finally:
        recorder.close()


def test_hostile_radio_garbage_split_odd_hex_missing_payloads(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    """Everything a bad radio does at once: nothing wrong is published, everything decodable arrives."""
    link = tmp_path / "radio0"
    manifest = tmp_path / "manifest.jsonl"
    faults = ["--split", "--garbage", "0.2", "--odd-hex", "--cme-on-open", "--missing-payload", "0.1"]
    sim = start_simulator(
        "radio",
        link,
        "--fleet",
        "10",
        "--rate",
        "20",
        "--manifest",
        str(manifest),
        "--seed",
        "3",
        *faults,
        log=tmp_path / "sim.out",
    )
    processes.append(sim)
    recorder = Recorder(mosquitto.port)
    try:
        units = {str(FLEET_BASE + n): f"CAR-{n:02d}" for n in range(10)}
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link, units), tmp_path / "gw.out"))
        recorder.wait_for(fleet_positions_after(recorder, 100), timeout=60, what="traffic through the faults")
        sim.stop()
        records = [json.loads(line) for line in manifest.read_text().splitlines()]
        sent_positions = [
            (units[str(r["issi"])], r["values"]["lat"], r["values"]["lon"])
            for r in records
            if r["kind"].startswith("lip")
        ]
        positions = [m.json() for m in recorder.messages if m.topic.endswith("/position")]
        for position in positions:
            validate("position", position)
            assert any(
                unit == position["unit"]
                and abs(lat - position["lat"]) <= LIP_STEP_DEG
                and abs(lon - position["lon"]) <= LIP_STEP_DEG
                for unit, lat, lon in sent_positions
            ), f"published a position the fleet never sent: {position}"
        statuses = [m.json() for m in recorder.messages if m.topic.endswith("/status")]
        sent_codes = {(units[str(r["issi"])], r["values"]["code"]) for r in records if r["kind"] == "status"}
        assert all((s["unit"], s["code"]) in sent_codes for s in statuses)
        states = payloads(recorder, f"/gateways/{GW}/radios/base")
        assert "up" in [s["state"] for s in states]
    finally:
        recorder.close()


def test_request_location_and_long_text(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    """A location request is answered on the unit's position topic; a long text goes out in several parts."""
    link = tmp_path / "radio0"
    sim_log = tmp_path / "radio.log"
    sim = start_simulator(
        "radio",
        link,
        "--fleet",
        "3",
        "--rate",
        "0.2",
        "--log",
        str(sim_log),
        "--seed",
        "5",
        log=tmp_path / "sim.out",
    )
    processes.append(sim)
    recorder = Recorder(mosquitto.port)
    try:
        units = {str(FLEET_BASE + n): f"CAR-{n:02d}" for n in range(3)}
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link, units), tmp_path / "gw.out"))
        recorder.wait_for(radio_state(recorder, "up"), what="the radio up")
        cmd = f"patrol/gateways/{GW}/cmd"
        publish(mosquitto.port, f"{cmd}/request_location", {"id": "loc-1", "to": "CAR-01"})
        recorder.wait_for(
            lambda _: any(
                p.get("reason") == "response_to_immediate_request"
                for p in payloads(recorder, "/units/CAR-01/position")
            ),
            what="the requested position",
        )
        answer = next(
            p
            for p in payloads(recorder, "/units/CAR-01/position")
            if p.get("reason") == "response_to_immediate_request"
        )
        assert answer["source"] == "lip" and answer["issi"] == FLEET_BASE + 1 and "lat" in answer
        sent = sim_log.read_text().splitlines()
        location_sends = [i for i, line in enumerate(sent) if line.startswith(f"AT+CMGS={FLEET_BASE + 1},")]
        assert location_sends and sent[location_sends[0] - 1] == "AT+CTSDS=12,0"

        long_text = (
            "Vse enote: "
            + "zapora ceste med Vičem in Rudnikom zaradi prometne nesreče, obvoz po Barjanski. " * 3
        )
        publish(mosquitto.port, f"{cmd}/send_text", {"id": "long-1", "to": FLEET_BASE + 2, "text": long_text})
        recorder.wait_for(
            lambda _: any(r.get("id") == "long-1" for r in payloads(recorder, "/result")),
            what="the long text result",
        )
        result = next(r for r in payloads(recorder, "/result") if r.get("id") == "long-1")
        assert result["ok"] is True and result["state"] == "sent"
        sent = sim_log.read_text().splitlines()
        parts = [i for i, line in enumerate(sent) if line.startswith(f"AT+CMGS={FLEET_BASE + 2},")]
        assert len(parts) >= 2, "a long text is sent as concatenated parts"
        reassembler = sds.ConcatReassembler(60)
        joined = None
        for index in parts:
            bits = int(sent[index].split(",")[1])
            assert bits <= 668
            message = sds.decode_sds(12, SdsPayload.from_hex(sent[index + 1], bits))
            assert isinstance(message, sds.TextMessage) and message.concat is not None
            joined = reassembler.add("gw", message, 0.0) or joined
        assert joined is not None and joined.text == long_text
    finally:
        recorder.close()


def test_base_station_with_two_radios(tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]) -> None:
    """Any number of radios: each publishes its own traffic and state; a command picks its radio by name."""
    links, logs = [], []
    for index, issi in enumerate((9001, 9002)):
        script = tmp_path / f"radio{index}.script"
        script.write_text(
            f"@0.5 +CTSDSR: 13,{1234567 if index == 0 else 2269001},0,{issi},0,16\n800{index + 2}\n"
        )
        links.append(tmp_path / f"radio{index}")
        logs.append(tmp_path / f"radio{index}.log")
        processes.append(
            start_simulator(
                "radio",
                links[-1],
                "--issi",
                str(issi),
                "--script",
                str(script),
                "--log",
                str(logs[-1]),
                log=tmp_path / f"sim{index}.out",
            )
        )
    config = gateway_config(tmp_path, mosquitto, links[0])
    text = config.read_text()
    second = text[text.index("[[radios]]") : text.index("[units]")].replace(str(links[0]), str(links[1]))
    config.write_text(text.replace("[units]", second.replace('name = "base"', 'name = "north"') + "[units]"))
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(start_gateway(config, tmp_path / "gw.out"))
        recorder.wait_for(
            lambda _: (
                bool(payloads(recorder, "/units/P-1/status"))
                and bool(payloads(recorder, "/units/P-2/status"))
            ),
            what="a status through each radio",
        )
        assert payloads(recorder, "/units/P-1/status")[0]["to"] == 9001
        assert payloads(recorder, "/units/P-2/status")[0]["to"] == 9002
        for name, issi in (("base", 9001), ("north", 9002)):
            recorder.wait_for(
                lambda _, n=name: any(p["state"] == "up" for p in payloads(recorder, f"/radios/{n}")),
                what=f"radio {name} up",
            )
            assert next(p for p in payloads(recorder, f"/radios/{name}") if "issi" in p)["issi"] == issi
        publish(
            mosquitto.port,
            f"patrol/gateways/{GW}/cmd/send_status",
            {"id": "n-1", "to": "P-1", "code": 32770, "radio": "north"},
        )
        publish(
            mosquitto.port,
            f"patrol/gateways/{GW}/cmd/send_status",
            {"id": "x-1", "to": "P-1", "code": 1, "radio": "x"},
        )
        recorder.wait_for(lambda _: len(payloads(recorder, "/result")) >= 2, what="both results")
        results = {r["id"]: r for r in payloads(recorder, "/result")}
        assert results["n-1"]["ok"] is True
        assert results["x-1"]["ok"] is False and "north" in results["x-1"]["error"]
        assert "AT+CMGS=1234567,16" in logs[1].read_text().splitlines()
        assert "AT+CMGS=1234567,16" not in logs[0].read_text().splitlines()
    finally:
        recorder.close()


def test_command_while_the_radio_is_unplugged_fails_with_a_reason(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(
            start_gateway(
                gateway_config(tmp_path, mosquitto, tmp_path / "no-such-radio"), tmp_path / "gw.out"
            )
        )
        recorder.wait_for(radio_state(recorder, "down"), what="the absent radio reported down")
        publish(
            mosquitto.port,
            f"patrol/gateways/{GW}/cmd/send_text",
            {"id": "t-down", "to": 1234567, "text": "x"},
        )
        recorder.wait_for(lambda _: bool(payloads(recorder, "/result")), what="the result")
        result = payloads(recorder, "/result")[0]
        assert result["id"] == "t-down" and result["ok"] is False and result["state"] == "failed"
        assert "down" in result["error"]
    finally:
        recorder.close()


def test_radio_that_restarts_on_its_own_is_registered_again_at_once(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    """A radio that reboots between polls prints its power-up lines and forgets the PID registrations; the
    gateway registers again straight away (not at the next poll), and leaves the radio's mode alone."""
    script = tmp_path / "after-reboot.script"
    script.write_text("@7 +CTSDSR: 13,1234567,0,9000,0,16\n8004\n")
    link = tmp_path / "radio0"
    sim_log = tmp_path / "radio.log"
    processes.append(
        start_simulator(
            "radio",
            link,
            "--reboot-after",
            "2",
            "--script",
            str(script),
            "--log",
            str(sim_log),
            log=tmp_path / "s",
        )
    )
    config = gateway_config(tmp_path, mosquitto, link)
    config.write_text(config.read_text().replace("poll_interval_s = 1", "poll_interval_s = 300"))
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(start_gateway(config, tmp_path / "gw.out"))
        recorder.wait_for(
            lambda _: bool(payloads(recorder, "/units/P-1/status")), what="the status after the reboot"
        )
        sent = sim_log.read_text().splitlines()
        assert sent.count("AT+CTSP=1,3,130") == 2, "registered again after the reboot"
        assert sent.count("AT+CTOM=0") == 1, "the mode is left as the radio has it"
        states = [p["state"] for p in payloads(recorder, f"/gateways/{GW}/radios/base")]
        assert "down" not in states, "no reconnect was needed"
    finally:
        recorder.close()


def test_a_message_the_radio_accepted_but_could_not_transmit_is_reported_failed(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    """`sent` once the radio accepted it; then the radio's final +CMGS says the transmission failed."""
    link = tmp_path / "radio0"
    processes.append(start_simulator("radio", link, "--lose-over-air", log=tmp_path / "sim.out"))
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
        recorder.wait_for(radio_state(recorder, "up"), what="the radio up")
        cmd = f"patrol/gateways/{GW}/cmd"
        publish(mosquitto.port, f"{cmd}/send_text", {"id": "lost-1", "to": "P-2", "text": "Javite se."})
        publish(mosquitto.port, f"{cmd}/send_status", {"id": "lost-2", "to": "P-2", "code": 32771})

        def states(command_id: str) -> list[str]:
            return [r["state"] for r in payloads(recorder, "/result") if r.get("id") == command_id]

        recorder.wait_for(
            lambda _: states("lost-1") == ["sent", "failed"] and states("lost-2") == ["sent", "failed"],
            what="sent, then failed, for both",
        )
        failed = [r for r in payloads(recorder, "/result") if r["state"] == "failed"]
        assert all(r["ok"] is False and "over the air" in r["error"] for r in failed)
        for result in payloads(recorder, "/result"):
            validate("command-result", result)
    finally:
        recorder.close()


def test_mqtt5_response_topic_and_correlation_data_are_honoured(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    import threading

    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    link = tmp_path / "radio0"
    processes.append(start_simulator("radio", link, log=tmp_path / "sim.out"))
    recorder = Recorder(mosquitto.port)
    replies: list[paho.MQTTMessage] = []
    got_reply = threading.Event()
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="dispatch-v5", protocol=paho.MQTTv5)
    client.on_subscribe = lambda *args: subscribed.set()

    def on_message(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        replies.append(message)
        got_reply.set()

    client.on_message = on_message
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        client.subscribe("dispatch/replies/console-7", qos=1)
        assert subscribed.wait(30)
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
        recorder.wait_for(radio_state(recorder, "up"), what="the radio up")
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = "dispatch/replies/console-7"
        properties.CorrelationData = b"\x00req-42"
        command = json.dumps({"id": "v5-1", "to": "P-1", "code": 32770}).encode()
        client.publish(f"patrol/gateways/{GW}/cmd/send_status", command, qos=1, properties=properties)
        assert got_reply.wait(30), "a result on the response topic"
        reply = replies[0]
        assert json.loads(reply.payload)["id"] == "v5-1" and json.loads(reply.payload)["state"] == "sent"
        assert reply.properties.CorrelationData == b"\x00req-42"
        recorder.wait_for(
            lambda _: any(r.get("id") == "v5-1" for r in payloads(recorder, "/cmd/send_status/result")),
            what="the same result on the result topic",
        )
    finally:
        client.disconnect()
        client.loop_stop()
        recorder.close()


@pytest.mark.parametrize(
    ("protocol", "session_expiry_s", "kept"),
    [("5", 600, True), ("3.1.1", 600, True), ("5", 0, False)],
    ids=["mqtt5", "mqtt311", "clean-session"],
)
def test_a_command_sent_while_the_gateway_is_away_is_executed_when_it_returns(
    tmp_path: Path,
    mosquitto: Mosquitto,
    processes: list[Process],
    protocol: str,
    session_expiry_s: int,
    kept: bool,
) -> None:
    """The broker keeps the gateway's session (its command subscription and the QoS 1 commands queued for
    it) for ``mqtt.session_expiry_s`` while the gateway restarts; with 0 the session is clean and such a
    command is lost -- the control case that shows the broker, not luck, carried it."""
    link = tmp_path / "radio0"
    sim_log = tmp_path / "radio.log"
    processes.append(start_simulator("radio", link, "--log", str(sim_log), log=tmp_path / "sim.out"))
    config = gateway_config(tmp_path, mosquitto, link)
    config.write_text(
        config.read_text().replace(
            "[mqtt]\n", f'[mqtt]\nprotocol = "{protocol}"\nsession_expiry_s = {session_expiry_s}\n'
        )
    )
    cmd = f"patrol/gateways/{GW}/cmd"
    recorder = Recorder(mosquitto.port)

    def result_ids() -> set[str]:
        return {r.get("id") for r in payloads(recorder, "/result")}

    def availability() -> list[bytes]:
        return [m.payload for m in recorder.on(f"/gateways/{GW}/availability")]

    try:
        first = start_gateway(config, tmp_path / "gw1.out")
        processes.append(first)
        recorder.wait_for(radio_state(recorder, "up"), what="the radio up")
        assert first.stop() == 0
        recorder.wait_for(lambda _: availability()[-1:] == [b"offline"], what="offline")

        publish(
            mosquitto.port, f"{cmd}/send_text", {"id": "away-1", "to": "P-1", "text": "Dok ste bili van."}
        )
        processes.append(start_gateway(config, tmp_path / "gw2.out"))
        recorder.wait_for(lambda _: availability()[-1:] == [b"online"], what="online again")
        publish(mosquitto.port, f"{cmd}/send_status", {"id": "after-1", "to": "P-1", "code": "8002"})
        recorder.wait_for(lambda _: "after-1" in result_ids(), what="the result of the later command")
        if kept:
            recorder.wait_for(lambda _: "away-1" in result_ids(), what="the queued command's result")
            away = [r for r in payloads(recorder, "/result") if r.get("id") == "away-1"]
            assert away[0]["ok"] is True and away[0]["state"] == "sent"
            assert any(line.startswith("AT+CMGS=1234567,") for line in sim_log.read_text().splitlines())
        else:
            assert "away-1" not in result_ids(), "a clean session does not keep commands"
        sent = sim_log.read_text().splitlines()
        texts = [i for i, line in enumerate(sent) if line == "AT+CTSDS=12,0"]
        assert len(texts) == (1 if kept else 0), "the queued text goes out exactly once, or not at all"
    finally:
        recorder.close()


def test_garbage_on_open_split_anywhere_does_not_shift_the_answers(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    """A radio that prints ``+CME ERROR: 35`` on open, in pieces, leaves a late OK behind: if that OK were
    taken as the next command's answer, every answer after it would belong to the command before (no
    identity, no signal). The radio state must carry both."""
    link = tmp_path / "radio0"
    processes.append(start_simulator("radio", link, "--cme-on-open", "--split", log=tmp_path / "sim.out"))
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
        recorder.wait_for(radio_state(recorder, "up"), what="the radio up")
        state = payloads(recorder, f"/gateways/{GW}/radios/base")[-1]
        assert state["issi"] == 9000 and state["signal_dbm"] == -65, state
    finally:
        recorder.close()


def test_an_older_lip_report_does_not_replace_the_retained_newer_position(
    tmp_path: Path, mosquitto: Mosquitto, processes: list[Process]
) -> None:
    """The long report of tetra.md is dated the 14th, 15:29:42 -- before the short report heard just ahead
    of it. Both reach live subscribers; the retained position, what a dispatcher connecting later sees,
    stays the newer one."""
    link = tmp_path / "radio0"
    script = tmp_path / "late.script"
    script.write_text(
        f"@0.5 +CTSDSR: 12,2269001,0,{RADIO_ISSI},0,84\n0A112853A9FF4D4FFFE810\n"
        f"+CTSDSR: 12,2269001,0,{RADIO_ISSI},0,104\n0A4E73DDA841F55809493CC081\n"
    )
    processes.append(start_simulator("radio", link, "--script", str(script), log=tmp_path / "sim.out"))
    recorder = Recorder(mosquitto.port)
    try:
        processes.append(start_gateway(gateway_config(tmp_path, mosquitto, link), tmp_path / "gw.out"))
        live = [m.json() for m in recorder.wait_count("/units/P-2/position", 2)]
        assert [round(p["lon"], 6) for p in live] == [26.044346, 11.015854], "both published, in order"
        assert live[1]["time"] < live[0]["time"]
    finally:
        recorder.close()
    later = Recorder(mosquitto.port, topics=["patrol/units/P-2/position"])
    try:
        (retained,) = later.wait_count("/units/P-2/position", 1)
        assert retained.retain and round(retained.json()["lon"], 6) == 26.044346
    finally:
        later.close()
