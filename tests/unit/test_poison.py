"""Poison records through the core: each kind is refused with a readable reason, changes nothing,
and the next good record is processed. No I/O: `core.processing.Processor` with in-memory state.

`POISON` is also what tests/integration/test_poison.py publishes to a real worker.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from core import EngineConfig, LoyaltyEngine, load_catalog
from core.admission import TimeGate
from streams.kafka.inputs import refuse_headers
from core.limits import ContactPolicy, MemoryLimits
from core.processing import Processor
from schemas import DeadLetter, InvalidEvent, PurchaseEvent, decode, encode
from schemas.codec import MAX_EVENT_BYTES, MAX_REASON_CHARS, MAX_SOURCE_BYTES
from schemas.deadletter import MAX_KEPT_BYTES, MAX_KEPT_KEY_BYTES
from schemas.headers import check_headers, headers_for
from sources.mapping import load_mappings, to_canonical
from streams.cli.ingest import read_jsonl
from tests.unit.factories import T0, purchase, purchase_json

GOOD_CUSTOMER = "c-good"


@dataclass(frozen=True)
class Poison:
    label: str
    topic: str  # base topic: purchases, engagements, payments
    key: bytes | None
    value: bytes | None
    reason: str  # a part of the dead letter's reason
    headers: tuple = ()  # Kafka headers (only the live worker sees them)


def body(customer: str, **overrides) -> dict:
    return purchase_json(**{"customer_id": customer, "event_id": f"e-{customer}", **overrides})


def raw(document: dict) -> bytes:
    return json.dumps(document).encode()


def with_field(customer: str, name: str, literal: bytes, **overrides) -> bytes:
    """A purchase whose `name` is the JSON text `literal` as is (NaN, 1e400, 10**100000...)."""
    return raw(body(customer, **overrides))[:-1] + b', "' + name.encode() + b'": ' + literal + b"}"


def _poison() -> list[Poison]:
    cases = []

    def add(label, value, reason, *, topic="purchases", key=..., headers=()):
        customer = f"pz-{label}"
        cases.append(Poison(label, topic, customer.encode() if key is ... else key, value, reason, headers))

    # Size: over the event limit, far over it, and just under what the broker takes (1 MB).
    add("oversized", with_field("pz-oversized", "pad", b'"' + b"x" * (MAX_EVENT_BYTES + 10) + b'"'), "too large")
    add("near-broker-limit-nul", b"\x00" * 999_000, "too large: record of 999,000 bytes")
    # Not UTF-8: a stray byte, a UTF-16 surrogate encoded in UTF-8, a byte order mark.
    add("invalid-utf8", raw(body("pz-invalid-utf8")).replace(b"store-9", b"store-\xff9"), "not JSON: invalid UTF-8")
    add("utf8-surrogate", raw(body("pz-utf8-surrogate")).replace(b"store-9", b"store-\xed\xa0\x80"),
        "not JSON: invalid UTF-8")
    add("bom", b"\xef\xbb\xbf" + raw(body("pz-bom")), "byte order mark")
    # Deep JSON: 100,000 nested arrays (too large to parse), 30,000 (refused by the parser), 300 inside a field.
    add("deep-100k", b"[" * 100_000 + b"]" * 100_000, "too large")
    add("deep-30k", b"[" * 30_000 + b"]" * 30_000, "nested more than 200 levels deep")
    add("deep-in-field", with_field("pz-deep-in-field", "items", b"[" * 300 + b"]" * 300),
        "nested more than 200 levels deep")
    add("deep-objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "nested more than 200 levels deep")
    # Huge numbers, in read fields and in ignored ones.
    add("int-100k-digits", with_field("pz-int-100k-digits", "total", b"9" * 100_000), "number out of range")
    add("int-40-digits-ignored", with_field("pz-int-40-digits-ignored", "vendor_ref", b"1" * 40),
        "number out of range at vendor_ref: an integer of 40 digits")
    add("float-1e400", with_field("pz-float-1e400", "total", b"1e400"), "number out of range at total")
    add("float-1e400-ignored", with_field("pz-float-1e400-ignored", "x", b"-1e400"), "number out of range at x")
    add("nan", with_field("pz-nan", "total", b"NaN"), "NaN and Infinity are not JSON numbers")
    add("infinity-ignored", with_field("pz-infinity-ignored", "x", b"Infinity"), "NaN and Infinity")
    add("minus-infinity", raw(body("pz-minus-infinity")).replace(b'"unit_price": 10.0', b'"unit_price": -Infinity'),
        "NaN and Infinity")
    # Timestamps: outside (1970-01-01, 2100-01-01), as epoch numbers, and too far from the watermark.
    add("year-9999", raw(body("pz-year-9999", occurred_at="9999-12-31T23:59:59Z")), "is not before 2100-01-01")
    add("year-1", raw(body("pz-year-1", occurred_at="0001-01-01T00:00:00Z")), "is not after 1970-01-01")
    add("epoch-0", raw(body("pz-epoch-0", occurred_at=0)), "is not after 1970-01-01")
    add("epoch-1e18-seconds", raw(body("pz-epoch-1e18-seconds", occurred_at=1e18)), "dates after 9999")
    add("year-2099", raw(body("pz-year-2099", occurred_at="2099-06-01T00:00:00Z")),
        "days ahead of the event-time watermark")
    add("a-year-and-more-behind", raw(body("pz-a-year-and-more-behind", occurred_at="2024-12-01T00:00:00Z")),
        "days behind the event-time watermark")
    # Versions this worker does not read.
    add("schema-version-2", raw(body("pz-schema-version-2", schema_version=2)),
        "unknown schema_version 2 (this worker reads 1)")
    add("schema-version-1.5", raw(body("pz-schema-version-1.5", schema_version=1.5)), "unknown schema_version 1.5")
    add("schema-version-string", raw(body("pz-schema-version-string", schema_version="1")),
        "schema_version: Input should be 1")
    # Wrong types and shapes.
    add("total-as-string", raw(body("pz-total-as-string", total="20.0")), "total: Input should be a valid number")
    add("quantity-fraction", raw(body("pz-quantity-fraction",
                                      items=[{"sku": "S", "category": "c", "quantity": 1.5, "unit_price": 1}])),
        "items.0.quantity")
    add("customer-as-number", raw(body("pz-customer-as-number", customer_id=42)), "customer_id: Input should be")
    add("time-as-boolean", raw(body("pz-time-as-boolean", occurred_at=True)), "occurred_at")
    add("root-array", b"[1, 2]", "<root>: Input should be an object")
    add("root-null", b"null", "<root>: Input should be an object")
    add("empty-bytes", b"", "not JSON")
    add("no-value", None, "empty record (no value)")
    add("engagement-type", raw({**body("pz-engagement-type"), "type": "teleported"}), "type: Input should be",
        topic="engagements")
    add("payment-amount-nan", with_field("pz-payment-amount-nan", "amount", b"NaN", type="bill_due", bill_id="b-1"),
        "NaN and Infinity", topic="payments")
    # Keys: none, another customer's, not UTF-8, and half a megabyte.
    add("missing-key", raw(body("pz-missing-key")), "record key None is not the customer_id", key=None)
    add("key-not-customer", raw(body("pz-key-not-customer")), "is not the customer_id 'pz-key-not-customer'",
        key=b"c-someone-else")
    add("key-not-utf8", raw(body("pz-key-not-utf8")), "is not the customer_id", key=b"\xff\xfe")
    add("key-500kb", raw(body("pz-key-500kb")), "is not the customer_id", key=b"k" * 500_000)
    return cases


POISON = _poison()
# Only the live worker sees headers: its agent refuses these before the core (`streams.kafka.inputs.refuse_headers`).
HEADER_POISON = [
    Poison("header-schema-version-2", "purchases", b"pz-header-schema-version-2",
           raw(body("pz-header-schema-version-2")), "unknown schema-version header 2 (this worker reads 1)",
           (("content-type", b"application/json"), ("schema-version", b"2"))),
]


def test_poison_labels_and_customers_are_unique():
    labels = [p.label for p in POISON + HEADER_POISON]
    assert len(labels) == len(set(labels))


def warm_up() -> list[tuple[str, bytes, bytes]]:
    """The records before any poison: 99 customers' purchases in the half day before T0, then
    `GOOD_CUSTOMER`'s at T0: the watermark (T0) rests on the 100 records the time rule wants."""
    records = [("purchases", f"c-warm-{i}".encode(), encode(purchase(f"c-warm-{i}", day=-0.5 + i / 200, n=1)))
               for i in range(99)]
    return [*records, ("purchases", GOOD_CUSTOMER.encode(), encode(purchase(GOOD_CUSTOMER, day=0, n=1)))]


