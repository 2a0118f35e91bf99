"""`streams.kafka.deadletters.DeadLetterSink`: a dead letter is an output of the outbox like the others."""

import asyncio
import json
from collections import namedtuple

from streams.counters import Counters
from streams.kafka.deadletters import DeadLetterSink

Message = namedtuple("Message", "topic partition offset key value timestamp")


class Outbox:
    def __init__(self) -> None:
        self.records: list[tuple] = []

    def put(self, topic, key, value, headers=None, partition=None) -> None:
        self.records.append((topic, key, value, dict(headers or [])))


def test_a_dead_letter_goes_through_the_outbox_with_its_reason_and_source():
    outbox, counters = Outbox(), Counters()
    sink = DeadLetterSink(outbox, "t-dead-letters", counters)
    asyncio.run(sink.send(Message("t-purchases", 2, 41, b"k" * 5000, b"{oops", 1_700_000_000.0), "not JSON"))
    [(topic, key, value, headers)] = outbox.records
    letter = json.loads(value)
    assert topic == "t-dead-letters" and key == b"k" * 1024  # an oversized key is cut
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == ("t-purchases", 2, 41)
    assert letter["error"] == "not JSON" and headers["source-topic"] == b"t-purchases"
    assert counters.dead_lettered["t-purchases"] == 1
