"""SDS dispatch, SDS-TL text/report/ack, concatenation, and the SdsPayload hex rules."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import CommandError, LipError, SdsError
from gateway.protocols.bits import SdsPayload, build_bits, parse_bits
from gateway.protocols.lip import ShortLocationReport
from gateway.protocols.sds import (
    EXTERNAL_NUMBER_FORMAT,
    SDS_ACK_FORMAT,
    SDS_REPORT_FORMAT,
    SDS_TL_TEXT_FORMAT,
    SIMPLE_TEXT_FORMAT,
    STORAGE_FORMAT,
    TIMESTAMP_FORMAT,
    USER_DATA_HEADER_FORMAT,
    ConcatPart,
    ConcatReassembler,
    SdsAck,
    SdsReport,
    TextMessage,
    TextTimestamp,
    UnknownSds,
    UserDefinedData,
    decode_sds,
    delivery_status_meaning,
    encode_ack,
    encode_report,
    encode_sds_tl_text,
    encode_simple_text,
    encode_text_message,
    split_text,
)
from gateway.protocols.status import ShortReport, StatusValue

CONCAT_PART_1 = "8A02C981045A8F050003C90201746573746D657373616765"
CONCAT_PART_2 = "8A02CA81045A8F050003C90202" + b" continued".hex().upper()


def sds(service: int, hex_: str, bits: int | None = None) -> Any:
    return decode_sds(service, SdsPayload.from_hex(hex_, bits))


# --------------------------------------------------------------------------------------------------
# SdsPayload: the field rules for hex user data.


@pytest.mark.parametrize(
    ("hex_", "bits", "data", "normalised"),
    [
        ("0A0BA7D5B95BC50AFFE16", 84, "0A0BA7D5B95BC50AFFE160", "0A0BA7D5B95BC50AFFE16"),  # odd digit count
        (
            "0A112853A9FF4D4FFFE810",
            84,
            "0A112853A9FF4D4FFFE810",
            "0A112853A9FF4D4FFFE81",
        ),  # 22 digits, 84 bits
        ("0A007264F2654E89020810", 88, "0A007264F2654E89020810", "0A007264F2654E89020810"),
        ("8004", 16, "8004", "8004"),
        ("80041234", 16, "8004", "8004"),  # longer than declared: the rest is ignored
        ("8007", 13, "8000", "8000"),  # padding bits are cleared
        ("8004", None, "8004", "8004"),
        (" 8004\r\n", 16, "8004", "8004"),
        ("abcdef", 24, "ABCDEF", "ABCDEF"),
        ("", 0, "", ""),
    ],
)
def test_payload_from_hex(hex_: str, bits: int | None, data: str, normalised: str) -> None:
    payload = SdsPayload.from_hex(hex_, bits)
    assert payload.data == bytes.fromhex(data)
    assert payload.hex() == normalised
    if bits is not None:
        assert payload.bits == bits


@pytest.mark.parametrize(
    ("hex_", "bits"), [("800", 16), ("0A11", 84), ("80G4", 16), ("80 04", 16), ("8004", -1)]
)
def test_payload_from_hex_rejects(hex_: str, bits: int) -> None:
    with pytest.raises(SdsError):
        SdsPayload.from_hex(hex_, bits)


def test_payload_construction_is_validated_and_normalised() -> None:
    with pytest.raises(SdsError):
        SdsPayload(b"\x00\x00", 8)
    assert SdsPayload(b"\xff", 4) == SdsPayload(b"\xf0", 4)
    assert SdsPayload(b"\xff", 4).hex() == "F"


@given(st.binary(max_size=32), st.integers(0, 7))
def test_payload_hex_round_trip(data: bytes, drop: int) -> None:
    bits = max(0, len(data) * 8 - drop)
    payload = SdsPayload(data[: (bits + 7) // 8], bits)
    assert len(payload.hex()) == (bits + 3) // 4
    assert SdsPayload.from_hex(payload.hex(), bits) == payload


# --------------------------------------------------------------------------------------------------
# The spec's vectors.


def test_status_vector() -> None:
    assert sds(13, "8004", 16) == StatusValue(0x8004)


def test_short_report_status() -> None:
    assert sds(13, "7EC9", 16) == ShortReport(2, 0xC9)


def test_lip_vector_dispatches_on_pid() -> None:
    report = sds(12, "0A112853A9FF4D4FFFE810", 84)
    assert isinstance(report, ShortLocationReport)
    assert report.reason == 129


def test_simple_text_vector() -> None:
    message = sds(12, "0201746573746D657373616765", 104)
    assert message == TextMessage(pid=0x02, text="testmessage", coding=1)
    assert message.message_reference is None
    assert not message.needs_report
    assert not message.is_sds_tl


def test_sds_tl_text_vector() -> None:
    message = sds(12, "82029C01746573746D657373616765", 120)
    assert isinstance(message, TextMessage)
    assert message.pid == 0x82
    assert message.text == "testmessage"
    assert message.coding == 1
    assert message.message_reference == 0x9C
    assert message.report_request == 0
    assert not message.needs_report
    assert message.timestamp is None
    assert message.concat is None
    assert not message.storage


def test_text_asking_for_a_report_and_the_answer() -> None:
    """82040801476A61746A616A676A61 from 23404: the gateway answers AT+CMGS=23404,32 with 82100008."""
    message = sds(12, "82040801476A61746A616A676A61", 112)
    assert isinstance(message, TextMessage)
    assert message.text == "Gjatjajgja"
    assert message.message_reference == 8
    assert message.report_request == 1
    assert message.needs_report
    answer = encode_report(message.message_reference)
    assert (answer.hex(), answer.bits) == ("82100008", 32)


def test_report_and_ack_vectors() -> None:
    assert sds(12, "821000C9", 32) == SdsReport(
        pid=0x82, ack_required=False, storage=False, delivery_status=0x00, message_reference=0xC9
    )
    assert sds(12, "822001C9", 32) == SdsAck(pid=0x82, delivery_status=0x01, message_reference=0xC9)
    assert sds(12, "821000C9", 32).meaning == "received"


def test_concatenated_parts_reassembled() -> None:
    part1 = sds(12, CONCAT_PART_1)
    part2 = sds(12, CONCAT_PART_2)
    assert isinstance(part1, TextMessage) and isinstance(part2, TextMessage)
    assert part1.concat == ConcatPart(reference=0xC9, total=2, number=1)
    assert part2.concat == ConcatPart(reference=0xC9, total=2, number=2)
    assert (part1.message_reference, part2.message_reference) == (0xC9, 0xCA)
    assert part1.timestamp == TextTimestamp(month=4, day=11, hour=10, minute=15, timeframe=0)
    assert part1.text == "testmessage"

    reassembler = ConcatReassembler(timeout_s=60.0)
    assert reassembler.add("2269001", part2, now=0.0) is None  # out of order on purpose
    whole = reassembler.add("2269001", part1, now=1.0)
    assert whole is not None
    assert whole.text == "testmessage continued"
    assert whole.concat is None
    assert whole.message_reference is None and not whole.needs_report
    assert len(reassembler) == 0


# --------------------------------------------------------------------------------------------------
# Dispatch.


@pytest.mark.parametrize(
    ("service", "hex_", "value"),
    [(9, "1234", 0x1234), (10, "12345678", 0x12345678), (11, "0123456789ABCDEF", 0x0123456789ABCDEF)],
)
def test_user_defined_data(service: int, hex_: str, value: int) -> None:
    assert sds(service, hex_) == UserDefinedData(service, value)


@pytest.mark.parametrize(("service", "hex_"), [(9, "12"), (10, "123456"), (11, "01234567"), (13, "80")])
def test_short_fixed_size_payloads(service: int, hex_: str) -> None:
    with pytest.raises(SdsError):
        sds(service, hex_)


@pytest.mark.parametrize("service", [0, 8, 14, 255])
def test_unknown_ai_service(service: int) -> None:
    with pytest.raises(SdsError):
        sds(service, "8004")


@pytest.mark.parametrize(
    ("hex_", "expected"),
    [
        ("0511", UnknownSds(0x05, b"\x11")),
        ("83001122", UnknownSds(0x83, b"\x00\x11\x22")),  # SDS-TL transfer of a PID we do not read
        ("82500000", UnknownSds(0x82, b"\x50\x00\x00")),  # SDS-TL message type 5
    ],
)
def test_unknown_protocols(hex_: str, expected: UnknownSds) -> None:
    assert sds(12, hex_) == expected


def test_reports_for_other_sds_tl_pids() -> None:
    assert sds(12, "8A104B07") == SdsReport(0x8A, False, False, 0x4B, 7)
    assert sds(12, "8A104B07").meaning == "failed: not registered"


def test_sds_type4_with_a_broken_lip_raises_lip_error() -> None:
    with pytest.raises(LipError):
        sds(12, "0A1128")


@pytest.mark.parametrize(
    "hex_",
    [
        "",  # no PID
        "82",  # SDS-TL header cut
        "C4",  # an SDS-TL PID without its header
        "8200",
        "820200",  # no text header
        "8A02C901",  # concatenated text without its user data header
        "8A02C901050003C90300",  # part 0 of 3
        "8A02C901050003C90203",  # part 3 of 2
        "82029C1B41",  # coding scheme 27 does not exist
        "82029C1AD800",  # UCS-2 lone surrogate
        "8201C9" + "24",  # storage, forward address type 4 is reserved
    ],
)
def test_malformed_sds4_raises_sds_error(hex_: str) -> None:
    with pytest.raises(SdsError):
        sds(12, hex_)


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        (0x00, "received"),
        (0x02, "consumed"),
        (0x21, "stored"),
        (0x4B, "failed: not registered"),
        (0x5A, "failed: not reachable"),
        (0x3F, "temporary error (0x3F)"),
        (0x5F, "failed (0x5F)"),
        (0x7F, "flow control (0x7F)"),
        (0x90, "unknown (0x90)"),
    ],
)
def test_delivery_status_meaning(code: int, meaning: str) -> None:
    assert delivery_status_meaning(code) == meaning


# --------------------------------------------------------------------------------------------------
# Encoders.


def test_encoders_reproduce_the_vectors() -> None:
    assert encode_simple_text("testmessage").hex() == "0201746573746D657373616765"
    assert (
        encode_sds_tl_text("testmessage", message_reference=0x9C, service_selection=True).hex()
        == "82029C01746573746D657373616765"
    )
    assert (
        encode_sds_tl_text("Gjatjajgja", message_reference=8, report_request=1).hex()
        == "82040801476A61746A616A676A61"
    )
    assert encode_report(0xC9).hex() == "821000C9"
    assert encode_ack(0xC9, 0x01).hex() == "822001C9"
    assert encode_report(8, 0x02, pid=0x8A, ack_required=True).hex() == "8A180208"


def test_encode_text_with_timestamp_and_immediate_pid() -> None:
    stamp = TextTimestamp(month=12, day=31, hour=23, minute=59, timeframe=1)
    payload = encode_sds_tl_text("Hitno!", message_reference=200, pid=0x89, timestamp=stamp, report_request=3)
    message = decode_sds(12, payload)
    assert isinstance(message, TextMessage)
    assert message.immediate
    assert message.timestamp == stamp
    assert message.report_request == 3
    assert message.text == "Hitno!"


@pytest.mark.parametrize(
    ("text", "coding"),
    [("Đorđe čeka na raskršću", 2), ("Полиција", 5), ("Ђ and Đ", 26), ("Price 5€ [x]", 0), ("plain", 1)],
)
def test_encode_text_codings(text: str, coding: int | None) -> None:
    explicit = coding if coding == 0 else None  # GSM 7-bit is never chosen automatically
    message = decode_sds(12, encode_sds_tl_text(text, message_reference=1, coding=explicit))
    assert isinstance(message, TextMessage)
    assert message.coding == coding
    assert message.text == text
    simple = decode_sds(12, encode_simple_text(text, coding=explicit))
    assert isinstance(simple, TextMessage)
    assert simple.text == text


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_sds_tl_text("x", message_reference=256),
        lambda: encode_sds_tl_text("x", message_reference=1, report_request=4),
        lambda: encode_sds_tl_text("x", message_reference=1, pid=0x02),
        lambda: encode_sds_tl_text("Ђ", message_reference=1, coding=1),
        lambda: encode_sds_tl_text("x", message_reference=1, coding=99),
        lambda: encode_simple_text("x", pid=0x82),
        lambda: encode_report(256),
        lambda: encode_report(1, 256),
        lambda: encode_report(1, pid=0x02),
        lambda: encode_ack(-1),
        lambda: split_text("x" * 100, max_bits=80, first_message_reference=0, concat_reference=1),
        lambda: split_text("x" * 300, max_bits=88, first_message_reference=0, concat_reference=1),
        lambda: split_text("x", max_bits=100, first_message_reference=0, concat_reference=70000),
    ],
)
def test_encoders_reject_bad_input(call: Any) -> None:
    with pytest.raises(CommandError):
        call()


def test_split_text_single_when_it_fits() -> None:
    parts = split_text("testmessage", max_bits=120, first_message_reference=0x9C, concat_reference=1)
    assert [part.hex() for part in parts] == ["82009C01746573746D657373616765"]


@pytest.mark.parametrize(
    ("text", "max_bits", "reference"),
    [
        ("Patrola 12 javlja: " * 12, 668, 0xC9),
        ("Полицијска патрола " * 8, 200, 0x1234),
        ("Emoji 🚓 split safely " * 5, 160, 7),
        ("abcdefgh", 88, 3),  # one character per part
    ],
)
def test_split_text_and_reassemble(text: str, max_bits: int, reference: int) -> None:
    parts = split_text(text, max_bits=max_bits, first_message_reference=254, concat_reference=reference)
    assert len(parts) > 1
    assert all(part.bits <= max_bits for part in parts)
    decoded = [decode_sds(12, part) for part in parts]
    messages = [m for m in decoded if isinstance(m, TextMessage) and m.pid == 0x8A]
    assert len(messages) == len(decoded)
    assert [m.message_reference for m in messages] == [(254 + n) % 256 for n in range(len(parts))]
    assert {m.concat.reference for m in messages} == {reference}  # type: ignore[union-attr]
    assert {m.concat.wide_reference for m in messages} == {reference > 255}  # type: ignore[union-attr]
    reassembler = ConcatReassembler(timeout_s=30.0)
    results = [reassembler.add("1001", m, now=0.0) for m in reversed(messages)]
    assert results[:-1] == [None] * (len(parts) - 1)
    assert results[-1] is not None
    assert results[-1].text == text


# --------------------------------------------------------------------------------------------------
# Reassembly.


def _part(reference: int, total: int, number: int, text: str) -> TextMessage:
    return TextMessage(
        pid=0x8A,
        text=text,
        coding=1,
        message_reference=number,
        concat=ConcatPart(reference, total, number),
    )


def test_reassembler_expires_incomplete_texts() -> None:
    reassembler = ConcatReassembler(timeout_s=10.0)
    assert reassembler.add("1", _part(1, 2, 1, "a"), now=100.0) is None
    assert reassembler.add("2", _part(1, 2, 1, "b"), now=105.0) is None
    assert reassembler.expire(now=110.0) == 0  # not older than the timeout yet
    assert reassembler.expire(now=110.5) == 1
    assert len(reassembler) == 1
    # The expired text's second part now starts a new, incomplete text.
    assert reassembler.add("1", _part(1, 2, 2, "late"), now=111.0) is None
    assert reassembler.add("2", _part(1, 2, 2, "c"), now=111.0) == TextMessage(pid=0x8A, text="bc", coding=1)


def test_reassembler_keeps_senders_and_references_apart() -> None:
    reassembler = ConcatReassembler(timeout_s=10.0)
    assert reassembler.add("1", _part(5, 2, 1, "one-"), now=0.0) is None
    assert reassembler.add("2", _part(5, 2, 2, "two-b"), now=0.0) is None
    assert reassembler.add("1", _part(6, 2, 2, "other"), now=0.0) is None
    whole = reassembler.add("1", _part(5, 2, 2, "done"), now=0.0)
    assert whole is not None and whole.text == "one-done"
    assert len(reassembler) == 2


def test_reassembler_passes_plain_texts_and_caps_pending() -> None:
    reassembler = ConcatReassembler(timeout_s=10.0, max_pending=2)
    plain = TextMessage(pid=0x82, text="hi", coding=1, message_reference=1)
    assert reassembler.add("1", plain, now=0.0) is plain
    for reference in range(3):
        reassembler.add("1", _part(reference, 2, 1, "x"), now=float(reference))
    assert len(reassembler) == 2
    # The oldest (reference 0) was dropped: its second part does not complete anything.
    assert reassembler.add("1", _part(0, 2, 2, "y"), now=3.0) is None
    assert reassembler.add("1", _part(2, 2, 2, "y"), now=3.0) is not None


def test_duplicate_part_replaces_the_earlier_copy() -> None:
    reassembler = ConcatReassembler(timeout_s=10.0)
    assert reassembler.add("1", _part(9, 2, 1, "old"), now=0.0) is None
    assert reassembler.add("1", _part(9, 2, 1, "new"), now=0.0) is None
    whole = reassembler.add("1", _part(9, 2, 2, "!"), now=0.0)
    assert whole is not None and whole.text == "new!"


# --------------------------------------------------------------------------------------------------
# Round trips through the construct structures.


def _u(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2**bits - 1)


forward_addresses = st.one_of(
    st.tuples(st.just(0), _u(8)),
    st.tuples(st.just(1), _u(24)),
    st.tuples(st.just(2), _u(48)),
    st.tuples(st.just(3), st.builds(lambda digits: {"digits": digits}, st.lists(_u(4), max_size=20))),
    st.tuples(st.just(7), st.none()),
)
storage_fields = st.builds(
    lambda validity, address: {
        "validity": validity,
        "forward_address_type": address[0],
        "forward_address": address[1],
    },
    _u(5),
    forward_addresses,
)
timestamp_fields = st.fixed_dictionaries(
    {"timeframe": _u(2), "reserved": _u(2), "month": _u(4), "day": _u(5), "hour": _u(5), "minute": _u(6)}
)
header_fields = st.builds(
    lambda elements: {"elements": elements},
    st.lists(st.fixed_dictionaries({"id": _u(8), "data": st.lists(_u(8), max_size=6)}), max_size=4),
)
text_tails = st.builds(
    lambda data, drop: SdsPayload(data, max(0, len(data) * 8 - drop)),
    st.binary(max_size=20),
    st.integers(0, 7),
)


def _tail_ok(tail: SdsPayload) -> SdsPayload:
    return (
        tail if tail.bits == len(tail.data) * 8 else SdsPayload(tail.data[: (tail.bits + 7) // 8], tail.bits)
    )


sds_tl_text_fields = st.builds(
    lambda pid, report, selection, store, mr, stamp, coding, header, tail: {
        "pid": pid,
        "report_request": report,
        "service_selection": selection,
        "storage": store is not None,
        "message_reference": mr,
        "store": store,
        "timestamp_used": stamp is not None,
        "coding": coding,
        "timestamp": stamp,
        "header": header if pid == 0x8A else None,
        "text": _tail_ok(tail),
    },
    st.sampled_from([0x82, 0x89, 0x8A]),
    _u(2),
    st.booleans(),
    st.none() | storage_fields,
    _u(8),
    st.none() | timestamp_fields,
    _u(7),
    header_fields,
    text_tails,
)


def _same(parsed: Any, expected: Any) -> None:
    """Every field given to build comes back from parse (parse adds computed fields such as lengths)."""
    if isinstance(expected, dict):
        for key, item in expected.items():
            _same(parsed[key], item)
    elif isinstance(expected, list):
        assert len(parsed) == len(expected)
        for parsed_item, item in zip(parsed, expected, strict=True):
            _same(parsed_item, item)
    else:
        assert parsed == expected


@pytest.mark.parametrize(
    ("fmt", "strategy"),
    [
        (STORAGE_FORMAT, storage_fields),
        (TIMESTAMP_FORMAT, timestamp_fields),
        (USER_DATA_HEADER_FORMAT, header_fields),
        (EXTERNAL_NUMBER_FORMAT, st.builds(lambda d: {"digits": d}, st.lists(_u(4), max_size=30))),
        (SDS_TL_TEXT_FORMAT, sds_tl_text_fields),
        (
            SIMPLE_TEXT_FORMAT,
            st.fixed_dictionaries(
                {"pid": _u(8), "reserved": _u(1), "coding": _u(7), "text": text_tails.map(_tail_ok)}
            ),
        ),
        (
            SDS_REPORT_FORMAT,
            st.fixed_dictionaries(
                {
                    "pid": _u(8),
                    "ack_required": st.booleans(),
                    "reserved": _u(2),
                    "storage": st.booleans(),
                    "delivery_status": _u(8),
                    "message_reference": _u(8),
                }
            ),
        ),
        (
            SDS_ACK_FORMAT,
            st.fixed_dictionaries(
                {"pid": _u(8), "reserved": _u(4), "delivery_status": _u(8), "message_reference": _u(8)}
            ),
        ),
    ],
)
@given(data=st.data())
def test_structure_round_trips(
    fmt: Any, strategy: st.SearchStrategy[dict[str, Any]], data: st.DataObject
) -> None:
    value = data.draw(strategy)
    built = build_bits(fmt, value)
    parsed = parse_bits(fmt, built)
    _same(parsed, value)
    assert build_bits(fmt, parsed) == built


text_messages = st.builds(
    lambda pid, coding_text, mr, report, stamp, concat, selection, storage: TextMessage(
        pid=pid,
        text=coding_text[1],
        coding=coding_text[0],
        message_reference=mr if pid >= 0x80 else None,
        report_request=report if pid >= 0x80 else 0,
        timestamp=stamp if pid >= 0x80 else None,
        concat=concat if pid == 0x8A else None,
        service_selection=selection and pid >= 0x80,
        storage=storage is not None and pid >= 0x80,
        validity=storage[0] if storage is not None and pid >= 0x80 else None,
        forward_address_type=storage[1] if storage is not None and pid >= 0x80 else None,
        forward_address=storage[2] if storage is not None and pid >= 0x80 else None,
    ),
    st.sampled_from([0x02, 0x09, 0x82, 0x89, 0x8A]),
    st.one_of(
        st.tuples(st.just(1), st.text(st.characters(max_codepoint=0xFF), max_size=20)),
        st.tuples(
            st.just(26), st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=20)
        ),
        st.tuples(st.just(5), st.text(st.sampled_from("ПолицијаЂђ 123"), max_size=20)),
        st.tuples(st.just(0), st.text(st.sampled_from("abc XYZ@€[]{}0123"), max_size=20)),
    ),
    _u(8),
    _u(2),
    st.none() | st.builds(TextTimestamp, _u(4), _u(5), _u(5), _u(6), _u(2)),
    st.builds(
        lambda wide, ref, total, number: ConcatPart(
            ref if wide else ref % 256, total, min(number, total), wide
        ),
        st.booleans(),
        _u(16),
        st.integers(1, 255),
        st.integers(1, 255),
    ),
    st.booleans(),
    st.none()
    | st.tuples(_u(5), st.just(7), st.none())
    | st.tuples(_u(5), st.just(1), _u(24).map(str))
    | st.tuples(_u(5), st.just(3), st.text("0123456789ABCDEF", max_size=12)),
)


@given(text_messages)
def test_text_message_event_round_trip(message: TextMessage) -> None:
    assert decode_sds(12, encode_text_message(message)) == message