class Harness:
    """A Processor over a dict of states, after `warm_up()` (or `first` records of it)."""

    def __init__(self, config: EngineConfig | None = None, first: int = 100) -> None:
        self.engine = LoyaltyEngine(load_catalog(None), config=config or EngineConfig())
        self.states: dict = {}
        self.processor = Processor(self.engine, self.states.get, lambda s: self.states.__setitem__(s.customer_id, s),
                                   MemoryLimits(), ContactPolicy(max_offers=3, window_days=7))
        self.loop = asyncio.new_event_loop()
        for topic, key, value in warm_up()[-first:] if first else []:
            result = self.process(topic, key, value)
            assert result.invalid is None and result.failure is None, result.invalid

    def process(self, topic: str, key: bytes | None, value: bytes | None):
        return self.loop.run_until_complete(self.processor.process(topic, key, value))

    def fingerprint(self):
        models = self.engine.models
        return (dict(self.states), self.engine.watermark, models.versions(), dict(models.pending),
                self.engine.churn.n_learned, dict(self.processor.due.live))

    def close(self) -> None:
        self.loop.close()


@pytest.fixture
def harness():
    h = Harness()
    yield h
    h.close()


@pytest.mark.parametrize("poison", POISON, ids=[p.label for p in POISON])
def test_each_poison_is_refused_with_its_reason_and_changes_nothing(harness, poison):
    before = harness.fingerprint()
    result = harness.process(poison.topic, poison.key, poison.value)
    assert result.failure is None
    assert result.invalid is not None and poison.reason in result.invalid, result.invalid
    assert len(result.invalid) <= MAX_REASON_CHARS
    assert not (result.assignments or result.traces or result.badges or result.scores or result.learned)
    assert harness.fingerprint() == before  # no state, no watermark move, no learning
    # The dead letter of it is a valid record that fits in a Kafka record.
    letter = DeadLetter.build(topic=poison.topic, partition=0, offset=1, key=poison.key, value=poison.value,
                              error=result.invalid, record_timestamp=T0.timestamp())
    assert len(encode(letter)) < 900_000
    if poison.value is not None:
        kept = base64.b64decode(letter.value_base64)
        assert kept == poison.value[:MAX_KEPT_BYTES] and letter.value_size == len(poison.value)
        assert letter.value_truncated == (len(poison.value) > MAX_KEPT_BYTES)
    # ... and the next good event still goes through, moving the watermark.
    good = harness.process("purchases", GOOD_CUSTOMER.encode(), encode(purchase(GOOD_CUSTOMER, day=0.5, n=2)))
    assert good.invalid is None and good.failure is None
    assert harness.engine.watermark == purchase(day=0.5).ts
    assert harness.states[GOOD_CUSTOMER].purchase_count == 2


