import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import InvalidEvent, PurchaseEvent
from sources.mapping import SourceMapping, apply_mapping, load_mappings, to_canonical

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "sources"
DATA = ROOT / "tests" / "data"
MAPPINGS = {m.name: m for m in load_mappings(SOURCES)}
ACME, GLOBEX = MAPPINGS["acme-pos"], MAPPINGS["globex-retail"]


def lines(name: str) -> list[bytes]:
    return [line for line in (DATA / f"{name}.jsonl").read_bytes().splitlines() if line.strip()]


def payload(name: str, index: int = 0) -> dict:
    return json.loads(lines(name)[index])


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_example_mappings_load():
    assert [(m.name, m.topic, m.event) for m in load_mappings(SOURCES)] == [
        ("acme-pos", "acme-pos-sales", "purchase"),
        ("globex-retail", "globex-retail-receipts", "purchase"),
    ]
    assert load_mappings(SOURCES / "acme-pos.yaml")[0].topic == "acme-pos-sales"


@pytest.mark.parametrize(("name", "prefix"), [("acme-pos", "cust-a"), ("globex-retail", "cust-g")])
def test_every_sample_line_maps_to_a_paid_purchase(name, prefix):
    events = [to_canonical(MAPPINGS[name], line) for line in lines(name)]
    assert len(events) == 5
    assert all(isinstance(e, PurchaseEvent) for e in events)
    assert [e.customer_id for e in events] == [f"{prefix}{i}" for i in range(1, 6)]
    assert {e.payment_status for e in events} == {"paid"}
    assert {e.currency for e in events} == {"EUR"}
    assert all(e.items and e.occurred_at.tzinfo is not None for e in events)
    assert max(e.total for e in events) >= 300


def test_acme_fields_are_converted():
    events = [to_canonical(ACME, line) for line in lines("acme-pos")]
    first = events[0]
    assert (first.event_id, first.store_id, first.total) == ("A-1001", "berlin-01", 45.98)
    assert first.occurred_at == utc(2026, 1, 5, 8, 0)
    assert [(i.sku, i.category, i.quantity, i.unit_price) for i in first.items] == [
        ("SKU-1", "grocery", 2, 12.99),
        ("SKU-2", "household", 1, 20.0),
    ]
    assert [e.payment_method for e in events] == ["card", "cash", "card", "mobile_wallet", "gift_card"]
    assert events[2].total == 349.97


def test_globex_local_times_and_decimal_commas():
    events = [to_canonical(GLOBEX, line) for line in lines("globex-retail")]
    assert events[0].occurred_at == utc(2026, 3, 14, 9, 30)  # CET, +01:00
    assert events[1].occurred_at == utc(2026, 7, 2, 16, 45)  # CEST, +02:00
    assert events[3].occurred_at == utc(2026, 10, 31, 22, 10)  # after the October switch
    assert [e.total for e in events] == [45.98, 7.5, 1249.0, 30.0, 99.9]
    assert [(i.sku, i.category, i.quantity, i.unit_price) for i in events[2].items] == [
        ("LAPTOP-13", "electronics", 1, 1199.0),
        ("BAG-2", "accessories", 1, 50.0),
    ]
    assert [e.payment_method for e in events] == ["card", "cash", "card", "gift_card", "card"]


def test_globex_status_codes_and_missing_items():
    body = payload("globex-retail")
    del body["items"]
    assert apply_mapping(GLOBEX, {**body, "status": "REFUND"})["payment_status"] == "refunded"
    event = to_canonical(GLOBEX, json.dumps({**body, "status": "FAILED"}).encode())
    assert (event.payment_status, event.items) == ("failed", [])


def test_missing_field_names_canonical_field_and_vendor_path():
    body = payload("acme-pos")
    del body["txn"]["totalCents"]
    with pytest.raises(InvalidEvent) as caught:
        to_canonical(ACME, json.dumps(body).encode())
    assert caught.value.reason == "total (from txn.totalCents): missing"


def test_missing_field_inside_a_list_names_the_element():
    body = payload("acme-pos")
    del body["txn"]["lines"][1]["itemCode"]
    with pytest.raises(InvalidEvent, match=r"items\.1\.sku \(from txn\.lines\.1\.itemCode\): missing"):
        apply_mapping(ACME, body)


def test_null_without_default_is_invalid():
    body = payload("acme-pos")
    body["member"]["loyaltyNo"] = None
    with pytest.raises(InvalidEvent, match=r"customer_id \(from member\.loyaltyNo\): null"):
        apply_mapping(ACME, body)


def test_unmapped_code_is_invalid():
    body = payload("acme-pos")
    body["txn"]["tender"]["type"] = "BITCOIN"
    with pytest.raises(InvalidEvent, match=r"payment_method \(from txn\.tender\.type\): unmapped code 'BITCOIN'"):
        to_canonical(ACME, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount": "12.50"}, "total (from amount): expected an amount like 12,50"),
        ({"date": "2026-03-14 10:30"}, "occurred_at (from date): time data"),
        ({"ccy": "XXX"}, "currency (from ccy): Input should be"),
        ({"amount": "999,00"}, "exceeds the sum of line items"),
    ],
)
def test_bad_values_give_readable_reasons(change, reason):
    with pytest.raises(InvalidEvent) as caught:
        to_canonical(GLOBEX, json.dumps({**payload("globex-retail"), **change}).encode())
    assert reason in caught.value.reason


