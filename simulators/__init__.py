"""Device simulators on pseudo-terminals: a GNSS receiver (``patrol-sim gps``) and a TETRA radio
(``patrol-sim radio``), for bench setups, the demo and the tests."""

from simulators.gps import GpsFaults, GpsSimulator

__all__ = ["GpsFaults", "GpsSimulator"]