def test_all_poison_in_a_row_then_good_events(harness):
    """The whole list back to back (the refusals ahead of the watermark stay below the resync count)."""
    before = harness.fingerprint()
    reasons = [harness.process(p.topic, p.key, p.value).invalid for p in POISON]
    assert all(reasons) and harness.fingerprint() == before
    for n, day in enumerate((1.0, 2.0, 9.0), start=2):  # 9.0 is 7 days after 2.0: within 8
        result = harness.process("purchases", GOOD_CUSTOMER.encode(), encode(purchase(GOOD_CUSTOMER, day=day, n=n)))
        assert result.invalid is None, result.invalid
    assert harness.engine.watermark == purchase(day=9.0).ts


# -- the time rule ---------------------------------------------------------------------------

def at(day: float, customer: str = "c-time", n: int = 0) -> tuple[bytes, bytes]:
    return customer.encode(), encode(purchase(customer, day=day, n=n))


def test_the_bounds_apply_once_the_watermark_rests_on_100_records():
    h = Harness(first=1)  # only GOOD_CUSTOMER's purchase: a watermark resting on one record
    sparse = [at(40.0 * k, customer=f"c-sparse-{k}") for k in range(1, 4)]  # months apart, like a sparse feed
    assert all(h.process("purchases", *r).invalid is None for r in sparse)
    assert h.engine.watermark == purchase(day=120.0).ts
    h.close()
    h = Harness()  # the whole warm-up: 100 records
    assert h.engine.watermark == purchase(day=0).ts and h.engine.time_gate.admitted == 100
    assert h.process("purchases", *at(8.0)).invalid is None  # exactly max_lead_days ahead: admitted
    assert "ahead" in h.process("purchases", *at(8.0 + 8.01, n=1)).invalid
    assert h.process("purchases", *at(8.0 - 365, n=2)).invalid is None  # exactly max_lag_days behind
    assert "behind" in h.process("purchases", *at(8.0 - 365.01, n=3)).invalid
    h.close()


