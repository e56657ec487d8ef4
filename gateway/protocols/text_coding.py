"""The TETRA text coding schemes (EN 300 392-2 §29.5.4): numbers to Python codecs, plus GSM 7-bit.

Scheme 0 is the GSM 03.38 default alphabet, packed into septets LSB first as in GSM; escape (0x1B) introduces
the extension table (``€ [ ] { } ~ ^ \\ |`` and form feed). When packing leaves 7 spare bits in the last
octet, they are filled with CR, which the decoder drops again, as GSM 03.38 prescribes (so a text that itself
ends in CR exactly on an 8-septet boundary loses that CR). Schemes 1-25 are ISO 8859 and
DOS code pages; 26 is UCS-2, read as UTF-16BE (characters beyond the BMP are sent as surrogate pairs).

Decoding is strict: bytes that are not defined in the scheme raise SdsError; text that the chosen scheme
cannot represent raises CommandError. Trailing bits that do not make a whole character are padding and
ignored.
"""

from __future__ import annotations

from gateway.errors import CommandError, SdsError

GSM_7BIT = 0
ISO_8859_1 = 1
ISO_8859_2 = 2
ISO_8859_5 = 5
UCS_2 = 26

CODECS: dict[int, str] = {
    1: "iso8859_1",
    2: "iso8859_2",
    3: "iso8859_3",
    4: "iso8859_4",
    5: "iso8859_5",
    6: "iso8859_6",
    7: "iso8859_7",
    8: "iso8859_8",
    9: "iso8859_9",
    10: "iso8859_10",
    11: "iso8859_13",
    12: "iso8859_14",
    13: "iso8859_15",
    14: "cp437",
    15: "cp737",
    16: "cp850",
    17: "cp852",
    18: "cp855",
    19: "cp857",
    20: "cp860",
    21: "cp861",
    22: "cp863",
    23: "cp865",
    24: "cp866",
    25: "cp869",
    26: "utf-16-be",
}
"""Text coding scheme -> Python codec, for every scheme except 0 (GSM 7-bit, below)."""

SCHEMES = frozenset({GSM_7BIT, *CODECS})

# GSM 03.38 default alphabet, indexed by septet value; 0x1B is the escape to the extension table.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_GSM_ESCAPE = 0x1B
_GSM_CR = 0x0D
_GSM_ENCODE: dict[str, tuple[int, ...]] = {
    char: (code,) for code, char in enumerate(_GSM_BASIC) if code != _GSM_ESCAPE
}
_GSM_ENCODE.update({char: (_GSM_ESCAPE, code) for code, char in _GSM_EXTENSION.items()})


def _check_scheme(coding: int, error: type[Exception]) -> None:
    if coding not in SCHEMES:
        raise error(f"unknown text coding scheme {coding}")


def decode_text(coding: int, data: bytes, *, bits: int | None = None) -> str:
    """Decode text in TETRA coding scheme `coding`; `bits` (default all of `data`) bounds the meaningful bits.

    Raises SdsError for an unknown scheme or bytes the scheme does not define.
    """
    _check_scheme(coding, SdsError)
    available = len(data) * 8 if bits is None else min(bits, len(data) * 8)
    if coding == GSM_7BIT:
        return _decode_gsm(data, available // 7)
    unit = 16 if coding == UCS_2 else 8
    whole = data[: available // unit * unit // 8]
    try:
        return whole.decode(CODECS[coding])
    except UnicodeError as exc:
        raise SdsError(f"text is not valid in coding scheme {coding}: {exc}") from exc


def encode_text(coding: int, text: str) -> bytes:
    """Encode `text` in TETRA coding scheme `coding`; CommandError if the scheme cannot represent it."""
    _check_scheme(coding, CommandError)
    if coding == GSM_7BIT:
        return _encode_gsm(text)
    try:
        return text.encode(CODECS[coding])
    except UnicodeError as exc:
        raise CommandError(f"text cannot be sent in coding scheme {coding}: {exc}") from exc


def can_encode(coding: int, text: str) -> bool:
    """Whether `text` is representable in scheme `coding`."""
    try:
        encode_text(coding, text)
    except CommandError:
        return False
    return True


def choose_coding(text: str) -> int:
    """The most compact widely supported scheme for `text`.

    ISO 8859-1 when it fits; ISO 8859-2 for Central European and Balkan Latin (Slovene, Croatian, Serbian
    Latin, Polish, Czech...); ISO 8859-5 for Cyrillic (Serbian, Macedonian, Russian...); otherwise UCS-2.
    """
    for coding in (ISO_8859_1, ISO_8859_2, ISO_8859_5):
        if can_encode(coding, text):
            return coding
    return UCS_2


def _decode_gsm(data: bytes, septets: int) -> str:
    codes = [_septet(data, index) for index in range(septets)]
    if codes and septets % 8 == 0 and codes[-1] == _GSM_CR:
        codes.pop()  # the CR that fills 7 spare bits
    chars: list[str] = []
    escaped = False
    for code in codes:
        if escaped:
            chars.append(_GSM_EXTENSION.get(code, " " if code == _GSM_ESCAPE else _GSM_BASIC[code]))
            escaped = False
        elif code == _GSM_ESCAPE:
            escaped = True
        else:
            chars.append(_GSM_BASIC[code])
    return "".join(chars)


def _septet(data: bytes, index: int) -> int:
    bit = index * 7
    byte, shift = divmod(bit, 8)
    value = data[byte] >> shift
    if shift > 1:
        value |= data[byte + 1] << (8 - shift)
    return value & 0x7F


def _encode_gsm(text: str) -> bytes:
    codes: list[int] = []
    for char in text:
        try:
            codes.extend(_GSM_ENCODE[char])
        except KeyError:
            raise CommandError(f"{char!r} is not in the GSM 7-bit alphabet") from None
    if len(codes) % 8 == 7:
        codes.append(_GSM_CR)  # 7 spare bits would read as '@'
    packed = 0
    for index, code in enumerate(codes):
        packed |= code << (7 * index)
    return packed.to_bytes((len(codes) * 7 + 7) // 8, "little")
