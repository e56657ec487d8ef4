"""``patrol-gateway doctor``: what an installer checks first, one line per finding.

For each configured device: is the path there, can we open it (permissions: the dialout group), does the
GNSS receiver speak NMEA and at which baud, does the radio answer ``AT`` and who is it (``AT+CNUMF?``).
Then: can we reach the broker. Exit status 0 when everything answered, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from pathlib import Path

import aiomqtt

from gateway.config import GnssSection, RadioSection, Settings
from gateway.drivers.serial_link import SerialLink
from gateway.errors import LinkError, PeiError
from gateway.protocols.nmea import GnssFix, NmeaProtocol
from gateway.protocols.pei import CommandCompleted, PeiProtocol, parse_cnumf

PROBE_S = 3.0
BROKER_TIMEOUT_S = 5.0


def _say(ok: bool, what: str) -> bool:
    print(f"[{'ok' if ok else 'FAIL'}] {what}", flush=True)
    return ok


def _check_path(port: str, what: str) -> bool:
    if "://" in port:
        return _say(True, f"{what}: {port} is a URL, opened by pyserial")
    path = Path(port)
    if not path.exists():
        return _say(False, f"{what}: {port} does not exist (unplugged? wrong udev name?)")
    if not os.access(path, os.R_OK | os.W_OK):
        return _say(False, f"{what}: {port} is not readable and writable by this user (add it to 'dialout')")
    return _say(True, f"{what}: {port} present, read/write allowed")


async def probe_gnss(settings: GnssSection) -> bool:
    assert settings.port is not None
    if not _check_path(settings.port, "GNSS"):
        return False
    bauds = settings.auto_bauds if settings.baud == "auto" else [settings.baud]
    for baud in bauds:
        try:
            link = await SerialLink.open(settings.port, baud)
        except LinkError as exc:
            return _say(False, f"GNSS: {exc}")
        protocol = NmeaProtocol()
        fixes: list[GnssFix] = []
        try:
            async with asyncio.timeout(PROBE_S):
                while not (protocol.valid_seen and fixes):
                    fixes += protocol.receive_data(await link.read())
        except (TimeoutError, LinkError):
            pass
        finally:
            await link.close()
        if protocol.valid_seen:
            detail = f", last fix {fixes[-1].fix}" if fixes else ""
            return _say(True, f"GNSS: NMEA at {baud} baud ({protocol.sentences} sentences{detail})")
    return _say(False, f"GNSS: no valid NMEA at {', '.join(map(str, bauds))} baud")


async def probe_radio(settings: RadioSection) -> bool:
    what = f"radio {settings.name}"
    if not _check_path(settings.port, what):
        return False
    try:
        link = await SerialLink.open(settings.port, settings.baud, rtscts=settings.rtscts)
    except LinkError as exc:
        return _say(False, f"{what}: {exc}")
    protocol = PeiProtocol(line_ending="\r\n" if settings.line_ending == "CRLF" else "\r")
    try:

        async def ask(command: str) -> CommandCompleted | None:
            await link.write(protocol.send(command, timeout_s=PROBE_S, now=time.monotonic()))
            deadline = time.monotonic() + PROBE_S
            while time.monotonic() < deadline:
                try:
                    async with asyncio.timeout(max(0.05, deadline - time.monotonic())):
                        data = await link.read()
                except TimeoutError:
                    break
                for event in protocol.receive_data(data, time.monotonic()):
                    if isinstance(event, CommandCompleted):
                        return event
            protocol.poll(time.monotonic() + PROBE_S * 2)
            return None

        answer = None
        for _ in range(3):
            answer = await ask("AT")
            if answer is not None and answer.ok:
                break
        if answer is None or not answer.ok:
            return _say(
                False, f"{what}: no OK to AT at {settings.baud} baud (baud? PEI enabled on the radio?)"
            )
        identity = await ask("AT+CNUMF?")
        who = "identity unknown"
        if identity is not None and identity.ok:
            with contextlib.suppress(PeiError):
                who = f"ISSI {parse_cnumf(identity.lines).issi}"
        return _say(True, f"{what}: PEI answers at {settings.baud} baud, {who}")
    except LinkError as exc:
        return _say(False, f"{what}: {exc}")
    finally:
        await link.close()


async def probe_broker(settings: Settings) -> bool:
    mqtt = settings.mqtt
    tls = ssl.create_default_context(cafile=str(mqtt.ca_file) if mqtt.ca_file else None) if mqtt.tls else None
    if tls is not None and mqtt.cert_file:
        tls.load_cert_chain(str(mqtt.cert_file), str(mqtt.key_file) if mqtt.key_file else None)
    try:
        async with asyncio.timeout(BROKER_TIMEOUT_S):
            async with aiomqtt.Client(
                mqtt.host,
                mqtt.port,
                username=mqtt.username,
                password=mqtt.password.get_secret_value() if mqtt.password else None,
                tls_context=tls,
                protocol=aiomqtt.ProtocolVersion.V5 if mqtt.protocol == "5" else aiomqtt.ProtocolVersion.V311,
            ):
                pass
    except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
        return _say(False, f"broker {mqtt.url}: {exc or 'timed out'}")
    return _say(True, f"broker {mqtt.url}: connected")


async def run_doctor(settings: Settings) -> int:
    results: list[bool] = []
    if settings.gnss.port:
        results.append(await probe_gnss(settings.gnss))
    else:
        _say(True, "GNSS: none configured (gnss.port absent)")
    for radio in settings.radios:
        results.append(await probe_radio(radio))
    if not settings.radios:
        _say(True, "radios: none configured")
    results.append(await probe_broker(settings))
    return 0 if all(results) else 1