def test_a_long_pause_resyncs_after_enough_records_in_a_row():
    h = Harness(EngineConfig(lead_resync_after=3))
    later = [at(40.0 + i / 24, customer=f"c-{i}") for i in range(5)]  # a month of silence, then traffic
    assert all("ahead" in h.process("purchases", *r).invalid for r in later[:3])
    assert h.process("purchases", *later[3]).invalid is None  # the fourth in a row is admitted
    assert h.engine.watermark == purchase(day=40.0 + 3 / 24).ts and h.engine.time_gate.resyncs == 1
    assert h.process("purchases", *later[4]).invalid is None  # and traffic goes on from there
    h.close()


def test_an_admitted_or_other_refused_record_breaks_the_run():
    h = Harness(EngineConfig(lead_resync_after=2))
    assert "ahead" in h.process("purchases", *at(30.0, "c-a")).invalid
    assert "not JSON" in h.process("purchases", b"c-b", b"oops").invalid  # neutral
    assert h.process("purchases", *at(0.1, "c-c")).invalid is None  # admitted: the run starts again
    assert "ahead" in h.process("purchases", *at(30.0, "c-d")).invalid
    assert "ahead" in h.process("purchases", *at(30.0, "c-e")).invalid
    assert h.process("purchases", *at(30.0, "c-f")).invalid is None
    h.close()


def test_the_gate_is_deterministic_and_needs_no_clock():
    gate = TimeGate(max_lead_days=8, max_lag_days=365, resync_after=100, trust_after=0)
    wm = datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp()
    gate.check_event_time(wm + 8 * 86400, wm)
    with pytest.raises(InvalidEvent, match=r"is 9.0 days ahead .* \(at most 8 days\)"):
        gate.check_event_time(wm + 9 * 86400, wm)
    with pytest.raises(InvalidEvent, match=r"is 400 days behind .* \(at most 365 days\)"):
        gate.check_event_time(wm - 400 * 86400, wm)


def test_the_absolute_range_does_not_depend_on_the_clock_and_its_floor_is_a_setting():
    # Far ahead of today's clock, or long ago: the schema takes both; the core's gate decides.
    late = decode(PurchaseEvent, raw(body("c-1", occurred_at="2099-12-31T23:59:59Z")))
    old = decode(PurchaseEvent, raw(body("c-1", occurred_at="1997-03-01T10:00:00Z")))
    gate = TimeGate()
    gate.check_event_time(late.ts, watermark=0.0)
    gate.check_event_time(old.ts, watermark=0.0)
    with pytest.raises(InvalidEvent, match="is not before 2100-01-01"):
        gate.check_event_time(decode(PurchaseEvent, raw(body("c-1", occurred_at="2100-01-01T00:00:00Z"))).ts, 0.0)
    floor = datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()
    with pytest.raises(InvalidEvent, match=r"1997-03-01T10:00:00\+00:00 is not after 2000-01-01"):
        TimeGate(earliest=floor).check_event_time(old.ts, watermark=0.0)


# -- size limit, versions, headers -------------------------------------------------------------

def test_an_event_of_exactly_the_size_limit_is_read():
    start = with_field("c-1", "pad", b'""')
    padded = start[:-3] + b'"' + b"x" * (MAX_EVENT_BYTES - len(start)) + b'"}'
    assert len(padded) == MAX_EVENT_BYTES
    assert decode(PurchaseEvent, padded).customer_id == "c-1"
    with pytest.raises(InvalidEvent, match="too large"):
        decode(PurchaseEvent, padded[:-2] + b'x"}')


def test_the_largest_event_the_contract_allows_fits_the_size_limit():
    item = {"sku": "S" * 64, "category": "C" * 64, "quantity": 10_000, "unit_price": 1_000_000.0}
    largest = body("c" * 64, event_id="e" * 64, store_id="s" * 64, items=[item] * 500, total=10_000_000.0,
                   occurred_at="2026-03-02T12:00:00.123456+02:00", payment_method="bank_transfer")
    assert len(encode(decode(PurchaseEvent, raw(largest)))) < MAX_EVENT_BYTES


