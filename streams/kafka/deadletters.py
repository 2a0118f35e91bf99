"""Where every record that cannot be processed goes: the `dead-letters` topic.

The original bytes, the source coordinates and the reason travel with it; the
offset moves on and a counter shows it. Nothing here raises into the agent.

Dead letters go through the `Outbox` like every other output: a customer's state
record is held until the dead letters put before it are delivered too, so after a
crash a record the restored state counts as seen (and skips) was dead-lettered.
"""

from __future__ import annotations

import logging

from faust.types import Message

from schemas import DeadLetter, encode
from schemas.deadletter import MAX_KEPT_KEY_BYTES, ErrorKind
from schemas.headers import headers_for
from streams.counters import Counters
from streams.kafka.outbox import Outbox

log = logging.getLogger("loyalty.dead_letters")


class DeadLetterSink:
    def __init__(self, outbox: Outbox, topic: str, counters: Counters) -> None:
        self.outbox = outbox
        self.topic = topic
        self.counters = counters

    async def send(self, message: Message, error: str, kind: ErrorKind = "invalid") -> DeadLetter:
        letter = DeadLetter.build(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            error=error,
            kind=kind,
            record_timestamp=message.timestamp,
        )
        self.outbox.put(
            self.topic,
            message.key[:MAX_KEPT_KEY_BYTES] if message.key is not None else None,  # an oversized key too
            encode(letter),
            headers_for("dead-letters", **{"source-topic": message.topic, "error-kind": kind}),
        )
        self.counters.dead_lettered[message.topic] += 1
        self.counters.last_dead_letter = {
            "topic": message.topic, "partition": message.partition, "offset": message.offset, "error": letter.error,
        }
        log.warning(
            "dead-lettered %s record: topic=%s partition=%s offset=%s reason=%s",
            kind, message.topic, message.partition, message.offset, letter.error,
        )
        return letter
