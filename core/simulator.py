"""Simulated point-of-sale traffic: deterministic for a seed, in event-time order."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

from schemas.events import EngagementEvent, LineItem, PurchaseEvent

SKUS = (
    ("SKU-COFFEE", "grocery", 6.5),
    ("SKU-BREAD", "grocery", 3.2),
    ("SKU-WINE", "beverages", 18.0),
    ("SKU-SHOES", "apparel", 79.0),
    ("SKU-JACKET", "apparel", 149.0),
    ("SKU-HEADPHONES", "electronics", 199.0),
    ("SKU-CABLE", "electronics", 12.0),
    ("SKU-SOAP", "home", 4.5),
)


@dataclass(frozen=True)
class Persona:
    name: str
    mean_gap_days: float
    max_items: int
    share: float


PERSONAS = (
    Persona("loyal", 4.0, 5, 0.3),
    Persona("regular", 14.0, 4, 0.4),
    Persona("lapsing", 45.0, 3, 0.3),
)

DEFAULT_START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def simulate(
    customers: int = 200,
    events: int = 2000,
    seed: int = 7,
    start: datetime = DEFAULT_START,
    engagement_share: float = 0.2,
) -> Iterator[PurchaseEvent | EngagementEvent]:
    """Yield `events` purchase and engagement events of `customers` customers.

    >>> out = list(simulate(customers=5, events=20, seed=1))
    >>> len(out), out == list(simulate(customers=5, events=20, seed=1))
    (20, True)
    >>> all(a.occurred_at <= b.occurred_at for a, b in zip(out, out[1:]))
    True
    """
    rng = random.Random(seed)
    personas = [rng.choices(PERSONAS, weights=[p.share for p in PERSONAS])[0] for _ in range(customers)]
    queue = [(rng.uniform(0, 3), i) for i in range(customers)]  # (day offset, customer)
    heapq.heapify(queue)
    for n in range(events):
        day, i = heapq.heappop(queue)
        persona = personas[i]
        at = start + timedelta(days=day)
        customer_id = f"cust-{i:05d}"
        event_id = f"sim-{seed}-{n:08d}"
        if rng.random() < engagement_share:
            yield EngagementEvent(
                event_id=event_id, customer_id=customer_id, occurred_at=at,
                type=rng.choice(("app_open", "email_open", "push_open")), channel="app",
            )
            heapq.heappush(queue, (day + rng.uniform(0.05, 1.0), i))
            continue
        items = []
        for _ in range(rng.randint(1, persona.max_items)):
            sku, category, price = rng.choice(SKUS)
            items.append(LineItem(sku=sku, category=category, quantity=rng.randint(1, 2), unit_price=price))
        total = round(sum(item.quantity * item.unit_price for item in items), 2)
        yield PurchaseEvent(
            event_id=event_id, customer_id=customer_id, store_id=f"store-{i % 7:02d}",
            occurred_at=at, items=items, total=total, currency="USD",
        )
        heapq.heappush(queue, (day + rng.expovariate(1.0 / persona.mean_gap_days), i))
