"""Purchases in; state, churn score and learning, and offer assignments out."""

from __future__ import annotations

import logging

from agents.decoding import decode_record
from core import CustomerState
from schemas import PurchaseEvent, encode
from streams import topics
from streams.app import app
from streams.runtime import counters, engine, scores
from streams.tables import customers

log = logging.getLogger("loyalty.agents.purchases")

ASSIGNMENT_HEADERS = [
    ("event-type", b"offer-assignment"),
    ("schema-version", b"1"),
    ("content-type", b"application/json"),
]


@app.agent(topics.purchases)
async def process_purchases(stream):
    async for event in stream.events():
        purchase = decode_record(event, PurchaseEvent)
        if purchase is None:
            continue
        stored = customers.get(purchase.customer_id)
        state = CustomerState.from_dict(stored) if stored else None
        outcome = engine.on_purchase(state, purchase)
        customers[purchase.customer_id] = outcome.state.to_dict()
        counters.examples_learned += outcome.learned
        for assignment in outcome.assignments:
            await topics.offer_assignments.send(
                key=assignment.campaign_id.encode(), value=encode(assignment), headers=ASSIGNMENT_HEADERS,
            )
            counters.assignments_out += 1
        try:
            await scores.put_scores(
                purchase.customer_id,
                {**outcome.scores, "churn_risk_band": outcome.risk_band, "as_of": purchase.occurred_at.isoformat()},
            )
        except Exception as error:  # noqa: BLE001 - the serving copy must not stop the stream
            counters.redis_errors += 1
            log.warning("could not write scores of %s to Redis: %s", purchase.customer_id, error)
