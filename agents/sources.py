"""One agent per configured POS vendor source: vendor JSON in, canonical event out.

The vendor's topic may be keyed any way (by store, or not at all), so these agents
hold no state: they map the payload and send the canonical event to its own topic
keyed by customer id, where Faust's murmur2 partitioner puts it in the partition
that owns the customer's state. A payload that does not map is dead-lettered.
"""

from __future__ import annotations

from schemas import InvalidEvent, encode
from schemas.headers import headers_for
from sources.mapping import SourceMapping, load_mappings, to_canonical
from streams.kafka import topics
from streams.app import app, settings
from streams.runtime import counters, outputs

CANONICAL_TOPIC = {"purchase": "purchases", "engagement": "engagements", "payment": "payments"}


def _forwarder(mapping: SourceMapping):
    target_name = CANONICAL_TOPIC[mapping.event]
    target = topics.by_name[target_name]
    headers = headers_for(target_name, source=mapping.name)

    async def forward(stream):
        async for event in stream.events():
            message = event.message
            counters.events_in[message.topic] += 1
            try:
                canonical = to_canonical(mapping, message.value)
            except InvalidEvent as error:
                outputs.reject(message, f"source {mapping.name}: {error.reason}")
                continue
            except Exception as error:  # noqa: BLE001 - whatever the bytes, the stream goes on
                outputs.reject(message, f"source {mapping.name}: {type(error).__name__}: {error}")
                continue
            await target.send(key=canonical.customer_id.encode(), value=encode(canonical), headers=headers)
            counters.processed[message.topic] += 1

    forward.__name__ = forward.__qualname__ = f"source_{mapping.name.replace('-', '_')}"
    return forward


SOURCES = load_mappings(settings.sources_dir) if settings.sources_dir else []

for _mapping in SOURCES:
    _topic = app.topic(
        settings.topic(_mapping.topic), key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    )
    app.agent(_topic, name=f"agents.sources.{_mapping.name}")(_forwarder(_mapping))
