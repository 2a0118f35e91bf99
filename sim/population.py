"""A seeded synthetic customer population with recorded ground truth.

`generate` draws a population of customers, each with hidden traits (the
*truth*: latent loyalty, purchase rhythm, basket size, engagement rate, payment
risk, offer affinity, and whether and when they churn), and then plays their
lives forward as canonical `PurchaseEvent`, `EngagementEvent` and
`PaymentEvent` instances in event-time order. The online models never see the
truth; tests and evaluations compare what the models learned with it.

What the truth drives (a real but noisy signal):

* loyalty shortens the gap between purchases (days for loyal customers, weeks
  for the others; gamma jitter, more regular for the loyal), enlarges baskets,
  raises engagement and offer affinity, and lowers payment risk;
* churners (more of them among the disloyal) stop buying for good at
  `churn_at`; in the weeks before it their gaps stretch out progressively and
  their engagement fades;
* baskets hold 1-6 lines from a small SKU catalog, drawn from each customer's
  category preferences, with occasional repeat buys; `total` is the exact sum
  of the lines in cents; some are "pending", rare ones "refunded"/"failed";
* campaign offers of the shipped catalog (welcome after a first purchase,
  big-basket after a basket of 300 or more, retain-at-risk after an unusually
  long silence) are viewed, then accepted and redeemed at the next purchase by
  responsive customers (which also brings that purchase forward), dismissed or
  ignored by the others;
* a monthly bill per customer is paid a few days after it is due, or is late
  or fails with probability `payment_risk`.

Nothing here knows Kafka, Faust or Redis. Events are built lazily from a heap of
per-customer next-event times, so a year of a large population streams in
constant memory; the same seed gives the same events, ids included.

>>> truths, events = generate(customers=5, days=30, seed=1)
>>> out = list(events)
>>> len(truths), out == list(generate(customers=5, days=30, seed=1)[1])
(5, True)
>>> all(a.occurred_at <= b.occurred_at for a, b in zip(out, out[1:]))
True
>>> {topic_of(e) for e in out} <= {"purchases", "engagements", "payments"}
True
>>> all(0.0 <= t.loyalty <= 1.0 for t in truths)
True
"""

from __future__ import annotations

import heapq
import json
import math
import random
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator, Union

from schemas.events import EngagementEvent, LineItem, PaymentEvent, PurchaseEvent
from schemas.topics import TOPIC_OF_EVENT

Event = Union[PurchaseEvent, EngagementEvent, PaymentEvent]

DEFAULT_START = datetime(2025, 11, 1, tzinfo=timezone.utc)

INVALID_TOPIC = "<invalid>"

# (sku, category, unit price, popularity within its category)
SKUS: tuple[tuple[str, str, float, float], ...] = (
    ("SKU-COFFEE", "grocery", 6.49, 3.0),
    ("SKU-BREAD", "grocery", 3.19, 4.0),
    ("SKU-MILK", "grocery", 2.49, 4.0),
    ("SKU-CHEESE", "grocery", 7.99, 2.0),
    ("SKU-EGGS", "grocery", 4.29, 3.0),
    ("SKU-PASTA", "grocery", 1.99, 2.0),
    ("SKU-STEAK", "grocery", 18.99, 1.0),
    ("SKU-WATER", "beverages", 0.99, 3.0),
    ("SKU-SODA", "beverages", 1.79, 3.0),
    ("SKU-JUICE", "beverages", 3.49, 2.0),
    ("SKU-BEER", "beverages", 9.99, 2.0),
    ("SKU-WINE", "beverages", 17.99, 1.5),
    ("SKU-CHAMPAGNE", "beverages", 44.0, 0.3),
    ("SKU-SOCKS", "apparel", 8.99, 2.0),
    ("SKU-TSHIRT", "apparel", 19.99, 2.0),
    ("SKU-JEANS", "apparel", 49.99, 1.0),
    ("SKU-SHOES", "apparel", 79.0, 1.0),
    ("SKU-JACKET", "apparel", 149.0, 0.5),
    ("SKU-CABLE", "electronics", 11.99, 3.0),
    ("SKU-CHARGER", "electronics", 24.99, 2.0),
    ("SKU-SPEAKER", "electronics", 89.0, 1.0),
    ("SKU-HEADPHONES", "electronics", 199.0, 0.7),
    ("SKU-TABLET", "electronics", 329.0, 0.3),
    ("SKU-SOAP", "home", 4.49, 3.0),
    ("SKU-CANDLE", "home", 12.99, 1.5),
    ("SKU-TOWELS", "home", 24.99, 1.0),
    ("SKU-PAN", "home", 39.99, 1.0),
    ("SKU-LAMP", "home", 59.99, 0.5),
    ("SKU-SHAMPOO", "beauty", 6.99, 3.0),
    ("SKU-LIPSTICK", "beauty", 14.99, 1.5),
    ("SKU-CREAM", "beauty", 22.5, 1.5),
    ("SKU-PERFUME", "beauty", 69.0, 0.5),
    ("SKU-PUZZLE", "toys", 14.99, 1.5),
    ("SKU-PLUSH", "toys", 12.49, 1.5),
    ("SKU-LEGO", "toys", 59.99, 0.7),
    ("SKU-BANDAGES", "pharmacy", 4.99, 2.0),
    ("SKU-IBUPROFEN", "pharmacy", 6.49, 2.0),
    ("SKU-VITAMINS", "pharmacy", 12.99, 1.5),
)

