"""In-process counters and the record of invalid input, shown by the health endpoint."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("loyalty.invalid")


@dataclass
class InvalidRecord:
    """Where a record that could not be decoded came from, and why."""

    topic: str
    partition: int
    offset: int
    reason: str
    raw: bytes | None
    key: bytes | None
    at: float = field(default_factory=time.time)


@dataclass
class Counters:
    events_in: Counter = field(default_factory=Counter)
    invalid: Counter = field(default_factory=Counter)
    assignments_out: int = 0
    examples_learned: int = 0
    redis_errors: int = 0
    last_invalid: InvalidRecord | None = None

    def snapshot(self) -> dict:
        last = self.last_invalid
        return {
            "events_in": dict(self.events_in),
            "invalid_events": dict(self.invalid),
            "invalid_total": sum(self.invalid.values()),
            "assignments_out": self.assignments_out,
            "examples_learned": self.examples_learned,
            "redis_errors": self.redis_errors,
            "last_invalid": None if last is None else {
                "topic": last.topic, "partition": last.partition, "offset": last.offset, "reason": last.reason,
            },
        }


class InvalidEventSink:
    """Where records that fail to decode or validate go: counted and logged with the reason.

    The dead-letter topic plugs in here: `record` is the one place every invalid
    record passes through, with its original bytes and its coordinates.
    """

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def record(self, item: InvalidRecord) -> None:
        self.counters.invalid[item.topic] += 1
        self.counters.last_invalid = item
        log.warning(
            "invalid event skipped: topic=%s partition=%s offset=%s reason=%s",
            item.topic, item.partition, item.offset, item.reason,
        )
