"""The synthetic population: deterministic, canonical, ordered, and carrying the signal its truth says."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from itertools import islice
from importlib import resources

import pytest

from sim.population import (
    ACTIVE_CAMPAIGNS,
    CustomerTruth,
    generate,
    read_jsonl,
    topic_of,
    write_jsonl,
    write_truth,
)
from schemas.events import EngagementEvent, PaymentEvent, PurchaseEvent

MODELS = {"purchases": PurchaseEvent, "engagements": EngagementEvent, "payments": PaymentEvent}
START = datetime(2025, 11, 1, tzinfo=timezone.utc)
DAYS = 365


@pytest.fixture(scope="module")
def population():
    """1000 customers over a year, generated once for the statistical tests."""
    truths, events = generate(customers=1000, days=DAYS, seed=11)
    return truths, list(events)


@pytest.fixture(scope="module")
def by_customer(population):
    truths, events = population
    purchases: dict[str, list[PurchaseEvent]] = defaultdict(list)
    payments: dict[str, list[PaymentEvent]] = defaultdict(list)
    for e in events:
        if isinstance(e, PurchaseEvent):
            purchases[e.customer_id].append(e)
        elif isinstance(e, PaymentEvent):
            payments[e.customer_id].append(e)
    return {t.customer_id: t for t in truths}, purchases, payments


def days_of(events) -> list[float]:
    return [(e.occurred_at - START).total_seconds() / 86_400 for e in events]


def quartiles(truths):
    ranked = sorted(truths, key=lambda t: t.loyalty)
    q = len(ranked) // 4
    return ranked[:q], ranked[-q:]


def test_same_seed_same_events_and_different_seed_differs():
    a_truth, a = generate(customers=150, days=90, seed=3)
    b_truth, b = generate(customers=150, days=90, seed=3)
    a, b = list(a), list(b)
    assert a_truth == b_truth
    assert len(a) > 1000
    assert a == b
    assert [e.event_id for e in a] == [e.event_id for e in b]
    c_truth, c = generate(customers=150, days=90, seed=4)
    c = list(c)
    assert c_truth != a_truth
    assert [(e.customer_id, e.occurred_at) for e in c[:200]] != [(e.customer_id, e.occurred_at) for e in a[:200]]


def test_generation_is_lazy():
    _, events = generate(customers=50_000, days=365, seed=1)
    assert len(list(islice(events, 10))) == 10  # would take far longer if the year were built first


def test_events_are_canonical_ordered_unique_and_inside_the_window(population):
    truths, events = population
    assert len(truths) == 1000
    assert 20 * len(truths) <= len(events) <= 80 * len(truths)
    assert {topic_of(e) for e in events} == {"purchases", "engagements", "payments"}
    assert all(a.occurred_at <= b.occurred_at for a, b in zip(events, events[1:]))
    assert len({e.event_id for e in events}) == len(events)
    assert events[0].occurred_at >= START
    assert events[-1].occurred_at < START + timedelta(days=DAYS)
    for e in events:
        assert type(e).model_validate(e.model_dump()) == e
        if isinstance(e, PurchaseEvent):
            lines = sum(i.quantity * i.unit_price for i in e.items)
            assert 1 <= len(e.items) <= 6
            assert e.total <= lines + 1e-9 and abs(e.total - lines) < 0.01
            assert e.total == round(e.total, 2)
            assert e.currency == "USD"


def test_baskets_and_channels_are_varied(population):
    _, events = population
    purchases = [e for e in events if isinstance(e, PurchaseEvent)]
    statuses = {e.payment_status for e in purchases}
    assert statuses == {"paid", "pending", "refunded", "failed"}
    pending = sum(e.payment_status == "pending" for e in purchases) / len(purchases)
    rare = sum(e.payment_status in ("refunded", "failed") for e in purchases) / len(purchases)
    assert 0.02 < pending < 0.15 and 0.002 < rare < pending
    assert len({e.payment_method for e in purchases}) >= 5
    assert len({i.category for e in purchases for i in e.items}) >= 6
    assert len({e.channel for e in events if isinstance(e, EngagementEvent)}) >= 4
    kinds = {e.type for e in events if isinstance(e, EngagementEvent)}
    assert {"app_open", "email_open", "email_click", "push_open", "offer_viewed",
            "offer_accepted", "offer_redeemed", "offer_dismissed"} <= kinds


def test_category_preferences_show_in_baskets(by_customer):
    truth, purchases, _ = by_customer
    hits = total = 0
    for cid, ps in purchases.items():
        if len(ps) < 10:
            continue
        favourite = max(truth[cid].category_weights, key=lambda cw: cw[1])[0]
        counts = defaultdict(int)
        for p in ps:
            for item in p.items:
                counts[item.category] += 1
        total += 1
        hits += max(counts, key=counts.get) == favourite
    assert total > 200
    assert hits / total > 0.5  # chance would be about 1/8


def test_round_trip_through_jsonl(tmp_path):
    truths, events = generate(customers=40, days=60, seed=5)
    events = list(events)
    path = tmp_path / "events.jsonl"
    assert write_jsonl(iter(events), path) == len(events)
    with open(path, "ab") as f:
        f.write(b"not json\n")
        f.write(b'{"key": "cust-1", "value": {}}\n')
    rows = list(read_jsonl(path))
    assert len(rows) == len(events) + 2
    assert rows[-2] == ("<invalid>", None, b"not json")
    assert rows[-1][0] == "<invalid>" and rows[-1][1] is None
    for (topic, key, value), original in zip(rows, events):
        assert topic == topic_of(original)
        assert key == original.customer_id.encode()
        assert value == json.dumps(json.loads(value), separators=(",", ":")).encode()  # compact JSON
        assert MODELS[topic].model_validate_json(value) == original

    truth_path = tmp_path / "truth.json"
    assert write_truth(truths, truth_path, seed=5, days=60) == 40
    body = json.loads(truth_path.read_text())
    assert body["seed"] == 5 and body["days"] == 60
    assert [CustomerTruth(**{**d, "category_weights": tuple(d["category_weights"].items())})
            for d in body["customers"]] == truths


def test_churners_stop_buying_and_fade_first(by_customer):
    truth, purchases, _ = by_customer
    churners = [t for t in truth.values() if t.churn_at is not None]
    assert 0.1 < len(churners) / len(truth) < 0.5
    growth = []
    for t in churners:
        churn_at = datetime.fromisoformat(t.churn_at)
        ps = purchases.get(t.customer_id, [])
        assert all(p.occurred_at < churn_at for p in ps), t.customer_id
        times = days_of(ps)
        gaps = [b - a for a, b in zip(times, times[1:])]
        if len(gaps) >= 6:
            third = len(gaps) // 3
            growth.append(statistics.mean(gaps[-third:]) / statistics.mean(gaps[:third]))
    assert len(growth) > 40
    assert statistics.mean(growth) > 1.5
    assert sum(g > 1 for g in growth) / len(growth) > 0.7


def test_churners_engage_less_after_churn(population):
    truths, events = population
    churn = {t.customer_id: datetime.fromisoformat(t.churn_at) for t in truths if t.churn_at}
    joined = {t.customer_id: datetime.fromisoformat(t.joined_at) for t in truths}
    before: dict[str, int] = defaultdict(int)
    after: dict[str, int] = defaultdict(int)
    for e in events:
        if isinstance(e, EngagementEvent) and e.customer_id in churn:
            (after if e.occurred_at >= churn[e.customer_id] else before)[e.customer_id] += 1
    end = START + timedelta(days=DAYS)
    rate_before = sum(before.values()) / sum((c - joined[cid]).days for cid, c in churn.items())
    rate_after = sum(after.values()) / sum((end - c).days for c in churn.values())
    assert rate_after < 0.3 * rate_before


def test_churn_is_more_common_among_the_disloyal(by_customer):
    truth, _, _ = by_customer
    low, high = quartiles(list(truth.values()))
    rate = lambda group: sum(t.churn_at is not None for t in group) / len(group)  # noqa: E731
    assert rate(low) > 2 * rate(high)


def test_loyal_customers_buy_more_often_and_spend_more(by_customer):
    truth, purchases, _ = by_customer
    low, high = quartiles(list(truth.values()))

    def count(group):
        return statistics.mean(len(purchases.get(t.customer_id, [])) for t in group)

    def basket(group):
        return statistics.mean(p.total for t in group for p in purchases.get(t.customer_id, []))

    assert count(high) > 3 * count(low)
    assert basket(high) > 1.5 * basket(low)


def test_late_or_failed_payments_follow_payment_risk(by_customer):
    truth, _, payments = by_customer
    risks, rates = [], []
    for cid, ps in payments.items():
        bills = sum(p.type == "bill_due" for p in ps)
        if bills >= 3:
            troubled = len({p.bill_id for p in ps if p.type in ("payment_late", "payment_failed")})
            risks.append(truth[cid].payment_risk)
            rates.append(troubled / bills)
    assert len(risks) > 500
    assert statistics.correlation(risks, rates) > 0.4
    # And every bill starts with its bill_due, before anything else happens to it.
    seen = set()
    for ps in payments.values():
        for p in ps:
            if p.type == "bill_due":
                seen.add(p.bill_id)
            else:
                assert p.bill_id in seen
                assert p.due_at is not None


def test_offers_only_name_active_catalog_campaigns_and_responsive_customers_redeem(population):
    truths, events = population
    affinity = {t.customer_id: t.offer_affinity for t in truths}
    catalog = json.loads(resources.files("core").joinpath("data", "catalog.json").read_text())
    active = {c["campaign_id"] for c in catalog["campaigns"] if c["status"] == "active"}
    assert set(ACTIVE_CAMPAIGNS) == active
    offer_events = [e for e in events if isinstance(e, EngagementEvent) and e.type.startswith("offer_")]
    redeemed = [e for e in offer_events if e.type == "offer_redeemed"]
    assert redeemed
    assert {e.campaign_id for e in redeemed} <= active
    # The simulated customers answer the campaigns the simulator models.
    assert {e.campaign_id for e in redeemed} >= {"welcome-2026", "big-basket", "retain-at-risk"}
    for e in offer_events:
        if e.type in ("offer_accepted", "offer_redeemed", "offer_dismissed"):
            assert e.campaign_id in active
    redeemers = [affinity[e.customer_id] for e in redeemed]
    dismissers = [affinity[e.customer_id] for e in offer_events if e.type == "offer_dismissed"]
    assert statistics.mean(redeemers) > statistics.mean(dismissers) + 0.1


def test_gap_before_a_purchase_predicts_churn(by_customer):
    """The gap just observed is larger when no purchase follows within 30 days."""
    _, purchases, _ = by_customer
    followed, not_followed = [], []
    for ps in purchases.values():
        times = days_of(ps)
        for k in range(1, len(times)):
            if times[k] > DAYS - 30:
                break  # censored: the window ends before we could tell
            gap = times[k] - times[k - 1]
            has_next = k + 1 < len(times) and times[k + 1] - times[k] <= 30
            (followed if has_next else not_followed).append(gap)
    assert len(followed) > 1000 and len(not_followed) > 200
    assert statistics.mean(not_followed) > 1.5 * statistics.mean(followed)
