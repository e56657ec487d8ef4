"""The gateway's exception roots, split by who is at fault.

- ``ProtocolError``: a device (GNSS receiver, TETRA radio) sent something we cannot decode. Decoders raise
  only this family for bad input: the fuzz contract is "decodes, or raises ProtocolError".
- ``CommandError``: we were asked for something illegal (a malformed dispatcher command, an encoder given a
  value out of range).
- ``ConfigError``: the configuration is invalid; start-up stops with its message.
- ``LinkError``: a transport (serial port, socket) failed; drivers translate OSError/SerialException to it.
"""


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""


class ProtocolError(GatewayError):
    """A device sent bytes that do not decode."""


class NmeaError(ProtocolError):
    """An NMEA 0183 sentence that cannot be used."""


class PeiError(ProtocolError):
    """A TETRA PEI line or exchange that cannot be used."""


class SdsError(ProtocolError):
    """An SDS, SDS-TL, status or text PDU that does not decode."""


class LipError(SdsError):
    """A LIP location PDU that does not decode."""


class CommandError(GatewayError):
    """We were asked for something illegal: a bad dispatcher command or an unencodable value."""


class ConfigError(GatewayError):
    """The configuration is invalid."""


class LinkError(GatewayError):
    """A device link (serial port, socket) failed or is absent."""
