import json

import pytest

from schemas import EngagementEvent, InvalidEvent, OfferAssignment, PurchaseEvent, decode, encode
from tests.unit.factories import purchase_json


def raw(body: dict) -> bytes:
    return json.dumps(body).encode()


def test_valid_purchase_decodes_and_ignores_unknown_fields():
    event = decode(PurchaseEvent, raw(purchase_json(vendor_extra={"a": 1})))
    assert event.customer_id == "cust-1"
    assert event.total == 20.0
    assert event.occurred_at.utcoffset().total_seconds() == 0
    assert not hasattr(event, "vendor_extra")


def test_offsets_are_normalised_to_utc():
    event = decode(PurchaseEvent, raw(purchase_json(occurred_at="2026-03-02T14:00:00+02:00")))
    assert event.occurred_at.isoformat() == "2026-03-02T12:00:00+00:00"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[1, 2]", "<root>: Input should be an object"),
        (raw(purchase_json(customer_id=...)), "customer_id: Field required"),
        (raw(purchase_json(total=-5)), "total: Input should be greater than or equal to 0"),
        (raw(purchase_json(total=500.0)), "exceeds the sum of line items"),
        (raw(purchase_json(currency="XXX")), "currency: Input should be 'USD'"),
        (raw(purchase_json(occurred_at="2026-03-02T12:00:00")), "occurred_at: Input should have timezone info"),
        (raw(purchase_json(customer_id="has space")), "customer_id: String should match pattern"),
        (raw(purchase_json(total="20.0")), "total: Input should be a valid number"),
        (raw(purchase_json(schema_version=2)), "schema_version: Input should be 1"),
        (raw(purchase_json(items=[{"sku": "S", "category": "c", "quantity": 0, "unit_price": 1}])), "items.0.quantity"),
    ],
)
def test_invalid_purchases_raise_with_a_reason(payload, reason):
    with pytest.raises(InvalidEvent) as caught:
        decode(PurchaseEvent, payload)
    assert reason in caught.value.reason


def test_none_and_oversized_values_are_invalid():
    with pytest.raises(InvalidEvent, match="no value"):
        decode(PurchaseEvent, None)
    with pytest.raises(InvalidEvent, match="exceeds"):
        decode(PurchaseEvent, b" " * 2_000_000)


def test_engagement_type_is_checked():
    body = {"event_id": "e", "customer_id": "c", "occurred_at": "2026-03-02T12:00:00Z", "type": "app_open"}
    assert decode(EngagementEvent, raw(body)).channel == "app"
    with pytest.raises(InvalidEvent, match="type"):
        decode(EngagementEvent, raw({**body, "type": "teleported"}))


def test_purchase_round_trips_through_plain_json():
    event = decode(PurchaseEvent, raw(purchase_json()))
    wire = json.loads(encode(event))
    assert wire["total"] == 20.0 and isinstance(wire["total"], float)
    assert wire["items"][0]["unit_price"] == 10.0
    assert decode(PurchaseEvent, encode(event)) == event


def test_assignment_json_schema_lists_required_fields():
    required = set(OfferAssignment.model_json_schema()["required"])
    assert {"assignment_id", "campaign_id", "customer_id", "offer", "issued_at", "expires_at"} <= required


def test_a_basket_total_is_compared_with_its_lines_as_money():
    three = [{"sku": "S", "category": "c", "quantity": 3, "unit_price": 13.10}]
    # 13.1033 a unit, rounded on the receipt: within half a cent per unit of the lines (39.30 + 0.015).
    assert decode(PurchaseEvent, raw(purchase_json(items=three, total=39.31))).total == 39.31
    assert decode(PurchaseEvent, raw(purchase_json(items=three, total=39.315))).total == 39.315
    with pytest.raises(InvalidEvent, match="exceeds the sum of line items 39.30"):
        decode(PurchaseEvent, raw(purchase_json(items=three, total=39.32)))
    # Float sums of many small prices land a hair above the cents; decimals do not.
    dimes = [{"sku": "D", "category": "c", "quantity": 1, "unit_price": 0.1} for _ in range(10)]
    assert sum(0.1 for _ in range(10)) != 1.0
    assert decode(PurchaseEvent, raw(purchase_json(items=dimes, total=1.05))).total == 1.05
    with pytest.raises(InvalidEvent, match="exceeds the sum of line items 1.00"):
        decode(PurchaseEvent, raw(purchase_json(items=dimes, total=1.06)))
