"""Purchases, engagements and payments in; state, learning, scores and offers out.

Each record goes through `core.processing.Processor` exactly as replay drives it,
then the labels that fell due in its partition are swept.
"""

from __future__ import annotations

import logging
import time

from core.processing import Result
from schemas import encode
from schemas.headers import headers_for
from streams import topics
from streams.app import app
from streams.metrics import record_latency
from streams.runtime import counters, dead_letters, processor, scores, settings

log = logging.getLogger("loyalty.agents")

ASSIGNMENT_HEADERS = headers_for("offer-assignments")
DECISION_HEADERS = headers_for("decisions")
BADGE_HEADERS = headers_for("badge-awards")


async def _handle(stream, kind: str) -> None:
    async for event in stream.events():
        started = time.perf_counter()
        message = event.message
        counters.events_in[message.topic] += 1
        result = await processor.process(kind, message.key, message.value)
        if result.invalid is not None:
            await dead_letters.send(message, result.invalid)
        elif result.failure is not None:
            log.error("processing failed at %s:%s@%s: %s", message.topic, message.partition, message.offset, result.failure)
            await dead_letters.send(message, result.failure, kind="processing")
        else:
            counters.processed[message.topic] += 1
            await _emit(result)
        # The current event belongs to this partition, so writes of its customers' states land right.
        await _emit(await processor.sweep(message.partition))
        record_latency.observe(time.perf_counter() - started)
        counters.handled[message.topic] += 1


async def _emit(result: Result) -> None:
    """Send what a record or a sweep produced, in the order replay writes it."""
    for assignment in result.assignments:
        await topics.offer_assignments.send(
            key=assignment.campaign_id.encode(), value=encode(assignment), headers=ASSIGNMENT_HEADERS,
        )
        counters.assignments_out += 1
    for trace in result.traces:
        await topics.decisions.send(key=trace.customer_id.encode(), value=encode(trace), headers=DECISION_HEADERS)
    for award in result.badges:
        await topics.badge_awards.send(key=award.customer_id.encode(), value=encode(award), headers=BADGE_HEADERS)
        counters.badges_out += 1
    for customer_id, values in result.scores:
        await _serve(customer_id, values)
    counters.examples_learned += result.learned
    counters.limits_errors += result.limits_errors


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


@app.agent(topics.ticks)
async def sweep_partition(stream):
    """A tick in partition p: sweep p, so silent customers are reached even when p gets no records."""
    async for event in stream.events():
        await _emit(await processor.sweep(event.message.partition))


if settings.sweep_interval_seconds > 0:

    @app.timer(interval=settings.sweep_interval_seconds)
    async def send_ticks() -> None:
        """One tick to each partition this worker owns; its own agent sweeps it in event time."""
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.ticks.get_topic_name()}
        for partition in sorted(owned):
            await topics.ticks.send(value=b"{}", partition=partition)
