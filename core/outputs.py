"""The one output contract: what a driver sends for a record, whether it is live or replay.

A processing result (`core.processing.Result`) yields `Output`s: a base topic name
(`offer-assignments`, `decisions`, `badge-awards`, `labels`, `dead-letters`), a key and the record.
The live agent puts each on its prefixed topic through the outbox; replay hands each to
its callback. Neither turns results into records on its own, so they cannot drift apart.

A record the core refused (or failed on) yields its dead letter, which needs to know
where the record came from: the driver says so with a `Source`.

>>> letter = dead_letter(Source("purchases", 0, 7, b"c-1", b"oops"), "not JSON")
>>> letter.topic, letter.key, letter.record.source_offset, dict(letter.headers())["error-kind"]
('dead-letters', b'c-1', 7, b'invalid')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from pydantic import BaseModel

from core.ids import example_id
from core.labels import LabeledExample
from schemas import DeadLetter
from schemas.deadletter import MAX_KEPT_KEY_BYTES, ErrorKind
from schemas.headers import headers_for
from schemas.labels import LabeledExampleRecord


@dataclass(frozen=True, slots=True)
class Source:
    """Where a record came from: the coordinates its dead letter carries."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None  # the record's Kafka timestamp, in seconds


@dataclass(frozen=True, slots=True)
class Output:
    """One record to send: `topic` is the base name, which the live driver prefixes."""

    topic: str
    key: bytes | None
    record: BaseModel
    extra_headers: tuple[tuple[str, str], ...] = ()

    def headers(self) -> list[tuple[str, bytes]]:
        if not self.extra_headers:
            return _headers(self.topic)
        return headers_for(self.topic, **dict(self.extra_headers))


@lru_cache(maxsize=None)
def _headers(topic: str) -> list[tuple[str, bytes]]:
    return headers_for(topic)


def dead_letter(source: Source, error: str, kind: ErrorKind = "invalid") -> Output:
    """The dead letter of the record at `source`, keyed by its key (cut to what a dead letter keeps)."""
    letter = DeadLetter.build(topic=source.topic, partition=source.partition, offset=source.offset, key=source.key,
                              value=source.value, error=error, kind=kind, record_timestamp=source.timestamp)
    key = source.key[:MAX_KEPT_KEY_BYTES] if source.key is not None else None
    return Output("dead-letters", key, letter, (("source-topic", source.topic), ("error-kind", kind)))


# The models that learn on top of the purchase process: their labels go with its observations.
PROCESS_READERS = frozenset({"process", "churn", "propensity", "lifetime_value"})


def label_key(model: str) -> bytes:
    """A `labels` record's key: its model, or `process` for the process and the models that read it.

    One key is one partition, so a learner reads the process's observations and the examples
    of the models on top of it in the order the worker learned them.

    >>> label_key("upsell"), label_key("churn")
    (b'upsell', b'process')
    """
    return b"process" if model in PROCESS_READERS else model.encode()


def label_record(customer_id: str, example: LabeledExample) -> LabeledExampleRecord:
    """The `labels` record of a resolved prediction, with its deterministic id."""
    return LabeledExampleRecord(
        example_id=example_id(customer_id, example.task, example.predicted_at, example.resolved_at, example.features,
                              example.ref),
        model=example.task, customer_id=customer_id, features=example.features, label=example.label,
        prediction=example.prediction, baseline=example.baseline, ref=example.ref,
        predicted_at=_utc(example.predicted_at), resolved_at=_utc(example.resolved_at),
    )


def example_of(record: LabeledExampleRecord) -> LabeledExample:
    """The example a `labels` record carries, as `ModelSuite.learn` takes it (the inverse of `label_record`)."""
    return LabeledExample(record.model, dict(record.features), record.label, record.prediction, record.baseline,
                          record.predicted_at.timestamp(), record.resolved_at.timestamp(), record.ref)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)
