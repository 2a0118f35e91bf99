"""Engagement and payment events in; the customer's state updated."""

from __future__ import annotations

from agents.decoding import decode_or_dead_letter, run_core
from schemas import EngagementEvent, PaymentEvent
from streams import topics
from streams.app import app
from streams.runtime import counters, engine
from streams.tables import load_state, save_state


async def _update_state(stream, model, step) -> None:
    async for event in stream.events():
        decoded = await decode_or_dead_letter(event, model)
        if decoded is None:
            continue
        outcome = await run_core(event, step, load_state(decoded.customer_id), decoded)
        if outcome is None:
            continue
        save_state(outcome.state)
        counters.processed[event.message.topic] += 1


@app.agent(topics.engagements)
async def process_engagements(stream):
    await _update_state(stream, EngagementEvent, engine.on_engagement)


@app.agent(topics.payments)
async def process_payments(stream):
    await _update_state(stream, PaymentEvent, engine.on_payment)
