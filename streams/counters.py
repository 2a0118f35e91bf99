"""In-process counters, shown by the health endpoint."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Counters:
    events_in: Counter = field(default_factory=Counter)
    handled: Counter = field(default_factory=Counter)  # records fully done: outputs sent and partition swept
    processed: Counter = field(default_factory=Counter)
    dead_lettered: Counter = field(default_factory=Counter)
    assignments_out: int = 0
    badges_out: int = 0
    examples_learned: int = 0
    redis_errors: int = 0
    limits_errors: int = 0
    last_dead_letter: dict | None = None

    def snapshot(self) -> dict:
        return {
            "events_in": dict(self.events_in),
            "handled": dict(self.handled),
            "processed": dict(self.processed),
            "dead_lettered": dict(self.dead_lettered),
            "dead_lettered_total": sum(self.dead_lettered.values()),
            "assignments_out": self.assignments_out,
            "badges_out": self.badges_out,
            "examples_learned": self.examples_learned,
            "redis_errors": self.redis_errors,
            "limits_errors": self.limits_errors,
            "last_dead_letter": self.last_dead_letter,
        }
