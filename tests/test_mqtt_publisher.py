"""SpoolPublisher against a real mosquitto: acks by seq, aiomqtt's own publishes untouched, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import aiomqtt
import pytest
from paho.mqtt.client import CallbackOnPublish_v2
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.mqtt_publisher import SpoolPublisher
from gateway.spool import SpooledMessage
from tests.broker import Mosquitto

SAFETY_TIMEOUT_S = 30.0


def message(seq: int, *, qos: int = 1, correlation: bytes | None = None) -> SpooledMessage:
    return SpooledMessage(
        seq, "position", f"patrol/units/u{seq}/position", b"{}", qos, False, 0.0, correlation
    )


class Progress:
    """Counts ``on_progress`` calls and lets a test wait for the acked seqs it expects."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        self.event.set()

    async def collect(self, publisher: SpoolPublisher, count: int) -> list[int]:
        acked: list[int] = []
        async with asyncio.timeout(SAFETY_TIMEOUT_S):
            while len(acked) < count:
                self.event.clear()
                acked += publisher.take_acked()
                if len(acked) < count:
                    await self.event.wait()
        return acked


@pytest.fixture
async def client(mosquitto: Mosquitto) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as connected:
        yield connected


async def test_pubacks_come_back_as_seqs_and_empty_the_in_flight_view(client: aiomqtt.Client) -> None:
    progress = Progress()
    publisher = SpoolPublisher(client, mqtt5=True, on_progress=progress)
    seqs = list(range(1000, 1100))
    for seq in seqs:
        publisher.publish(message(seq))
    assert set(publisher.in_flight) <= set(seqs)
    acked = await progress.collect(publisher, len(seqs))
    assert sorted(acked) == seqs
    assert not publisher.in_flight
    assert publisher.take_acked() == []
    assert publisher.rejected == 0


async def test_qos0_is_done_once_written(client: aiomqtt.Client) -> None:
    progress = Progress()
    publisher = SpoolPublisher(client, mqtt5=True, on_progress=progress)
    publisher.publish(message(7, qos=0))
    assert await progress.collect(publisher, 1) == [7]
    assert not publisher.in_flight


async def test_correlation_data_reaches_a_subscriber(mosquitto: Mosquitto, client: aiomqtt.Client) -> None:
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as listener:
        await listener.subscribe("patrol/units/u5/position", qos=1)
        publisher = SpoolPublisher(client, mqtt5=True, on_progress=lambda: None)
        publisher.publish(message(5, correlation=b"req-42"))
        async with asyncio.timeout(SAFETY_TIMEOUT_S):
            received = await anext(aiter(listener.messages))
    assert received.properties is not None
    assert getattr(received.properties, "CorrelationData", None) == b"req-42"


async def test_aiomqtt_publishes_still_complete_while_attached(client: aiomqtt.Client) -> None:
    publisher = SpoolPublisher(client, mqtt5=True, on_progress=lambda: None)
    publisher.publish(message(1))
    async with asyncio.timeout(SAFETY_TIMEOUT_S):
        await client.publish("patrol/other", b"x", qos=1)  # its PUBACK goes on to aiomqtt's handler
    publisher.detach()
    async with asyncio.timeout(SAFETY_TIMEOUT_S):
        await client.publish("patrol/other", b"y", qos=1)


async def test_a_refused_message_is_counted_and_acknowledged(client: aiomqtt.Client) -> None:
    progress = Progress()
    publisher = SpoolPublisher(client, mqtt5=True, on_progress=progress)
    publisher.publish(message(9))
    (mid,) = (mid for mid, seq in publisher._seq_by_mid.items() if seq == 9)
    # The broker's answer, delivered before the loop gets to read the real PUBACK (which then goes to
    # aiomqtt's handler, as any PUBACK of a mid we do not know).
    refusal = ReasonCode(PacketTypes.PUBACK, identifier=0x87)  # not authorized
    paho_client = client._client
    on_publish = cast(CallbackOnPublish_v2, paho_client.on_publish)
    on_publish(paho_client, None, mid, refusal, Properties(PacketTypes.PUBACK))  # type: ignore[no-untyped-call]
    assert publisher.rejected == 1
    assert publisher.take_acked() == [9]
    assert not publisher.in_flight


async def test_a_publish_paho_refuses_raises_and_records_nothing(mosquitto: Mosquitto) -> None:
    client = aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5)  # not connected
    publisher = SpoolPublisher(client, mqtt5=True, on_progress=lambda: None)
    with pytest.raises(aiomqtt.MqttCodeError):
        publisher.publish(message(3))
    assert not publisher.in_flight
    assert publisher.take_acked() == []