def test_validation_errors_point_at_vendor_paths_of_line_items():
    body = payload("acme-pos")
    body["txn"]["lines"][0]["qty"] = 0
    with pytest.raises(InvalidEvent, match=r"items\.0\.quantity \(from txn\.lines\.0\.qty\)"):
        to_canonical(ACME, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json at all", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe\x00", "not JSON: invalid UTF-8"),
        (b'{"a": NaN}', "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b"[1, 2]", "not a JSON object (got array)"),
        (b'"text"', "not a JSON object (got string)"),
        (b"null", "not a JSON object (got null)"),
    ],
)
def test_non_objects_are_invalid(raw, reason):
    with pytest.raises(InvalidEvent) as caught:
        to_canonical(ACME, raw)
    assert caught.value.reason.startswith(reason)


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_unknown_key_in_a_field_spec_is_refused_with_the_file_name(tmp_path):
    text = (SOURCES / "acme-pos.yaml").read_text().replace("cents: true}", "centz: true}", 1)
    write(tmp_path, "typo.yaml", text)
    with pytest.raises(ValueError, match=r"typo\.yaml.*fields\.total\.centz: Extra inputs are not permitted"):
        load_mappings(tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("  store_id: store.code\n", "  stor_id: store.code\n", "unknown purchase fields: stor_id"),
        ("  store_id: store.code\n", "", "required purchase fields not mapped: store_id"),
        ("      category: dept\n", "      categry: dept\n", "unknown items item fields: categry"),
        ("event: purchase", "event: refund", "event: Input should be"),
        ("timestamp: epoch_millis}", "timestamp: epoch_millis, timezone: Mars/Olympus}", "unknown time zone"),
        ("{path: txn.totalCents, cents: true}", "{path: txn.totalCents, cents: true, map: {A: 1}}", "choose one of"),
    ],
)
def test_invalid_mappings_are_refused_at_load_time(tmp_path, old, new, reason):
    text = (SOURCES / "acme-pos.yaml").read_text()
    assert old in text
    write(tmp_path, "bad.yaml", text.replace(old, new, 1))
    with pytest.raises(ValueError, match="bad.yaml") as caught:
        load_mappings(tmp_path / "bad.yaml")
    assert reason in str(caught.value)


def test_invalid_yaml_is_refused_with_the_file_name(tmp_path):
    write(tmp_path, "broken.yml", "name: [unclosed\n")
    with pytest.raises(ValueError, match=r"broken\.yml: invalid YAML"):
        load_mappings(tmp_path)


def test_duplicate_topic_and_name_are_refused(tmp_path):
    text = (SOURCES / "acme-pos.yaml").read_text()
    write(tmp_path, "a.yaml", text)
    write(tmp_path, "b.yaml", text.replace("name: acme-pos", "name: acme-pos-2"))
    with pytest.raises(ValueError, match=r"b\.yaml: topic 'acme-pos-sales' is already used in .*a\.yaml"):
        load_mappings(tmp_path)
    write(tmp_path, "b.yaml", text.replace("topic: acme-pos-sales", "topic: other"))
    with pytest.raises(ValueError, match=r"b\.yaml: name 'acme-pos' is already used"):
        load_mappings(tmp_path)


def test_const_default_and_iso_timestamps():
    mapping = SourceMapping.model_validate({
        "name": "demo", "topic": "demo", "event": "engagement",
        "fields": {
            "event_id": "id", "customer_id": "who", "type": {"const": "app_open"},
            "channel": {"path": "via", "default": "web"},
            "occurred_at": {"path": "at", "timestamp": "iso8601", "timezone": "America/New_York"},
        },
    })
    body = {"id": "e1", "who": "c1", "at": "2026-06-01T08:00:00"}
    event = to_canonical(mapping, json.dumps(body).encode())
    assert (event.type, event.channel, event.occurred_at) == ("app_open", "web", utc(2026, 6, 1, 12, 0))
    aware = to_canonical(mapping, json.dumps({**body, "at": "2026-06-01T08:00:00Z", "via": "email"}).encode())
    assert (aware.channel, aware.occurred_at) == ("email", utc(2026, 6, 1, 8, 0))


# --- property tests: whatever comes in, the result is an event or an InvalidEvent ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**20, max_value=10**400)
    | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def paths(value, prefix=()):
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from paths(child, (*prefix, key))


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(MAPPINGS)))
    body = copy.deepcopy(draw(st.sampled_from([json.loads(line) for line in lines(name)])))
    for _ in range(draw(st.integers(1, 3))):
        targets = [p for p in paths(body) if p]
        if not targets:
            break
        *parents, last = draw(st.sampled_from(targets))
        holder = body
        for key in parents:
            holder = holder[key]
        action = draw(st.sampled_from(["delete", "replace", "stringify", "wrap"]))
        if action == "delete":
            del holder[last]
        elif action == "replace":
            holder[last] = draw(json_values)
        elif action == "stringify":
            holder[last] = json.dumps(holder[last])
        else:
            holder[last] = [holder[last]]
    return MAPPINGS[name], json.dumps(body).encode()


def event_or_invalid(mapping, raw):
    try:
        assert isinstance(to_canonical(mapping, raw), PurchaseEvent)
    except InvalidEvent as error:
        assert error.reason


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(MAPPINGS)), st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_other_errors(name, raw):
    event_or_invalid(MAPPINGS[name], raw)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_vendor_payloads_never_escape_as_other_errors(case):
    event_or_invalid(*case)
