"""Closed-loop evaluation of next best offer on the simulated population.

Open-loop event files cannot say how a customer would have answered an offer
nobody made, so here the simulated customers answer the offers the engine actually
assigns: each answer is drawn from the customer's hidden traits (`CustomerTruth`)
and the offer, and fed back as an `offer_redeemed` or `offer_dismissed` engagement
a few days later, in event time. Running the same population under next best offer
and under a uniform pick among the same eligible offers gives each policy's
redemption rate.

The default catalog for this (`sim/data/nbo-eval-catalog.json`) has several
campaigns open to the same regular customers at equal priority and about equal
value, so the comparison measures what next best offer learns about who redeems
what; with the shipped catalog, priorities and offer values dominate the ranking
by design.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources

from core.campaigns import load_catalog
from core.engine import LoyaltyEngine
from sim.population import CustomerTruth, generate, topic_of
from core.replay import Replay
from schemas import EngagementEvent, encode
from schemas.offers import OfferAssignment, OfferSnapshot

# How offer kinds fit customers, from their hidden traits (the "true" response model).
_STAGE_FIT = {
    "acquisition": lambda t, fading: 0.9,
    "growth": lambda t, fading: 0.5 + t.loyalty * 0.6,
    "retention": lambda t, fading: 0.3 + t.loyalty,
    "win_back": lambda t, fading: 1.6 if fading else 0.3,
}
_CATEGORY_FIT = {
    "discount": lambda t: 1.3 - t.loyalty * 0.6,
    "points": lambda t: 0.6 + t.loyalty * 0.8,
    "cashback": lambda t: 0.5 + min(1.0, t.mean_basket / 150),
    "free_item": lambda t: 0.4 + 2 * dict(t.category_weights).get("beverages", 0.0),
    "tier_upgrade": lambda t: 0.3 + t.loyalty,
    "experience": lambda t: 0.8,
}


def redeem_probability(truth: CustomerTruth, offer: OfferSnapshot, at: datetime) -> float:
    fading = truth.churn_at is not None and datetime.fromisoformat(truth.churn_at) - at < timedelta(days=60)
    p = truth.offer_affinity * _STAGE_FIT[offer.lifecycle_stage](truth, fading) * _CATEGORY_FIT[offer.category](truth)
    return max(0.0, min(0.95, p))


@dataclass
class PolicyResult:
    policy: str
    assigned: int = 0
    redeemed: int = 0
    by_campaign: dict[str, list[int]] = field(default_factory=dict)  # campaign -> [assigned, redeemed]

    @property
    def redemption_rate(self) -> float:
        return self.redeemed / self.assigned if self.assigned else 0.0


EVAL_CATALOG = "nbo-eval-catalog.json"


def closed_loop(policy: str, customers: int = 1000, days: int = 240, seed: int = 7, catalog=None) -> PolicyResult:
    truths, events = generate(customers=customers, days=days, seed=seed)
    truth = {t.customer_id: t for t in truths}
    result = PolicyResult(policy)
    answers: list[tuple[float, int, EngagementEvent]] = []
    counter = 0

    def on_output(topic: str, key, value) -> None:
        nonlocal counter
        if topic != "offer-assignments":
            return
        offer: OfferAssignment = value
        result.assigned += 1
        stats = result.by_campaign.setdefault(offer.campaign_id, [0, 0])
        stats[0] += 1
        rng = random.Random(int.from_bytes(hashlib.blake2b(offer.assignment_id.encode(), digest_size=8).digest(), "big"))
        redeemed = rng.random() < redeem_probability(truth[offer.customer_id], offer.offer, offer.issued_at)
        if redeemed:
            result.redeemed += 1
            stats[1] += 1
        delay = timedelta(days=rng.uniform(0.5, 5.0))
        if not redeemed and rng.random() < 0.5:
            kind = "offer_dismissed"
        elif redeemed and offer.issued_at + delay < offer.expires_at:
            kind = "offer_redeemed"
        else:
            return  # no answer: the offer expires
        answer = EngagementEvent(
            event_id=f"answer-{offer.assignment_id[:18]}", customer_id=offer.customer_id,
            occurred_at=offer.issued_at + delay, type=kind, channel="app",
            campaign_id=offer.campaign_id, offer_id=offer.offer.offer_id, assignment_id=offer.assignment_id,
        )
        counter += 1
        heapq.heappush(answers, (answer.ts, counter, answer))

    if catalog is None:
        catalog = load_catalog(resources.files("sim").joinpath("data", EVAL_CATALOG))
    replay = Replay(LoyaltyEngine(catalog, policy=policy), emit=on_output)
    for event in events:
        if isinstance(event, EngagementEvent) and event.type.startswith("offer_"):
            continue  # the simulator's own open-loop answers: here customers answer what they get
        while answers and answers[0][0] <= event.ts:
            answer = heapq.heappop(answers)[2]
            replay.feed("engagements", answer.customer_id.encode(), encode(answer))
        replay.feed(topic_of(event), event.customer_id.encode(), encode(event))
    return result