# How common each category is across the population before personal taste.
CATEGORY_BASE = {
    "grocery": 3.0, "beverages": 2.0, "home": 1.0, "beauty": 1.0,
    "apparel": 0.8, "pharmacy": 0.8, "electronics": 0.5, "toys": 0.5,
}
CATEGORIES = tuple(CATEGORY_BASE)
_SKUS_BY_CATEGORY = {c: [s for s in SKUS if s[1] == c] for c in CATEGORIES}

PAYMENT_METHODS = ("card", "cash", "mobile_wallet", "gift_card", "points", "bank_transfer", "other")
_METHOD_BASE = (5.0, 2.0, 2.5, 0.3, 0.3, 0.2, 0.1)

# Campaign id -> (offer id, days the accepted offer stays redeemable), read from the shipped catalog.
_FALLBACK_CAMPAIGNS = {"welcome-2026": ("welcome-bonus", 14), "retain-at-risk": ("we-miss-you-20", 7),
                       "big-basket": ("big-basket-cashback", 30)}


def _active_campaigns() -> dict[str, tuple[str, int]]:
    try:
        catalog = json.loads(resources.files("core").joinpath("data", "catalog.json").read_text())
        found = {
            c["campaign_id"]: (c["offer_id"], int(c.get("expires_after_days", 7)))
            for c in catalog.get("campaigns", [])
            if c.get("status") == "active"
        }
    except (OSError, ValueError, KeyError, TypeError):
        return dict(_FALLBACK_CAMPAIGNS)
    return found or dict(_FALLBACK_CAMPAIGNS)


ACTIVE_CAMPAIGNS = _active_campaigns()
WELCOME, RETAIN, BIG_BASKET = "welcome-2026", "retain-at-risk", "big-basket"
BIG_BASKET_TOTAL = 300.0

_ENGAGEMENT_TYPES = ("app_open", "email_open", "email_click", "push_open", "offer_viewed")
_ENGAGEMENT_CHANNEL = {"app_open": "app", "email_open": "email", "email_click": "email", "push_open": "push"}
_OFFER_CHANNELS = {WELCOME: ("app", "email"), BIG_BASKET: ("app", "push", "email"), RETAIN: ("email", "sms", "push")}


@dataclass(frozen=True)
class CustomerTruth:
    """The hidden traits of one simulated customer."""

    customer_id: str
    persona: str
    loyalty: float  # latent, 0..1
    mean_gap_days: float  # typical days between purchases while active
    mean_basket: float  # typical basket spend, USD
    engagement_rate: float  # engagement events per week while active
    payment_risk: float  # probability a bill is paid late or fails
    offer_affinity: float  # 0..1, how readily offers are accepted and redeemed
    churn_at: str | None  # ISO time after which the customer never buys again
    joined_at: str = ""  # ISO time the customer's activity starts
    home_store: str = ""
    category_weights: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict:
        out = asdict(self)
        out["category_weights"] = dict(self.category_weights)
        return out


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _persona(loyalty: float, affinity: float) -> str:
    if affinity > 0.75 and loyalty < 0.55:
        return "deal_seeker"
    if loyalty >= 0.8:
        return "champion"
    if loyalty >= 0.6:
        return "loyal"
    if loyalty >= 0.4:
        return "regular"
    if loyalty >= 0.2:
        return "occasional"
    return "drifter"


