"""mqtts://: the gateway talks TLS to a real mosquitto that demands a client certificate.

The test makes its own CA, server and client certificates with the openssl command line tool.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.broker import Mosquitto, free_port
from tests.harness import Process, Recorder, start_gateway, start_simulator, write_config

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder: Path) -> None:
    """ca.pem, server.pem/server.key (for 127.0.0.1), client.pem/client.key, all signed by the CA."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=patrol test CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)  # fmt: skip
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=folder)  # fmt: skip
        (folder / f"{name}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=folder)  # fmt: skip


@pytest.fixture
def tls_broker(tmp_path: Path) -> object:
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    tls_port = free_port()
    broker = Mosquitto(
        tmp_path,
        extra_config=(
            f"listener {tls_port} 127.0.0.1\ncafile {pki / 'ca.pem'}\ncertfile {pki / 'server.pem'}\n"
            f"keyfile {pki / 'server.key'}\nrequire_certificate true\n"
        ),
    )
    broker.start()
    yield broker, tls_port, pki
    broker.stop()


def gateway_toml(tmp_path: Path, tls_port: int, pki: Path, gps: Path, ca: str) -> Path:
    return write_config(
        tmp_path / "gateway.toml",
        f"""
[gateway]
id = "tls-gw"
unit = "CAR-TLS"
health_interval_s = 0.5

[mqtt]
url = "mqtts://127.0.0.1:{tls_port}"
ca_file = "{pki / ca}"
cert_file = "{pki / "client.pem"}"
key_file = "{pki / "client.key"}"
reconnect_min_s = 0.1
reconnect_max_s = 0.5

[gnss]
port = "{gps}"

[gnss.report]
min_interval_s = 0
min_distance_m = 0
min_course_change_deg = 0

[spool]
path = "{tmp_path / "spool.db"}"
""",
    )


def test_positions_over_mutual_tls(
    tmp_path: Path, tls_broker: tuple[Mosquitto, int, Path], processes: list[Process]
) -> None:
    broker, tls_port, pki = tls_broker
    gps = tmp_path / "gps0"
    processes.append(start_simulator("gps", gps, "--rate", "10", log=tmp_path / "gps.out"))
    recorder = Recorder(broker.port)  # the broker's plain listener, for the test's own eyes
    try:
        processes.append(
            start_gateway(gateway_toml(tmp_path, tls_port, pki, gps, "ca.pem"), tmp_path / "gw.out")
        )
        recorder.wait_for(
            lambda _: len(recorder.on("/units/CAR-TLS/position")) >= 3, what="positions over TLS"
        )
        assert [m.payload for m in recorder.on("/gateways/tls-gw/availability")] == [b"online"]
    finally:
        recorder.close()


def test_a_broker_certificate_from_the_wrong_ca_is_refused_and_the_gateway_keeps_trying(
    tmp_path: Path, tls_broker: tuple[Mosquitto, int, Path], processes: list[Process]
) -> None:
    broker, tls_port, pki = tls_broker
    other = tmp_path / "other-ca"
    other.mkdir()
    make_pki(other)
    shutil.copy(other / "ca.pem", pki / "wrong-ca.pem")
    gps = tmp_path / "gps0"
    processes.append(start_simulator("gps", gps, "--rate", "10", log=tmp_path / "gps.out"))
    gateway = start_gateway(gateway_toml(tmp_path, tls_port, pki, gps, "wrong-ca.pem"), tmp_path / "gw.out")
    processes.append(gateway)
    gateway.wait_line("certificate verify failed")
    recorder = Recorder(broker.port)
    try:
        assert recorder.on("/units/CAR-TLS/position") == [], "nothing went out over an unverified connection"
        assert gateway.popen.poll() is None, "a TLS failure is an outage, not a crash"
    finally:
        recorder.close()
