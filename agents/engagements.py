"""Engagement events in; per-customer engagement state updated."""

from __future__ import annotations

from agents.decoding import decode_record
from core import CustomerState
from schemas import EngagementEvent
from streams import topics
from streams.app import app
from streams.runtime import engine
from streams.tables import customers


@app.agent(topics.engagements)
async def process_engagements(stream):
    async for event in stream.events():
        engagement = decode_record(event, EngagementEvent)
        if engagement is None:
            continue
        stored = customers.get(engagement.customer_id)
        state = CustomerState.from_dict(stored) if stored else None
        customers[engagement.customer_id] = engine.on_engagement(state, engagement).state.to_dict()
