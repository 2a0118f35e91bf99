"""Folding the `labels` topic into models: each example once, in the order given.

The worker sends every resolved prediction to `labels` (`core.outputs.label_record`).
`Learner` is the pure half of a learner process: it takes the records' bytes, refuses
what is not a labelled example (counted, never raised), skips a copy it has seen by
`example_id` (the outbox delivers at least once), and lets the model suite learn the
rest exactly as the worker's `ModelSuite.learn` did. Fed one model's records in the
topic's order (a model's records share a key, so a partition), a model that learns
from labels alone comes out with the worker's parameters; see `LABELS_ONLY`.
"""

from __future__ import annotations

from collections import Counter

from pydantic import ValidationError

from core.outputs import example_of
from models.suite import ModelSuite
from schemas.labels import LabeledExampleRecord

# The models whose learning the labels carry whole. Churn, propensity and lifetime value
# also read the purchase process, which learns from every purchase the engine shows it:
# a fold of their labels is not the worker's model until the stream carries that too.
LABELS_ONLY = ("engagement", "upsell", "payment_default", "campaign_response")


class Learner:
    """Learn `labels` records into `suite`; `models` limits which (default: all)."""

    def __init__(self, suite: ModelSuite, models: tuple[str, ...] | None = None) -> None:
        self.suite = suite
        self.models = frozenset(models) if models else None
        self.seen: set[str] = set()
        self.learned: Counter = Counter()
        self.duplicates = 0
        self.invalid = 0

    def feed(self, value: bytes) -> bool:
        """One record's value; True if the suite learned from it.

        >>> from models.suite import ModelSuite
        >>> learner = Learner(ModelSuite())
        >>> learner.feed(b"{not json"), learner.invalid
        (False, 1)
        """
        try:
            record = LabeledExampleRecord.model_validate_json(value)
        except ValidationError:
            self.invalid += 1
            return False
        if self.models is not None and record.model not in self.models:
            return False
        if record.example_id in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(record.example_id)
        self.suite.learn([example_of(record)])
        self.learned[record.model] += 1
        return True

    def report(self) -> dict:
        models = self.suite.report()
        return {
            "examples_learned": sum(self.learned.values()),
            "duplicates_skipped": self.duplicates,
            "invalid": self.invalid,
            "models": {name: models[name] for name in sorted(self.learned)},
            "same_as_worker": [name for name in sorted(self.learned) if name in LABELS_ONLY],
        }
