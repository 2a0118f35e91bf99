"""Folding the `labels` topic into models: each example once, in the order given.

The worker sends every resolved prediction to `labels` (`core.outputs.label_record`).
`Learner` is the pure half of a learner process: it takes the records' bytes, refuses
what is not a labelled example (counted, never raised), skips a copy it has seen by
`example_id` (the outbox delivers at least once), and lets the model suite learn the
rest exactly as the worker's `ModelSuite.learn` did. Fed each key's records in the
topic's order (a key is a partition: a model, or `process` for the purchase process and
the models that read it), the models come out with one worker's parameters; see
`LABELS_ONLY`, and RFM and the recommender, whose purchases come as examples of their own
(a basket with the customer's recommender parameters before it).
"""

from __future__ import annotations

import base64
import hashlib
import pickle
import zlib
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import ValidationError

from core.outputs import PROCESS_READERS, example_of
from models.snapshot import SnapshotRejected, key_id, sign, verify
from models.suite import ModelSuite
from schemas.labels import LabeledExampleRecord
from schemas.models import ModelVersionRecord

# The models whose learning the labels carry whole: all seven that learn from labels (and the
# next-best-offer posterior, from campaign response). Churn, propensity and lifetime value read
# the purchase process, whose observations the labels carry too, under the same key.
LABELS_ONLY = ("churn", "propensity", "lifetime_value", "engagement", "upsell", "payment_default", "campaign_response")

# How many of the latest example ids a version keeps, to skip copies after a restart. The outbox
# sends a copy again only for a batch whose offsets were not committed: far fewer records than this.
SEEN_KEEP = 32_768
VERSION_MAGIC = b"LMODV1"


@dataclass(frozen=True)
class Cadence:
    """When a learner publishes: after `every_examples` new examples, or `every_seconds` after the first of them."""

    every_examples: int = 1_000
    every_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.every_examples < 1 or not self.every_seconds > 0:
            raise ValueError(f"a cadence needs every_examples >= 1 and every_seconds > 0, got {self}")


def learner_name(models: tuple[str, ...] | None) -> str:
    """The key of a learner's versions on `models`: 'all', or its models joined by '+'.

    >>> learner_name(None), learner_name(("upsell", "churn"))
    ('all', 'churn+upsell')
    """
    return "+".join(sorted(models)) if models else "all"


def _digest(example_id: str) -> bytes:
    return hashlib.blake2b(example_id.encode(), digest_size=8).digest()


