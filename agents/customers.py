"""Purchases, engagements and payments in; state, learning, scores and offers out.

Each record goes through `core.processing.Processor` exactly as replay drives it,
then the labels that fell due in its partition are swept.
"""

from __future__ import annotations

import logging

from schemas import encode
from schemas.headers import headers_for
from streams import topics
from streams.app import app
from streams.runtime import counters, dead_letters, processor, scores

log = logging.getLogger("loyalty.agents")

ASSIGNMENT_HEADERS = headers_for("offer-assignments")


async def _handle(stream, kind: str) -> None:
    async for event in stream.events():
        message = event.message
        counters.events_in[message.topic] += 1
        result = processor.process(kind, message.key, message.value)
        if result.invalid is not None:
            await dead_letters.send(message, result.invalid)
        elif result.failure is not None:
            log.error("processing failed at %s:%s@%s: %s", message.topic, message.partition, message.offset, result.failure)
            await dead_letters.send(message, result.failure, kind="processing")
        else:
            counters.processed[message.topic] += 1
            for assignment in result.assignments:
                await topics.offer_assignments.send(
                    key=assignment.campaign_id.encode(), value=encode(assignment), headers=ASSIGNMENT_HEADERS,
                )
                counters.assignments_out += 1
            if result.scores is not None:
                await _serve(*result.scores)
        # The current event belongs to this partition, so writes of its customers' states land right.
        swept = processor.sweep(message.partition)
        counters.examples_learned += result.learned + swept.learned
        for customer_id, values in swept.sweep_scores:
            await _serve(customer_id, values)


async def _serve(customer_id: str, values: dict) -> None:
    try:
        await scores.put_scores(customer_id, values)
    except Exception as error:  # noqa: BLE001 - the serving copy must not stop the stream
        counters.redis_errors += 1
        log.warning("could not write scores of %s to Redis: %s", customer_id, error)


@app.agent(topics.purchases)
async def process_purchases(stream):
    await _handle(stream, "purchases")


@app.agent(topics.engagements)
async def process_engagements(stream):
    await _handle(stream, "engagements")


@app.agent(topics.payments)
async def process_payments(stream):
    await _handle(stream, "payments")
