"""POS vendor payloads on their own topics, mapped to canonical purchases by the worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import DeadLetter, OfferAssignment, PurchaseEvent
from streams.kafka.publisher import EventPublisher
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENDORS = {"acme-pos-sales": "acme-pos.jsonl", "globex-retail-receipts": "globex-retail.jsonl"}


def test_both_vendor_mappings_feed_the_pipeline(settings, start_worker):
    custom = settings.model_copy(update={"sources_dir": str(ROOT / "sources")})
    worker = start_worker(custom)
    publisher = EventPublisher(custom)
    customers = set()
    for topic, data in VENDORS.items():
        for n, line in enumerate((ROOT / "tests" / "data" / data).read_text().splitlines()):
            # Vendors key by store or not at all: the worker re-keys by customer.
            publisher.publish_raw(custom.topic(topic), None if n % 2 else b"store-key", line.encode())
            payload = json.loads(line)
            customers.add(payload.get("customer") or payload["member"]["loyaltyNo"])
    publisher.publish_raw(custom.topic("acme-pos-sales"), None, b'{"txn": {"id": "A-bad"}}')
    assert publisher.flush() == 0

    canonical = custom.topic("purchases")
    worker.wait_for(lambda h: h["counters"]["processed"].get(canonical, 0) == len(customers), what="10 purchases")

    purchases = read_topic(custom, "purchases", expect=len(customers), idle=1.0)
    events = [PurchaseEvent.model_validate_json(r.value()) for r in purchases]
    assert {e.customer_id for e in events} == customers == {f"cust-a{i}" for i in range(1, 6)} | {
        f"cust-g{i}" for i in range(1, 6)}
    for record, event in zip(purchases, events):
        assert record.key() == event.customer_id.encode()
        assert dict(record.headers())["source"] in {b"acme-pos", b"globex-retail"}

    offers = [OfferAssignment.model_validate_json(r.value()) for r in read_topic(custom, "offer-assignments", expect=10)]
    # One best offer per purchase: big baskets get big-basket, everyone else is welcomed.
    big = {e.customer_id for e in events if e.total >= 300}
    assert big and {o.customer_id for o in offers if o.campaign_id == "big-basket"} == big
    assert {o.customer_id for o in offers if o.campaign_id == "welcome-2026"} == customers - big

    (letter,) = [DeadLetter.model_validate_json(r.value()) for r in read_topic(custom, "dead-letters", expect=1)]
    assert letter.source_topic == custom.topic("acme-pos-sales")
    assert letter.error.startswith("source acme-pos: ") and "missing" in letter.error
