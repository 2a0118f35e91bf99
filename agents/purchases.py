"""Purchases in; state, churn score and learning, and offer assignments out."""

from __future__ import annotations

import logging

from agents.decoding import decode_or_dead_letter, run_core
from schemas import PurchaseEvent, encode
from schemas.headers import headers_for
from streams import topics
from streams.app import app
from streams.runtime import counters, engine, scores
from streams.tables import load_state, save_state

log = logging.getLogger("loyalty.agents.purchases")

ASSIGNMENT_HEADERS = headers_for("offer-assignments")


@app.agent(topics.purchases)
async def process_purchases(stream):
    async for event in stream.events():
        purchase = await decode_or_dead_letter(event, PurchaseEvent)
        if purchase is None:
            continue
        outcome = await run_core(event, engine.on_purchase, load_state(purchase.customer_id), purchase)
        if outcome is None:
            continue
        save_state(outcome.state)
        counters.processed[event.message.topic] += 1
        counters.examples_learned += outcome.learned
        for assignment in outcome.assignments:
            await topics.offer_assignments.send(
                key=assignment.campaign_id.encode(), value=encode(assignment), headers=ASSIGNMENT_HEADERS,
            )
            counters.assignments_out += 1
        if outcome.scores:
            await _copy_scores(purchase, outcome)


async def _copy_scores(purchase: PurchaseEvent, outcome) -> None:
    try:
        await scores.put_scores(
            purchase.customer_id,
            {**outcome.scores, "churn_risk_band": outcome.risk_band, "as_of": purchase.occurred_at.isoformat()},
        )
    except Exception as error:  # noqa: BLE001 - the serving copy must not stop the stream
        counters.redis_errors += 1
        log.warning("could not write scores of %s to Redis: %s", purchase.customer_id, error)
