"""Device simulators on pseudo-terminals: a GNSS receiver (``patrol-sim gps``) and a TETRA radio
(``patrol-sim radio``), for bench setups, the demo and the tests."""

from simulators.faults import Outage
from simulators.gps import GpsFaults, GpsSimulator
from simulators.radio import RadioFaults, RadioOptions, RadioSimulator

__all__ = ["GpsFaults", "GpsSimulator", "Outage", "RadioFaults", "RadioOptions", "RadioSimulator"]
