"""Offer decisions across real workers: budgets, caps and control groups hold, and silence is reached."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
import redis

from core.decisions import in_control_group
from schemas import DecisionTrace, OfferAssignment
from streams.kafka.publisher import EventPublisher
from tests.integration.conftest import read_topic
from tests.unit.factories import purchase

pytestmark = pytest.mark.integration

CUSTOMERS = 1000
CAMPAIGN = {
    "campaign_id": "budget-100", "name": "A hundred free coffees", "status": "active",
    "offer_id": "free-coffee", "offer_config": {"sku": "SKU-COFFEE"},
    "total_budget": 100, "customer_cap": 1, "control_share": 0.2, "expires_after_days": 7,
}
OFFER = {"offer_id": "free-coffee", "name": "Free Coffee", "description": "A free coffee.", "category": "free_item",
         "lifecycle_stage": "retention", "target_value_segment": "all"}


def test_two_workers_never_overspend_a_budget_and_hold_out_the_control_share(settings, start_worker, tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"offers": [OFFER], "campaigns": [CAMPAIGN]}))
    custom = settings.model_copy(update={"catalog_file": str(catalog)})
    first = start_worker(custom)
    second = start_worker(custom)
    purchases = custom.topic("purchases")

    def owns_purchases(worker):
        return {p for p in worker.health()["assigned_partitions"] if p.startswith(purchases + ":")}

    first.wait_for(lambda h: h["ready"] and owns_purchases(first) and owns_purchases(second)
                   and not owns_purchases(first) & owns_purchases(second), what="the partitions shared by two workers")

    publisher = EventPublisher(custom)
    customers = [f"b-{i:04d}" for i in range(CUSTOMERS)]
    for i, customer in enumerate(customers):
        # Twice each: the cap of one must hold when a customer comes back.
        publisher.publish(purchase(customer, day=0, total=12, n=1))
        publisher.publish(purchase(customer, day=0.5, total=12, n=2))
    assert publisher.flush() == 0

    def processed(worker) -> int:
        return worker.health()["counters"]["processed"].get(purchases, 0)

    first.wait_for(lambda h: processed(first) + processed(second) == 2 * CUSTOMERS, timeout=120, what="all purchases")
    assert processed(first) > 0 and processed(second) > 0, "both workers must have taken part"

    offers = [OfferAssignment.model_validate_json(r.value()) for r in
              read_topic(custom, "offer-assignments", expect=100, idle=3.0)]
    assert len(offers) == 100
    assert len({o.customer_id for o in offers}) == 100, "a customer got two"
    assert len({o.assignment_id for o in offers}) == 100

    traces = [DecisionTrace.model_validate_json(r.value()) for r in read_topic(custom, "decisions", expect=2 * CUSTOMERS)]
    held = {t.customer_id for t in traces if "budget-100" in t.held_out}
    expected = {c for c in customers if in_control_group(c, "budget-100", 0.2)}
    assert held == expected
    assert abs(len(held) - 0.2 * CUSTOMERS) < 4 * (CUSTOMERS * 0.2 * 0.8) ** 0.5  # within 4 standard deviations
    assert not held & {o.customer_id for o in offers}
    reasons = Counter(t.blocked.get("budget-100") for t in traces if t.chosen_campaign_id is None and t.eligible)
    assert reasons["limits: total_budget"] > 0 and reasons["limits: customer_cap"] > 0

    usage = redis.Redis.from_url(custom.redis_url, decode_responses=True)
    assert int(usage.get(f"{custom.app_id}:limits:total:budget-100") or 0) == 100
    print(f"\nbudget: {len(offers)} offers from {processed(first)}+{processed(second)} purchases on two workers, "
          f"{len(held)} held out of {CUSTOMERS}, blocked: {dict(reasons)}")


def test_a_silent_customer_is_won_back_live_without_sending_an_event(settings, start_worker):
    """The live worker reaches a customer who went quiet, from event time alone, as replay does."""
    from sim.population import generate

    worker = start_worker()
    publisher = EventPublisher(settings)
    n = 0
    for event in generate(customers=200, days=200, seed=12)[1]:  # teach the churn model what silence means
        publisher.publish(event)
        n += 1
    assert publisher.flush() == 0
    worker.wait_for(lambda h: sum(h["counters"]["events_in"].values()) == n, timeout=180, what=f"{n} warm-up events")

    start = (worker.health()["watermark"] - purchase(day=0).ts) / 86400
    for i in range(6):
        publisher.publish(purchase("fading", day=start + 7 * i, total=40, n=i))
    # Handled before the clock's records are sent: the two customers sit on different
    # partitions, whose records the worker puts in time order only within one fetch.
    # Read before fading's, the clock's would be 36 days ahead of the watermark: refused.
    assert publisher.flush() == 0
    worker.wait_for(lambda h: sum(h["counters"]["events_in"].values()) == n + 6, timeout=60, what="fading's purchases")
    last = start + 35
    for day in range(1, 120):
        publisher.publish(purchase("clock", day=last + day, total=15, n=day))
    assert publisher.flush() == 0
    worker.wait_for(lambda h: sum(h["counters"]["events_in"].values()) == n + 6 + 119, timeout=120, what="the tail")

    # The sweeps run on ticks (every 2 s) after the records: wait for the one that wins fading back.
    deadline, won_back = time.monotonic() + 60, []
    while not won_back and time.monotonic() < deadline:
        offers = [OfferAssignment.model_validate_json(r.value()) for r in read_topic(settings, "offer-assignments", expect=1)]
        won_back = [o for o in offers if o.customer_id == "fading" and o.campaign_id == "retain-at-risk"
                    and o.trigger_event_id.startswith("sweep@")]
    if not won_back:
        traces = [DecisionTrace.model_validate_json(r.value()) for r in read_topic(settings, "decisions", expect=1)]
        seen = [(t.trigger_event_id, t.chosen_campaign_id, t.blocked.get("retain-at-risk"), t.profile.get("churn_risk"),
                 round(t.scores.get("churn_probability", -1), 3)) for t in traces if t.customer_id == "fading"]
        pytest.fail(f"no sweep won fading back; its decisions: {seen}")
    assert (won_back[-1].issued_at.timestamp() - purchase(day=last).ts) / 86400 >= 14