def test_header_schema_version():
    check_headers(PurchaseEvent, headers_for("purchases"))  # what our publisher sends
    check_headers(PurchaseEvent, None)
    check_headers(PurchaseEvent, [("content-type", b"application/json")])  # no header: the body decides
    for value in (b"2", b"0", b"1.0", b"v1", b"\xff"):
        with pytest.raises(InvalidEvent, match="unknown schema-version header"):
            check_headers(PurchaseEvent, [("schema-version", value)])
    (poison,) = HEADER_POISON
    assert refuse_headers(poison.topic, list(poison.headers)).invalid == poison.reason
    assert refuse_headers("payments", {"schema-version": b"1"}) is None  # a mapping of headers too


# -- the dead letter itself ----------------------------------------------------------------------

def test_a_dead_letter_always_fits_a_record():
    huge_key = b"k" * 900_000
    for value in (b"\x00" * 999_000, b'"' * 999_000, b"\xff" * 999_000, "é".encode() * 400_000):
        letter = DeadLetter.build(topic="purchases", partition=0, offset=1, key=huge_key, value=value, error="e" * 5000,
                                  record_timestamp=9e15)
        size = len(encode(letter))
        assert size < 900_000, size
        assert letter.value_truncated and letter.value_size == len(value)
        assert letter.key_truncated and letter.key_size == len(huge_key)
        assert len(base64.b64decode(letter.key_base64)) == MAX_KEPT_KEY_BYTES
        assert letter.record_timestamp is None  # a Kafka timestamp beyond year 9999 is left out
        assert len(letter.error) == 2000


def test_dead_letter_text_only_for_whole_values():
    whole = "é".encode() * (MAX_KEPT_BYTES // 2)
    assert DeadLetter.build(topic="t", partition=0, offset=0, key=None, value=whole, error="x").value_text == whole.decode()
    cut = DeadLetter.build(topic="t", partition=0, offset=0, key=None, value=whole + b"x", error="x")
    assert cut.value_truncated and cut.value_text is None and cut.value_base64
    nul = DeadLetter.build(topic="t", partition=0, offset=0, key=None, value=b"\x00" * MAX_KEPT_BYTES, error="x")
    assert nul.value_text is None and len(encode(nul)) < 400_000  # 6 bytes a character as JSON text: left out


def test_small_poison_keeps_its_bytes_and_text():
    letter = DeadLetter.build(topic="t", partition=0, offset=0, key=b"c-1", value=b"\x00\x01 oops", error="x")
    assert letter.value_text == "\x00\x01 oops" and not letter.value_truncated and not letter.key_truncated
    assert letter.key_size == 3


# -- vendor payloads and files ------------------------------------------------------------------

ACME = next(m for m in load_mappings("sources") if m.name == "acme-pos")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{" + b" " * MAX_SOURCE_BYTES + b"}", "too large"),
        (b"[" * 200_000 + b"]" * 200_000, "too large"),
        (b"[" * 50_000, "not JSON: nested more than 200 levels deep"),
        (b'{"txn": {"id": "A-1", "totalCents": NaN}}', "not JSON: NaN and Infinity"),
        (b'{"txn": {"id": "A-1", "x": 1e400}}', "number out of range at txn.x"),
        (b'{"txn": {"id": "A-\xff"}}', "not JSON: invalid UTF-8"),
        (b'{"txn": {"id": "\\ud800"}}', "not JSON"),
        (b'{"txn": {"id": "A-1", "ts": 1e21, "totalCents": 100, "currency": "EUR", "tender": {"type": "VISA"},'
         b' "lines": []}, "member": {"loyaltyNo": "c-1"}, "store": {"code": "s-1"}}', "occurred_at (from txn.ts)"),
    ],
)
def test_vendor_poison_is_refused(payload, reason):
    with pytest.raises(InvalidEvent) as caught:
        to_canonical(ACME, payload)
    assert reason in caught.value.reason


def test_vendor_ignored_fields_may_hold_64_bit_serials():
    payload = {"txn": {"id": "A-1", "ts": 1772452800000, "totalCents": 100, "currency": "EUR",
                       "tender": {"type": "VISA"}, "lines": [], "serial": 18_000_000_000_000_000_000},
               "member": {"loyaltyNo": "c-1"}, "store": {"code": "s-1"}}
    assert to_canonical(ACME, json.dumps(payload).encode()).customer_id == "c-1"


def test_files_with_poison_lines_are_read_to_the_end():
    lines = ["[" * 100_000 + "\n", '{"topic": ["purchases"], "value": {}}\n', '{"total": NaN}\n',
             json.dumps(body("c-1")) + "\n"]
    read = list(read_jsonl(iter(lines), "purchases"))
    assert [line.error is None for line in read] == [False, False, False, True]
    assert "nested more than 200 levels deep" in read[0].error and "NaN" in read[2].error
