"""``patrol-gateway decode``: captured NMEA/PEI lines or SDS/LIP hex from the field, to JSON lines.

The same decoders as the daemon; each input line gives one or more JSON objects, and a line that does not
decode gives ``{"error": ..., "line": ...}`` rather than stopping the run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from typing import Any

from gateway.errors import ProtocolError
from gateway.protocols import lip, nmea, pei, sds
from gateway.protocols.bits import SdsPayload


def to_jsonable(value: Any) -> Any:
    """Dataclasses, bytes, enums and times to plain JSON values; derived properties are not included."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"type": type(value).__name__}
        out.update({f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)})
        return out
    if isinstance(value, bytes | bytearray):
        return value.hex().upper()
    if isinstance(value, Enum):
        return value.name.lower()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def _with_derived(message: Any) -> dict[str, Any]:
    record: dict[str, Any] = to_jsonable(message)
    for name in (
        "latitude",
        "longitude",
        "has_position",
        "accuracy_m",
        "speed_mps",
        "course_deg",
        "altitude_m",
    ):
        value = getattr(message, name, None)
        if value is not None and not callable(value):
            record[name] = value
    reason = getattr(message, "reason", None)
    if isinstance(reason, int) and reason in lip.REASONS:
        record["reason_name"] = lip.REASONS[reason]
    return record


def _hex_line(line: str, bits: int | None) -> tuple[str, int | None]:
    """``HEX`` or ``BITS HEX`` (the form a +CTSDSR header and its payload give)."""
    fields = line.split()
    if len(fields) == 2 and fields[0].isdigit():
        return fields[1], int(fields[0])
    return "".join(fields), bits


def decode_sds_hex(text: str, *, service: int, bits: int | None) -> dict[str, Any]:
    hex_text, length = _hex_line(text, bits)
    payload = SdsPayload.from_hex(hex_text, length)
    return _with_derived(sds.decode_sds(service, payload))


def decode_lip_hex(text: str, *, bits: int | None) -> dict[str, Any]:
    hex_text, length = _hex_line(text, bits)
    return _with_derived(lip.decode_lip(SdsPayload.from_hex(hex_text, length)))


_RESPONSE_PARSERS: dict[str, Callable[[str], Any]] = {
    "+CNUMF": lambda line: pei.parse_cnumf([line]),
    "+CSQ": lambda line: pei.parse_csq([line]),
    "+CREG": pei.parse_creg,
    "+CMGS": lambda line: pei.parse_cmgs_response([line]),
}
"""Responses to the gateway's own commands, which a capture shows without the command's context."""


def _decode_response(line: str) -> dict[str, Any] | None:
    prefix = line.split(":", 1)[0].strip().upper()
    parser = _RESPONSE_PARSERS.get(prefix)
    if parser is None:
        return None
    try:
        return {"response": prefix, **to_jsonable(parser(line))}
    except ProtocolError as exc:
        return {"response": prefix, "error": str(exc)}


def _decode_pei(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    for event in pei.decode_pei_lines(lines):
        record = to_jsonable(event)
        if isinstance(event, pei.UnknownLine):
            decoded = _decode_response(event.line)
            if decoded is not None:
                record["decoded"] = decoded
        if isinstance(event, pei.SdsReceived):
            try:
                payload = SdsPayload.from_hex(event.data_hex, event.length_bits)
                record["decoded"] = _with_derived(sds.decode_sds(event.service, payload))
            except ProtocolError as exc:
                record["error"] = str(exc)
        yield record


def decode_stream(
    kind: str, stream: Iterable[str], *, bits: int | None = None, service: int = 12
) -> Iterator[dict[str, Any]]:
    """Decode each line of ``stream`` as ``kind`` (nmea, pei, lip, sds)."""
    lines = (line.rstrip("\r\n") for line in stream)
    if kind == "nmea":  # comment lines (gpsd's test logs start with some) are skipped, as for hex input
        yield from nmea.decode_lines(line for line in lines if not line.lstrip().startswith("#"))
        return
    if kind == "pei":
        yield from _decode_pei(lines)
        return
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            if kind == "lip":
                yield decode_lip_hex(text, bits=bits)
            else:
                yield decode_sds_hex(text, service=service, bits=bits)
        except ProtocolError as exc:
            yield {"error": str(exc), "line": text}