class Learner:
    """Learn `labels` records into `suite`; `models` limits which (default: all).

    It remembers where it is in the topic (`offsets`, per partition the next offset)
    and the event time of its latest example, and `version` packs all of that with the
    models into a signed `ModelVersionRecord`; `Learner.resume` unpacks one.
    """

    def __init__(self, suite: ModelSuite, models: tuple[str, ...] | None = None) -> None:
        self.suite = suite
        self.models = frozenset(models) if models else None
        self.name = learner_name(models)
        self.seen: set[bytes] = set()
        self._order: deque[bytes] = deque()
        self.learned: Counter = Counter()
        self.duplicates = 0
        self.invalid = 0
        self.offsets: dict[int, int] = {}
        self.watermark: datetime | None = None
        self.version = 0
        self.pending = 0  # examples learned since the last version

    def feed(self, value: bytes, partition: int | None = None, offset: int | None = None) -> bool:
        """One record's value (at `offset` of `labels` partition `partition`, if known); True if the suite learned from it.

        >>> from models.suite import ModelSuite
        >>> learner = Learner(ModelSuite())
        >>> learner.feed(b"{not json", 0, 7), learner.invalid, learner.offsets
        (False, 1, {0: 8})
        """
        if partition is not None and offset is not None:
            self.offsets[partition] = offset + 1
        try:
            record = LabeledExampleRecord.model_validate_json(value)
        except ValidationError:
            self.invalid += 1
            return False
        if not self._wants(record.model):
            return False
        digest = _digest(record.example_id)
        if digest in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(digest)
        self._order.append(digest)
        if len(self._order) > SEEN_KEEP:
            self.seen.discard(self._order.popleft())
        self._learn(example_of(record), record.resolved_at)
        return True

    def learn(self, examples) -> int:
        """Examples as the engine made them, for replay's inline learner: nothing to decode, no copies to skip."""
        n = 0
        for example in examples:
            if self._wants(example.task):
                self._learn(example, datetime.fromtimestamp(example.resolved_at, tz=timezone.utc))
                n += 1
        return n

    def _wants(self, model: str) -> bool:
        """Whether this learner learns `model`'s records: the process's too when a model on it is learned."""
        if self.models is None or model in self.models:
            return True
        return model == "process" and bool(self.models & PROCESS_READERS)

    def _learn(self, example, resolved_at: datetime) -> None:
        self.suite.learn([example])
        self.learned[example.task] += 1
        self.pending += 1
        if self.watermark is None or resolved_at > self.watermark:
            self.watermark = resolved_at

    def next_version(self) -> int:
        """Count a version as published: what was pending is in it."""
        self.version += 1
        self.pending = 0
        return self.version

    def due(self, cadence: Cadence, seconds_since_first_pending: float) -> bool:
        """Whether `cadence` asks for a version now."""
        return self.pending >= cadence.every_examples or (
            self.pending > 0 and seconds_since_first_pending >= cadence.every_seconds)

    def version_record(self, key: bytes, published_at: datetime | None = None) -> ModelVersionRecord:
        """The next version: every example learned so far, signed with `key`."""
        state = {
            "suite": self.suite, "models": self.models, "seen": b"".join(self._order), "learned": dict(self.learned),
            "duplicates": self.duplicates, "invalid": self.invalid, "offsets": dict(self.offsets),
            "watermark": self.watermark,
        }
        payload = zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 6)
        self.next_version()
        versions = self.suite.versions()
        names = sorted(self.models) if self.models else sorted(self.suite.learners)
        return ModelVersionRecord(
            learner=self.name, version=self.version, models=names,
            model_versions={name: versions[name] for name in names},
            labels_offsets={str(p): o for p, o in sorted(self.offsets.items())},
            watermark=self.watermark, examples_learned=sum(self.learned.values()),
            duplicates_skipped=self.duplicates, invalid=self.invalid,
            published_at=published_at or datetime.now(timezone.utc),
            key_id=key_id(key).hex(), blob=base64.b64encode(sign(payload, key, VERSION_MAGIC)).decode(),
        )

    @classmethod
    def resume(cls, record: ModelVersionRecord, keys: list[bytes]) -> "Learner":
        """The learner a version was published by, ready for the labels after its offsets.

        Raises `SnapshotRejected` if no key in `keys` signed it (nothing is unpickled then).
        """
        try:
            blob = base64.b64decode(record.blob, validate=True)
        except ValueError as error:
            raise SnapshotRejected(f"model version {record.version} of {record.learner}: not base64: refused") from error
        state = pickle.loads(zlib.decompress(verify(blob, keys, VERSION_MAGIC)))  # noqa: S301 - verified first
        learner = cls(state["suite"], tuple(state["models"]) if state["models"] else None)
        seen = state["seen"]
        learner._order = deque(seen[i:i + 8] for i in range(0, len(seen), 8))
        learner.seen = set(learner._order)
        learner.learned = Counter(state["learned"])
        learner.duplicates, learner.invalid = state["duplicates"], state["invalid"]
        learner.offsets, learner.watermark = dict(state["offsets"]), state["watermark"]
        learner.version = record.version
        return learner

    def report(self) -> dict:
        models = self.suite.report()
        return {
            "learner": self.name,
            "version": self.version,
            "examples_learned": sum(self.learned.values()),
            "duplicates_skipped": self.duplicates,
            "invalid": self.invalid,
            "labels_offsets": {str(p): o for p, o in sorted(self.offsets.items())},
            "watermark": None if self.watermark is None else self.watermark.isoformat(),
            "models": {name: models[name] for name in sorted(self.learned) if name in models},
            "process_observations": self.learned["process"],
            "same_as_worker": [name for name in sorted(self.learned) if name in LABELS_ONLY],
        }
