"""A learner process: the `labels` topic in, model versions out on the compacted `models` topic.

`LabelsLearner` reads every `labels` partition in offset order into a `core.learner.Learner`
and publishes a signed `ModelVersionRecord` at the learner's `Cadence`. A restart reads the
learner's latest version back from `models` (`latest_version`) and goes on from its offsets,
so each example is learned once, in order, whatever the restarts. Nothing is committed to a
consumer group: the offsets live in the versions, with the models they produced.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from pydantic import ValidationError

from core.learner import Cadence, Learner
from schemas.models import ModelVersionRecord
from streams.kafka.admin import MODEL_VERSION_BYTES
from streams.settings import Settings


def _consumer(settings: Settings) -> Consumer:
    return Consumer({
        **settings.kafka_client_config(),
        "group.id": f"loyalty-learner-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })


def _partitions(consumer: Consumer, name: str) -> list[int]:
    topic = consumer.list_topics(name, timeout=30).topics.get(name)
    if topic is None or topic.error is not None or not topic.partitions:
        raise LookupError(f"no topic {name}: start a worker (or run `loyalty create-topics`) first")
    return sorted(topic.partitions)


def _ends(consumer: Consumer, name: str, partitions: list[int]) -> dict[int, int]:
    """Each partition's end now: the offset the next record written to it will get."""
    return {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=30)[1] for p in partitions}


def _at_end(message, name: str, ends: dict[int, int]) -> bool:
    """Whether `message` (a record, or the end-of-partition event) is the last before its partition's end.

    Raises `RuntimeError` for any other error.
    """
    if message.error() and message.error().code() != KafkaError._PARTITION_EOF:
        raise RuntimeError(f"{name}: {message.error()}")
    offset = message.offset()
    return (offset if message.error() else offset + 1) >= ends[message.partition()]


def latest_version(settings: Settings, learner: str, timeout: float = 60.0) -> ModelVersionRecord | None:
    """The newest version `learner` published on `models` (None if none), read to the topic's current end.

    A record that is not a valid version is skipped: the signature is checked when it is loaded.
    """
    name = settings.topic("models")
    consumer = _consumer(settings)
    try:
        partitions = _partitions(consumer, name)
        ends = _ends(consumer, name, partitions)
        todo = {p for p in partitions if ends[p] > 0}
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        latest, deadline = None, time.monotonic() + timeout
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: not read to its end in {timeout:g} s")
            message = consumer.poll(0.5)
            if message is None:
                continue
            done = _at_end(message, name, ends)
            ours = message.key() == learner.encode()
            if not message.error() and ours and message.offset() < ends[message.partition()]:
                try:
                    record = ModelVersionRecord.model_validate_json(message.value() or b"")
                except ValidationError:
                    record = None
                if record is not None and (latest is None or record.version > latest.version):
                    latest = record
            if done:
                todo.discard(message.partition())
        return latest
    finally:
        consumer.close()


class LabelsLearner:
    """Feed `labels` into `learner` from its offsets; publish versions to `models` at `cadence`.

    `say` hears one line per version published.
    """

    def __init__(self, settings: Settings, learner: Learner, cadence: Cadence, key: bytes,
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.settings, self.learner, self.cadence, self.key, self.say = settings, learner, cadence, key, say
        self.published: list[ModelVersionRecord] = []
        self.read = 0
        self._producer: Producer | None = None
        self._first_pending: float | None = None

    def publish(self) -> ModelVersionRecord:
        """Send the next version and wait until the broker has it."""
        if self._producer is None:
            self._producer = Producer({
                **self.settings.kafka_client_config(),
                "enable.idempotence": True,
                "acks": "all",
                "message.max.bytes": MODEL_VERSION_BYTES,
            })
        record = self.learner.version_record(self.key)
        failures: list = []
        self._producer.produce(self.settings.topic("models"), key=record.learner.encode(),
                               value=record.model_dump_json().encode(),
                               on_delivery=lambda error, _: failures.append(error) if error else None)
        if self._producer.flush(30) or failures:
            raise RuntimeError(f"model version {record.version} of {record.learner} not delivered: "
                               f"{failures[0] if failures else 'timed out'}")
        self._first_pending = None
        self.published.append(record)
        self.say(f"learner {record.learner}: version {record.version} published "
                 f"({record.examples_learned} examples, labels offsets {record.labels_offsets})")
        return record

    def run(self, until_end: bool = True, timeout: float = 600.0, stop: threading.Event | None = None) -> int:
        """Learn until the topic's current end (`until_end`), or until `stop` is set; publish what is new.

        Returns the records read. With `until_end`, raises `TimeoutError` if the end is not reached in time.
        """
        name = self.settings.topic("labels")
        consumer = _consumer(self.settings)
        try:
            partitions = _partitions(consumer, name)
            start = {p: self.learner.offsets.get(p, 0) for p in partitions}
            ends = _ends(consumer, name, partitions)
            todo = {p for p in partitions if start[p] < ends[p]}
            consumer.assign([TopicPartition(name, p, start[p] if start[p] else OFFSET_BEGINNING) for p in partitions])
            deadline = time.monotonic() + timeout
            while not (until_end and not todo) and not (stop is not None and stop.is_set()):
                if until_end and time.monotonic() > deadline:
                    raise TimeoutError(f"{name}: partitions {sorted(todo)} not read to their end in {timeout:g} s")
                message = consumer.poll(0.5)
                if message is not None:
                    self._take(message, name, ends, todo, until_end)
                if self.learner.due(self.cadence, self._waited()):
                    self.publish()
            if self.learner.pending:
                self.publish()
            return self.read
        finally:
            consumer.close()
            if self._producer is not None:
                self._producer.flush(30)

    def _take(self, message, name: str, ends: dict[int, int], todo: set[int], until_end: bool) -> None:
        done = _at_end(message, name, ends)
        partition, offset = message.partition(), message.offset()
        if not message.error():
            if until_end and offset >= ends[partition]:
                return  # written after this run began: the next run's
            learned = self.learner.feed(message.value() or b"", partition, offset)
            self.read += 1
            if learned and self._first_pending is None:
                self._first_pending = time.monotonic()
        if done:
            todo.discard(partition)

    def _waited(self) -> float:
        return 0.0 if self._first_pending is None else time.monotonic() - self._first_pending