@dataclass
class _Customer:
    """Per-customer parameters and mutable simulation state (internal)."""

    idx: int
    truth: CustomerTruth
    join: float  # day offset
    churn: float  # day offset, inf if never
    fade_days: float
    cat_weights: list[float]
    method_weights: list[float]
    shop_hour: float
    bill_amount: float
    shape: float
    token: int = 0  # bumps when the next purchase is rescheduled
    next_purchase: float = math.inf
    last_purchase: float | None = None
    purchases: int = 0
    last_skus: tuple = ()
    offer: tuple[str, float] | None = None  # accepted (campaign, redeemable until)
    last_offer: dict | None = None
    bills: int = 0

    def fade(self, t: float) -> float:
        """Gap multiplier: 1 while healthy, growing to 4 as churn approaches."""
        if self.churn == math.inf:
            return 1.0
        ramp = 1.0 - (self.churn - t) / self.fade_days
        return 1.0 + 3.0 * ramp if ramp > 0 else 1.0


def _draw_population(customers: int, days: int, seed: int, start: datetime) -> list[_Customer]:
    rng = random.Random(seed)
    out = []
    for i in range(customers):
        loyalty = rng.betavariate(2.0, 2.2)
        mean_gap = 4.0 * (80.0 / 4.0) ** (1.0 - loyalty) * rng.lognormvariate(0.0, 0.2)
        mean_basket = 22.0 * (1.0 + 3.0 * loyalty) * rng.lognormvariate(0.0, 0.3)
        engagement = (0.05 + 0.6 * loyalty ** 1.5) * rng.lognormvariate(0.0, 0.35)
        risk = _clamp((0.02 + 0.45 * (1.0 - loyalty) ** 2) * rng.lognormvariate(0.0, 0.4), 0.0, 0.9)
        affinity = _clamp(0.1 + 0.55 * loyalty + rng.gauss(0.0, 0.18), 0.0, 1.0)
        join = 0.0 if rng.random() < 0.65 else rng.uniform(0.0, days * 0.6)
        churn = math.inf
        if rng.random() < 0.08 + 0.55 * (1.0 - loyalty) ** 2:
            earliest = join + 21.0
            if earliest < days * 0.95:
                churn = rng.uniform(earliest, days * 0.95)
        weights = [CATEGORY_BASE[c] * rng.gammavariate(0.5, 1.0) for c in CATEGORIES]
        total_w = sum(weights) or 1.0
        cat_weights = [w / total_w for w in weights]
        method_weights = [b * rng.gammavariate(0.7, 1.0) for b in _METHOD_BASE]
        method_weights[4] *= 0.5 + 3.0 * loyalty  # the loyal pay with points
        cid = f"cust-{i:05d}"
        home = f"store-{rng.randrange(40):02d}"
        truth = CustomerTruth(
            customer_id=cid,
            persona=_persona(loyalty, affinity),
            loyalty=round(loyalty, 4),
            mean_gap_days=round(mean_gap, 3),
            mean_basket=round(mean_basket, 2),
            engagement_rate=round(engagement, 4),
            payment_risk=round(risk, 4),
            offer_affinity=round(affinity, 4),
            churn_at=None if churn == math.inf else _at(start, churn).isoformat(),
            joined_at=_at(start, join).isoformat(),
            home_store=home,
            category_weights=tuple((c, round(w, 4)) for c, w in zip(CATEGORIES, cat_weights)),
        )
        out.append(
            _Customer(
                idx=i,
                truth=truth,
                join=join,
                churn=churn,
                fade_days=max(60.0, 6.0 * mean_gap) * rng.uniform(0.8, 1.2),
                cat_weights=cat_weights,
                method_weights=method_weights,
                shop_hour=_clamp(rng.gauss(14.0, 3.0), 8.0, 21.0),
                bill_amount=20.0 + 0.6 * mean_basket * rng.lognormvariate(0.0, 0.3),
                shape=1.2 + 2.5 * loyalty,
            )
        )
    return out


def _at(start: datetime, day: float) -> datetime:
    # Whole seconds: monotonic in `day`, so heap order is event order.
    return start + timedelta(seconds=int(day * 86_400.0))


