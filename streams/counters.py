"""In-process counters, shown by the health endpoint."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Counters:
    events_in: Counter = field(default_factory=Counter)
    handled: Counter = field(default_factory=Counter)  # records fully done: outputs sent and partition swept
    processed: Counter = field(default_factory=Counter)
    dead_lettered: Counter = field(default_factory=Counter)
    redelivered: Counter = field(default_factory=Counter)  # records the state had applied already (after a crash)
    assignments_out: int = 0
    badges_out: int = 0
    labels_out: int = 0
    examples_learned: int = 0
    redis_errors: int = 0
    limits_errors: int = 0
    # Reservations whose reply was lost (Redis may have run them): answered when sent again, or
    # failed after LOYALTY_LIMITS_IN_DOUBT_SECONDS (`streams.redis.limits`).
    limits_in_doubt: int = 0
    limits_in_doubt_abandoned: int = 0
    last_dead_letter: dict | None = None
    # The dashboard's: dead letters by (source topic, reason), offers by campaign, blocks by (campaign, reason).
    dead_letter_reasons: Counter = field(default_factory=Counter)
    offers_by_campaign: Counter = field(default_factory=Counter)
    blocks: Counter = field(default_factory=Counter)
    first_handled_at: float | None = None  # wall clock of the first record handled (benchmarks)
    last_handled_at: float | None = None

    def mark_handled(self, topic: str, n: int = 1) -> None:
        now = time.time()
        if self.first_handled_at is None:
            self.first_handled_at = now
        self.last_handled_at = now
        self.handled[topic] += n

    def snapshot(self) -> dict:
        return {
            "events_in": dict(self.events_in),
            "handled": dict(self.handled),
            "processed": dict(self.processed),
            "dead_lettered": dict(self.dead_lettered),
            "dead_lettered_total": sum(self.dead_lettered.values()),
            "redelivered": dict(self.redelivered),
            "assignments_out": self.assignments_out,
            "badges_out": self.badges_out,
            "labels_out": self.labels_out,
            "examples_learned": self.examples_learned,
            "redis_errors": self.redis_errors,
            "limits_errors": self.limits_errors,
            "limits_in_doubt": self.limits_in_doubt,
            "limits_in_doubt_abandoned": self.limits_in_doubt_abandoned,
            "last_dead_letter": self.last_dead_letter,
            "first_handled_at": self.first_handled_at,
            "last_handled_at": self.last_handled_at,
        }
