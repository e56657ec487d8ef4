"""Pipelined QoS 1 publishing of spooled messages: one dict of in-flight messages, acks collected in batches.

aiomqtt's ``Client.publish`` costs a coroutine, an ``asyncio.Event``, a ``wait_for`` and an O(in-flight)
scan of its pending calls per message; awaiting it from one task per message adds a task each. At thousands
of messages per second that bookkeeping was a quarter of the gateway's CPU (bench/README.md). This module is
the one small interface the bridge publishes spooled messages through, instead:

- ``publish(message)`` hands the message to the connection's paho client without waiting and remembers
  ``mid -> seq``;
- paho's ``on_publish`` callback (run from the event loop's socket reader, once per PUBACK) moves the seq to
  an "acknowledged" list and calls ``on_progress`` -- the bridge's drain loop wakes once per batch of
  PUBACKs read, takes the list with ``take_acked()`` and deletes the whole batch from the spool at once.

Nothing here is ever trusted with a message: the spool keeps every message until its seq comes out of
``take_acked()``; a publish paho refuses (not connected) raises ``aiomqtt.MqttCodeError`` so that the bridge
ends the connection and sends the message again on the next one, and a connection that ends with messages in
flight simply leaves them in the spool. A PUBACK with an MQTT 5 error reason code (>= 0x80, e.g. "not
authorized", "quota exceeded") is an answer, not a lost message: it is counted in ``rejected``, logged (the
first one per connection as a warning) and acknowledged like the others (as aiomqtt did), so that one refused
message cannot block its class forever.

The private parts of aiomqtt 2.x and paho-mqtt 2.x this relies on are confined to this module:
``aiomqtt.Client._client`` (the paho client; aiomqtt 2 gives no public access to it) and paho's
``on_publish`` (public) that aiomqtt has already installed, which we wrap: PUBACKs of our mids are ours, all
others (the ``online``/``offline`` publishes made through aiomqtt) go on to aiomqtt's handler. aiomqtt 3
drops paho; a port then only has to provide these few methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, KeysView
from typing import Any, Final, cast

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.client import CallbackOnPublish_v2
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.spool import SpooledMessage

log = logging.getLogger(__name__)

FIRST_ERROR_REASON_CODE: Final = 0x80
"""MQTT 5: PUBACK reason codes from this one up say the broker refused the message."""


class SpoolPublisher:
    """Publishes spooled messages on one connection and collects the seqs the broker acknowledged."""

    def __init__(self, client: aiomqtt.Client, *, mqtt5: bool, on_progress: Callable[[], None]) -> None:
        self._paho: paho.Client = client._client
        self._mqtt5 = mqtt5
        self._on_progress = on_progress
        self._seq_by_mid: dict[int, int] = {}
        self._in_flight_seqs: dict[int, None] = {}
        self._acked: list[int] = []
        self.rejected = 0
        self._delegate = cast(CallbackOnPublish_v2 | None, self._paho.on_publish)  # aiomqtt uses API v2
        self._paho.on_publish = self._on_publish

    @property
    def in_flight(self) -> KeysView[int]:
        """Seqs published and not yet acknowledged (a live view)."""
        return self._in_flight_seqs.keys()

    def publish(self, message: SpooledMessage) -> None:
        """Send ``message`` without waiting for its PUBACK; ``aiomqtt.MqttCodeError`` if paho refuses it.

        A refused publish has an unknown outcome: the caller must end the connection and leave the message
        in the spool.
        """
        properties = None
        if message.correlation_data is not None and self._mqtt5:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = message.correlation_data
        info = self._paho.publish(message.topic, message.payload, message.qos, message.retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if info.is_published():  # QoS 0: done once written, possibly already inside publish()
            self._acked.append(message.seq)
            self._on_progress()
            return
        self._seq_by_mid[info.mid] = message.seq
        self._in_flight_seqs[message.seq] = None

    def take_acked(self) -> list[int]:
        """The seqs acknowledged since the last call (the caller deletes them from the spool)."""
        acked, self._acked = self._acked, []
        return acked

    def detach(self) -> None:
        """Give ``on_publish`` back to aiomqtt and forget what is in flight (it stays in the spool)."""
        self._paho.on_publish = self._delegate
        self._seq_by_mid.clear()
        self._in_flight_seqs.clear()

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        seq = self._seq_by_mid.pop(mid, None)
        if seq is None:
            if self._delegate is not None:
                self._delegate(client, userdata, mid, reason_code, properties)
            return
        del self._in_flight_seqs[seq]
        if reason_code.value >= FIRST_ERROR_REASON_CODE:
            self.rejected += 1
            log.log(
                logging.WARNING if self.rejected == 1 else logging.DEBUG,  # once per connection, then counted
                "broker refused message seq %d: %s (dropped from the spool)",
                seq,
                reason_code,
            )
        self._acked.append(seq)
        self._on_progress()