def generate(
    customers: int = 5000,
    days: int = 365,
    seed: int = 7,
    start: datetime = DEFAULT_START,
) -> tuple[list[CustomerTruth], Iterator[Event]]:
    """The truth of `customers` customers and a lazy, time-ordered stream of their events over `days`."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    population = _draw_population(customers, days, seed, start)
    return [c.truth for c in population], _events(population, days, seed, start)


# Heap entry kinds.
_PURCHASE, _ENGAGE, _BILL, _PAY, _OFFER = range(5)
_SECOND = 1.0 / 86_400.0


def _events(population: list[_Customer], days: int, seed: int, start: datetime) -> Iterator[Event]:
    rng = random.Random(seed * 1_000_003 + 17)
    end = float(days)
    heap: list[tuple[float, int, int, int, object]] = []
    seq = 0
    n = 0

    def push(t: float, kind: int, idx: int, data: object = None) -> None:
        nonlocal seq
        if t < end:
            heapq.heappush(heap, (t, seq, kind, idx, data))
            seq += 1

    def schedule_purchase(c: _Customer, t: float) -> None:
        c.token += 1
        c.next_purchase = math.inf
        if t < c.churn and t < end:
            c.next_purchase = t
            push(t, _PURCHASE, c.idx, c.token)

    def shop_time(c: _Customer, now: float, gap: float) -> float:
        target = now + gap
        day = math.floor(target)
        t = day + _clamp(rng.gauss(c.shop_hour, 1.5), 7.0, 22.0) / 24.0
        return t if t > now + 0.02 else target

    def engagement_rate(c: _Customer, t: float) -> float:
        rate = c.truth.engagement_rate / 7.0
        if t >= c.churn:
            return rate * 0.1
        return rate / c.fade(t)

    def show_offer(c: _Customer, t: float, campaign: str) -> None:
        # A customer who has left rarely even opens the message.
        if campaign in ACTIVE_CAMPAIGNS and (t < c.churn or rng.random() < 0.2):
            push(t, _OFFER, c.idx, ("offer_viewed", campaign))

    for c in population:
        first = c.join + (rng.uniform(0.0, c.truth.mean_gap_days) if c.join == 0.0 else rng.uniform(0.0, 3.0))
        schedule_purchase(c, first)
        push(c.join + rng.expovariate(engagement_rate(c, c.join) or 1e-9), _ENGAGE, c.idx)
        push(c.join + rng.uniform(0.0, 30.0), _BILL, c.idx)

    while heap:
        t, _, kind, idx, data = heapq.heappop(heap)
        c = population[idx]
        cid = c.truth.customer_id
        at = _at(start, t)
        event_id = f"pop-{seed}-{n:08d}"

        if kind == _PURCHASE:
            if data != c.token or t >= c.churn:
                continue
            event, lines_skus = _basket(rng, c, event_id, at)
            n += 1
            yield event
            counted = event.payment_status in ("paid", "pending")
            if counted:
                c.purchases += 1
                c.last_purchase = t
                c.last_skus = lines_skus
                if c.purchases == 1 and rng.random() < 0.9:
                    show_offer(c, t + rng.uniform(0.02, 1.0), WELCOME)
                if event.total >= BIG_BASKET_TOTAL and rng.random() < 0.85:
                    show_offer(c, t + rng.uniform(0.05, 2.0), BIG_BASKET)
                if c.offer is not None:
                    campaign, until = c.offer
                    c.offer = None
                    if t <= until:
                        push(t + _SECOND, _OFFER, idx, ("offer_redeemed", campaign))
                if rng.random() < 0.03:
                    push(t + rng.uniform(0.1, 3.0), _OFFER, idx, ("review", None))
                if event.payment_method == "points" and rng.random() < 0.5:
                    push(t + _SECOND, _OFFER, idx, ("points_redeemed", None))
            elif event.payment_status == "failed" and rng.random() < 0.3:
                push(t + rng.uniform(0.01, 1.0), _OFFER, idx, ("support_contact", None))
            mean = c.truth.mean_gap_days * c.fade(t)
            gap = rng.gammavariate(c.shape, mean / c.shape)
            schedule_purchase(c, shop_time(c, t, gap))
            # An unusually long silence ahead: the retention campaign will reach out.
            silence = max(21.0, 2.0 * c.truth.mean_gap_days)
            if c.purchases >= 2 and c.next_purchase - t > silence * 1.15:
                show_offer(c, t + silence * rng.uniform(0.95, 1.15), RETAIN)

        elif kind == _ENGAGE:
            rate = engagement_rate(c, t)
            push(t + rng.expovariate(rate), _ENGAGE, idx)
            weights = (0.25 + 0.25 * c.truth.loyalty, 0.3, 0.06 + 0.1 * c.truth.loyalty, 0.15, 0.1)
            etype = rng.choices(_ENGAGEMENT_TYPES, weights)[0]
            channel = _ENGAGEMENT_CHANNEL.get(etype) or rng.choice(("app", "web"))
            n += 1
            yield EngagementEvent(event_id=event_id, customer_id=cid, occurred_at=at, type=etype, channel=channel)

        elif kind == _OFFER:
            etype, campaign = data
            offer_id = ACTIVE_CAMPAIGNS[campaign][0] if campaign else None
            if etype == "offer_viewed":
                channel = rng.choice(_OFFER_CHANNELS.get(campaign, ("app",)))
                affinity = c.truth.offer_affinity
                if t >= c.churn:
                    p_accept = 0.05 * affinity
                else:
                    p_accept = affinity / c.fade(t)
                u = rng.random()
                if u < p_accept:
                    push(t + rng.expovariate(8.0), _OFFER, idx, ("offer_accepted", campaign))
                elif rng.random() < 0.35 + 0.4 * (1.0 - affinity):
                    push(t + rng.expovariate(24.0), _OFFER, idx, ("offer_dismissed", campaign))
                c.last_offer = {"channel": channel}
            elif etype == "offer_accepted":
                channel = (c.last_offer or {}).get("channel", "app")
                c.offer = (campaign, t + ACTIVE_CAMPAIGNS[campaign][1])
                # The offer works: the next visit comes sooner (never past churn).
                if c.next_purchase < math.inf and c.next_purchase - t > 1.0:
                    pulled = t + (c.next_purchase - t) * rng.uniform(0.3, 0.7)
                    schedule_purchase(c, max(pulled, t + 0.05))
            elif etype == "offer_redeemed":
                channel = "store"
            elif etype == "offer_dismissed":
                channel = (c.last_offer or {}).get("channel", "app")
            elif etype == "support_contact":
                channel = "call_center"
            elif etype == "review":
                channel = "web"
            else:  # points_redeemed
                channel = "store"
            n += 1
            yield EngagementEvent(
                event_id=event_id, customer_id=cid, occurred_at=at, type=etype, channel=channel,
                campaign_id=campaign, offer_id=offer_id,
            )

        elif kind == _BILL:
            if t >= c.churn:
                continue  # the account is closed: no more bills
            c.bills += 1
            bill_id = f"bill-{cid}-{c.bills:03d}"
            amount = round(c.bill_amount * rng.lognormvariate(0.0, 0.15), 2)
            due = t + 14.0
            due_at = _at(start, due)
            n += 1
            yield PaymentEvent(
                event_id=event_id, customer_id=cid, occurred_at=at, type="bill_due",
                bill_id=bill_id, amount=amount, due_at=due_at,
            )
            push(t + 30.44 + rng.gauss(0.0, 0.5), _BILL, idx)
            u = rng.random()
            risk = c.truth.payment_risk
            if u < risk * 0.35:
                fail_t = due + rng.uniform(0.0, 1.0)
                push(fail_t, _PAY, idx, ("payment_failed", bill_id, amount, due))
                if rng.random() < 0.6:
                    push(fail_t + rng.uniform(2.0, 10.0), _PAY, idx, ("bill_paid", bill_id, amount, due))
                if rng.random() < 0.3:
                    push(fail_t + rng.uniform(0.05, 2.0), _OFFER, idx, ("support_contact", None))
            elif u < risk:
                late_t = due + rng.uniform(1.0, 7.0)
                push(late_t, _PAY, idx, ("payment_late", bill_id, amount, due))
                if rng.random() < 0.85:
                    push(late_t + rng.uniform(1.0, 14.0), _PAY, idx, ("bill_paid", bill_id, amount, due))
            else:
                push(t + rng.uniform(1.0, 12.0), _PAY, idx, ("bill_paid", bill_id, amount, due))

        else:  # _PAY
            ptype, bill_id, amount, due = data
            n += 1
            yield PaymentEvent(
                event_id=event_id, customer_id=cid, occurred_at=at, type=ptype,
                bill_id=bill_id, amount=amount, due_at=_at(start, due),
            )


def _basket(rng: random.Random, c: _Customer, event_id: str, at: datetime) -> tuple[PurchaseEvent, tuple]:
    budget = c.truth.mean_basket * rng.lognormvariate(-0.245, 0.7)
    n_lines = int(_clamp(round(budget / 30.0) + rng.randint(0, 1), 1, 6))
    per_line = budget / n_lines
    repeat = 0.1 + 0.3 * c.truth.loyalty
    lines: dict[str, list] = {}
    for _ in range(n_lines):
        if c.last_skus and rng.random() < repeat:
            sku = rng.choice(c.last_skus)
        else:
            category = rng.choices(CATEGORIES, c.cat_weights)[0]
            options = _SKUS_BY_CATEGORY[category]
            weights = [pop / (1.0 + abs(math.log(price / per_line))) ** 2 for _, _, price, pop in options]
            sku = rng.choices(options, weights)[0]
        qty = int(_clamp(round(per_line / sku[2] * rng.uniform(0.6, 1.4)), 1, 6))
        if sku[0] in lines:
            lines[sku[0]][1] = min(10, lines[sku[0]][1] + qty)
        else:
            lines[sku[0]] = [sku, qty]
    items = [LineItem(sku=s[0], category=s[1], quantity=q, unit_price=s[2]) for s, q in lines.values()]
    cents = sum(q * round(s[2] * 100) for s, q in lines.values())
    u = rng.random()
    risk = c.truth.payment_risk
    status = "pending" if u < 0.06 else "refunded" if u < 0.07 else "failed" if u < 0.075 + 0.05 * risk else "paid"
    method = rng.choices(PAYMENT_METHODS, c.method_weights)[0]
    if status == "failed" and method in ("cash", "points", "gift_card"):
        method = "card"
    store = c.truth.home_store if rng.random() < 0.8 else f"store-{rng.randrange(40):02d}"
    event = PurchaseEvent(
        event_id=event_id, customer_id=c.truth.customer_id, store_id=store, occurred_at=at,
        items=items, total=cents / 100.0, currency="USD", payment_method=method, payment_status=status,
    )
    return event, tuple(s for s, _ in lines.values())


def topic_of(event: Event) -> str:
    """The Kafka topic an event belongs on."""
    return TOPIC_OF_EVENT[type(event)]


def envelope(event: Event) -> str:
    """One JSONL line: the record as the live topic holds it (topic, key, value)."""
    body = {"topic": topic_of(event), "key": event.customer_id, "value": event.model_dump(mode="json")}
    return json.dumps(body, separators=(",", ":"))


def write_jsonl(events: Iterable[Event], path: str | Path) -> int:
    """Write `events` as `{"topic", "key", "value"}` envelopes, one a line; return how many."""
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for event in events:
            out.write(envelope(event))
            out.write("\n")
            count += 1
    return count


def write_truth(truths: Iterable[CustomerTruth], path: str | Path, *, seed: int | None = None, **meta) -> int:
    """Write the ground truth as `{"customers": [...], "seed": ..., ...}`; return the customer count."""
    customers = [t.to_dict() for t in truths]
    body = {"customers": customers, "seed": seed, "count": len(customers), "generator": "sim.population", **meta}
    Path(path).write_text(json.dumps(body, indent=1), encoding="utf-8")
    return len(customers)


def read_jsonl(path: str | Path) -> Iterator[tuple[str, bytes | None, bytes]]:
    """Yield (topic, key bytes, compact value bytes) per line; bad lines come as ("<invalid>", None, raw)."""
    with open(path, "rb") as source:
        for raw in source:
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                envelope = json.loads(line)
            except ValueError:
                yield INVALID_TOPIC, None, line
                continue
            if not isinstance(envelope, dict) or not isinstance(envelope.get("topic"), str) or "value" not in envelope:
                yield INVALID_TOPIC, None, line
                continue
            key = envelope.get("key")
            key_bytes = None if key is None else str(key).encode("utf-8")
            value = json.dumps(envelope["value"], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            yield envelope["topic"], key_bytes, value

