"""Text coding schemes: the ISO 8859 / DOS code page table, UCS-2, GSM 7-bit packing, scheme choice."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import CommandError, SdsError
from gateway.protocols.text_coding import CODECS, choose_coding, decode_text, encode_text

SERBIAN_CYRILLIC = "Полицијска патрола, Ђорђе Љубић, Њива, Џеп, ћирилица"
SERBIAN_LATIN = "Đorđe Ljubić čeka na raskršću"
SLOVENE = "Policijska patrulja: šef, čaj, žaba, Škofja Loka"
CROATIAN = "Čakovec, Đakovo, Šibenik, Žumberak, ćevapi"


@pytest.mark.parametrize(
    ("coding", "text", "hex_"),
    [
        (1, "testmessage", "746573746D657373616765"),
        (1, "Grüße", "4772FC DF65".replace(" ", "")),
        (2, "Šđčćž", "A9F0E8E6BE"),
        (5, "Ђорђе", "A2DEE0F2D5"),
        (17, "Šđčćž", "E6D09F86A7"),
        (18, "Ђорђе", "81D6E180A8"),
        (26, "Ђ€", "0402 20AC".replace(" ", "")),
        (13, "€", "A4"),
        (24, "Да", "84A0"),
    ],
)
def test_known_encodings(coding: int, text: str, hex_: str) -> None:
    assert encode_text(coding, text).hex().upper() == hex_
    assert decode_text(coding, bytes.fromhex(hex_)) == text


@pytest.mark.parametrize(
    ("coding", "text"),
    [
        (5, SERBIAN_CYRILLIC),
        (18, SERBIAN_CYRILLIC),
        (26, SERBIAN_CYRILLIC),
        (2, SERBIAN_LATIN),
        (17, SERBIAN_LATIN),
        (2, SLOVENE),
        (17, SLOVENE),
        (2, CROATIAN),
        (17, CROATIAN),
        (26, "日本語 and emoji 🚓"),
    ],
)
def test_round_trip_regional_text(coding: int, text: str) -> None:
    assert decode_text(coding, encode_text(coding, text)) == text


@pytest.mark.parametrize(
    ("text", "coding"),
    [
        ("testmessage", 1),
        ("Grüße aus Wien", 1),
        (SLOVENE, 2),
        (CROATIAN, 2),
        (SERBIAN_LATIN, 2),
        (SERBIAN_CYRILLIC, 5),
        ("Ђорђе and Đorđe", 26),
        ("🚓", 26),
        ("", 1),
    ],
)
def test_choose_coding(text: str, coding: int) -> None:
    assert choose_coding(text) == coding


def test_every_scheme_in_the_table_is_usable() -> None:
    assert set(CODECS) == set(range(1, 27))
    for coding in range(27):
        assert decode_text(coding, encode_text(coding, "Patrol 12")) == "Patrol 12"


# GSM 7-bit (scheme 0), packed septets per GSM 03.38.


@pytest.mark.parametrize(
    ("text", "hex_"),
    [
        ("hellohello", "E8329BFD4697D9EC37"),  # the classic GSM 03.38 example
        ("A", "41"),
        ("@", "00"),
        ("1234567", "31D98C56B3DD1A"),  # 7 spare bits filled with CR
        ("12345678", "31D98C56B3DD70"),
        ("€", "9B32"),
        ("[x]", "1B1E7EE303"),
    ],
)
def test_gsm_packing(text: str, hex_: str) -> None:
    assert encode_text(0, text).hex().upper() == hex_
    assert decode_text(0, bytes.fromhex(hex_)) == text


@pytest.mark.parametrize(
    "text",
    ["Price 5€ [urgent] {a|b} ~x^ back\\slash", "Ålesund ÆØÅ æøå ß É ¿¡ §", "\f", "ΔΦΓΛΩΠΨΣΘΞ"],
)
def test_gsm_extension_and_greek_round_trip(text: str) -> None:
    assert decode_text(0, encode_text(0, text)) == text


def test_gsm_exact_bit_length_keeps_trailing_at_sign() -> None:
    """With an exact bit count (7 septets = 49 bits) the zero padding is not read as '@'."""
    data = encode_text(0, "1234567")
    assert decode_text(0, data, bits=49) == "1234567"
    assert decode_text(0, bytes.fromhex("00"), bits=7) == "@"


def test_gsm_unknown_escape_falls_back_to_basic_table() -> None:
    # ESC + 'A' (0x41) is not in the extension table: GSM 03.38 shows the basic character.
    assert decode_text(0, bytes.fromhex("9B20")) == "A"


def test_gsm_rejects_characters_outside_the_alphabet() -> None:
    with pytest.raises(CommandError):
        encode_text(0, "Ђ")


gsm_text = st.text(
    alphabet=st.sampled_from(
        "@£$¥èéùìòÇ\nØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà€[]{}~^\\|\f"
    )
)


@given(gsm_text)
def test_gsm_round_trip_property(text: str) -> None:
    assert decode_text(0, encode_text(0, text)) == text


@given(st.sampled_from(sorted(CODECS)), st.binary(max_size=40))
def test_decode_any_bytes_is_text_or_sds_error(coding: int, data: bytes) -> None:
    try:
        text = decode_text(coding, data)
    except SdsError:
        return
    whole = data[: len(data) // 2 * 2] if coding == 26 else data
    assert encode_text(coding, text) == whole


@given(st.text(max_size=30))
def test_choose_coding_always_encodes(text: str) -> None:
    coding = choose_coding(text)
    assert decode_text(coding, encode_text(coding, text)) == text


def test_ucs2_odd_byte_is_padding() -> None:
    assert decode_text(26, bytes.fromhex("041200")) == "\u0412"  # Cyrillic VE


@pytest.mark.parametrize("coding", [-1, 27, 127])
def test_unknown_scheme(coding: int) -> None:
    with pytest.raises(SdsError):
        decode_text(coding, b"x")
    with pytest.raises(CommandError):
        encode_text(coding, "x")


def test_undefined_bytes_raise_sds_error() -> None:
    with pytest.raises(SdsError):
        decode_text(3, b"\xa5")  # undefined in ISO 8859-3
    with pytest.raises(SdsError):
        decode_text(26, bytes.fromhex("D800"))  # lone surrogate


def test_unencodable_text_raises_command_error() -> None:
    with pytest.raises(CommandError):
        encode_text(1, "Ђ")
