"""The pure parts of topic inspection: decoding, filters and rendering (no Kafka needed)."""

from __future__ import annotations

import json

from schemas import encode
from streams.cli.inspect import (
    LAG_FROM_COMMITTED,
    LAG_FROM_LOW,
    TABLE_HEADER,
    Decoded,
    Record,
    _row,
    decode_value,
    matches,
    render_overview,
    render_record,
)
from tests.unit.factories import purchase, purchase_json


def record(value: Decoded, key: str | None = "c-1", partition: int = 2, offset: int = 17) -> Record:
    return Record("p-purchases", partition, offset, key, value)


def test_a_valid_record_is_decoded_through_its_model():
    decoded = decode_value("purchases", encode(purchase("c-1", total=12.5)))
    assert decoded.model == "PurchaseEvent" and decoded.error is None
    assert decoded.value["customer_id"] == "c-1" and decoded.value["total"] == 12.5


def test_a_record_failing_its_schema_is_kept_as_raw_json_and_marked():
    decoded = decode_value("purchases", json.dumps(purchase_json(total=-1)).encode())
    assert decoded.model is None and decoded.value["total"] == -1
    assert decoded.error.startswith("PurchaseEvent: ") and "total" in decoded.error


def test_non_json_is_shown_as_repr_and_marked():
    decoded = decode_value("purchases", b"\xffnot json")
    assert decoded.value == repr(b"\xffnot json") and "not JSON" in decoded.error


def test_topics_without_a_contract_give_raw_json_and_tombstones_give_none():
    assert decode_value("ticks", b'{"partition": 3}') == Decoded({"partition": 3})
    assert decode_value("ticks", b"oops") == Decoded(repr(b"oops"), error="not JSON")
    assert decode_value("offers", None) == Decoded(None)


def test_filters_by_key_and_by_the_values_customer():
    mine = record(Decoded({"customer_id": "c-1"}), key="camp-1")
    assert matches(mine) and matches(mine, key="camp-1") and matches(mine, customer="c-1")
    assert matches(mine, key="camp-1", customer="c-1")
    assert not matches(mine, key="c-1") and not matches(mine, customer="c-2")
    assert not matches(mine, key="camp-1", customer="c-2")
    assert not matches(record(Decoded("b'raw'")), customer="c-1")  # not a dict: no customer


def test_json_lines_carry_the_validated_value_and_mark_invalid_ones():
    valid = json.loads(render_record(record(decode_value("purchases", encode(purchase("c-1")))), "json"))
    assert valid["key"] == "c-1" and valid["offset"] == 17 and valid["value"]["customer_id"] == "c-1"
    assert "invalid" not in valid
    bad = json.loads(render_record(record(decode_value("purchases", b'{"customer_id": "c-1"}')), "json"))
    assert bad["value"] == {"customer_id": "c-1"} and "Field required" in bad["invalid"]


def test_table_rows_line_up_with_the_header_and_mark_invalid_ones():
    value = {"schema_version": 1, "customer_id": "c-1", "total": 4.0, "items": [1]}
    row = render_record(record(Decoded(value)), "table")
    assert row.index("c-1") == TABLE_HEADER.index("key")
    assert row.split() == ["2", "17", "c-1", "customer_id=c-1", "total=4.0"]  # nested fields left out
    bad = render_record(record(Decoded({"x": 1}, error="PurchaseEvent: boom")), "table")
    assert "INVALID (PurchaseEvent: boom) x=1" in bad
    long_error = render_record(record(Decoded({"x": 1}, error="E" * 300)), "table")
    assert long_error.endswith("…) x=1") and len(long_error) < 120
    long = render_record(record(Decoded({"text": "y" * 500})), "table")
    assert long.endswith("…") and len(long) < 140


def test_summary_lines_keep_their_format():
    assignment = {"assignment_id": "abcdef123456", "customer_id": "c-1", "offer": {"name": "Free Coffee"},
                  "scores": {"churn_probability": 0.7}, "decision_window": "2026-W10"}
    line = render_record(record(Decoded(assignment), key="camp-1"), "summary")
    assert line == ("offer abcdef12  campaign=camp-1  customer=c-1  offer='Free Coffee'  churn=0.7  window=2026-W10")
    assert render_record(record(Decoded({"a": 1})), "summary") == '2:17 key=c-1 {"a": 1}'
    assert render_record(record(Decoded({"a": 1}, error="E")), "summary") == '2:17 key=c-1 INVALID (E) {"a": 1}'


def overview_row(committed, end=(5, 3), low=(0, 1)):
    marks = {("p-purchases", p): (lo, e) for p, (lo, e) in enumerate(zip(low, end))}
    done = {("p-purchases", p): c for p, c in enumerate(committed)}
    return _row("grp", "p-purchases", [0, 1], marks, done)


def test_lag_counts_from_the_committed_offset_or_else_the_low_watermark():
    row = overview_row([5, 2])
    assert (row["end_offsets"], row["end_total"], row["lag"], row["lag_total"]) == ([5, 3], 8, [0, 1], 1)
    assert row["lag_from"] == LAG_FROM_COMMITTED and row["committed"] == [5, 2]
    never = overview_row([-1001, -1001])
    assert never["lag"] == [5, 2] and never["committed"] == [None, None] and never["lag_from"] == LAG_FROM_LOW
    assert overview_row([5, -1001])["lag_from"] == "mixed"


def test_the_overview_renders_one_aligned_line_per_topic():
    rows = [overview_row([5, 2]), {**overview_row([-1001, -1001]), "name": "p-offers"}]
    lines = render_overview(rows).splitlines()
    assert lines[0] == "consumer group: grp"
    assert lines[1].split()[:5] == ["topic", "parts", "end", "lag", "lag"]
    assert lines[2].split() == ["p-purchases", "2", "8", "1", "committed", "0:5/0", "1:3/1"]
    assert lines[3].split() == ["p-offers", "2", "8", "7", "low", "watermark", "0:5/5", "1:3/2"]
    assert lines[2].index(" 8 ") == lines[3].index(" 8 ")
    assert render_overview([]).startswith("no project topics exist")
