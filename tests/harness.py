"""End-to-end harness: simulators and the gateway as real processes, and an MQTT subscriber that records.

Everything waits on events (a ready line, a message matching a predicate) with a generous timeout as a
safety net only; nothing sleeps to paper over a race.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Recorder:
    """A paho subscriber on its own thread; ``wait_for`` blocks until a predicate over the messages holds."""

    def __init__(
        self,
        port: int,
        topics: Iterable[str] = ("patrol/#",),
        client_id: str | None = None,
        *,
        persistent: bool = False,
    ) -> None:
        """``persistent``: a session the broker keeps (and queues for) while the recorder is disconnected,
        so nothing published between a broker restart and the recorder's reconnect is missed."""
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._topics = list(topics)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"recorder-{os.getpid()}-{id(self)}",
            clean_session=not persistent,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(WAIT_S):
            raise TimeoutError("recorder could not subscribe")

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(message.topic, bytes(message.payload), bool(message.retain)))
            self._cond.notify_all()

    def on(self, topic_suffix: str) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.topic.endswith(topic_suffix)]

    def wait_for(
        self,
        predicate: Callable[[list[Message]], bool],
        timeout: float = WAIT_S,
        what: str = "",
        *,
        recheck_s: float | None = None,
    ) -> None:
        """Block until ``predicate(messages)`` holds; it is re-evaluated on every message, and also every
        ``recheck_s`` when it depends on something outside the broker (a simulator's manifest file)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    topics = sorted({m.topic for m in self.messages})
                    raise TimeoutError(f"timed out waiting for {what or predicate}; saw topics {topics}")
                self._cond.wait(remaining if recheck_s is None else min(remaining, recheck_s))

    def wait_count(self, topic_suffix: str, count: int, timeout: float = WAIT_S) -> list[Message]:
        self.wait_for(
            lambda ms: sum(m.topic.endswith(topic_suffix) for m in ms) >= count,
            timeout,
            f"{count} messages on *{topic_suffix}",
        )
        return self.on(topic_suffix)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish(port: int, topic: str, payload: dict[str, Any] | bytes, *, qos: int = 1) -> None:
    """Publish one message as a dispatcher would, and wait until the broker has it."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"dispatcher-{os.getpid()}-{time.monotonic_ns()}"
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    client.publish(topic, data, qos=qos).wait_for_publish(WAIT_S)
    client.disconnect()
    client.loop_stop()


class Process:
    """A child process whose output goes to a file; ``wait_line`` waits for a line in that output."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [sys.executable, *args],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_line(self, text: str, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.popen.args} exited {self.popen.returncode}:\n{self.output()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {text!r} from {self.popen.args}:\n{self.output()[-3000:]}")
            time.sleep(0.02)  # polling a log file: there is no event to wait on

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()
        return self.popen.returncode


def start_simulator(kind: str, link: Path, *args: str, log: Path) -> Process:
    process = Process(["-m", "simulators", kind, "--link", str(link), *args], log)
    deadline = time.monotonic() + WAIT_S
    while not link.exists():
        if process.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"patrol-sim {kind} did not come up:\n{process.output()}")
        time.sleep(0.02)
    return process


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def start_gateway(config: Path, log: Path) -> Process:
    return Process(["-m", "gateway", "run", "--config", str(config)], log)
