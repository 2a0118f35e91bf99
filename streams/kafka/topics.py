"""The project's Kafka topics, declared from the contracts in `schemas.topics`.

Customer-keyed topics share one partition count with the customers table; every
value is raw bytes here, decoded and validated by the agents, so a bad record is
dead-lettered instead of failing inside Faust's deserializer.
"""

from __future__ import annotations

from schemas import CONTRACTS
from streams.app import app, settings


def _declare(name: str):
    return app.topic(
        settings.topic(name), key_type=bytes, value_type=bytes,
        key_serializer="raw", value_serializer="raw", partitions=settings.partitions,
    )


# The catalog topics are read by every worker in full (streams/kafka/catalog.py), not by agents.
by_name = {c.name: _declare(c.name) for c in CONTRACTS if c.kafka and not c.compacted}

purchases = by_name["purchases"]
engagements = by_name["engagements"]
payments = by_name["payments"]
offer_assignments = by_name["offer-assignments"]
badge_awards = by_name["badge-awards"]
decisions = by_name["decisions"]
ticks = _declare("ticks")
dead_letters = by_name["dead-letters"]
