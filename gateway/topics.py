"""MQTT topic names, built in one place from ``gateway.topic_prefix`` and ``gateway.id``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    gateway: str

    @property
    def availability(self) -> str:
        return f"{self.prefix}/gateways/{self.gateway}/availability"

    @property
    def health(self) -> str:
        return f"{self.prefix}/gateways/{self.gateway}/health"

    def radio(self, name: str) -> str:
        return f"{self.prefix}/gateways/{self.gateway}/radios/{name}"

    @property
    def commands(self) -> str:
        """The subscription filter for dispatcher commands."""
        return f"{self.prefix}/gateways/{self.gateway}/cmd/+"

    def command_result(self, name: str) -> str:
        return f"{self.prefix}/gateways/{self.gateway}/cmd/{name}/result"

    def unit(self, unit: str, kind: str) -> str:
        """``position``, ``status``, ``text`` or ``emergency`` of one unit."""
        return f"{self.prefix}/units/{unit}/{kind}"
