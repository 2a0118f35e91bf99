"""A learner process: the `labels` topic in, model versions out on the compacted `models` topic.

`LabelsLearner` reads every `labels` partition in offset order into a `core.learner.Learner`
and publishes a signed `ModelVersionRecord` at the learner's `Cadence`. A restart reads the
learner's latest version back from `models` (`latest_version`) and goes on from its offsets,
so each example is learned once, in order, whatever the restarts. Nothing is committed to a
consumer group: the offsets live in the versions, with the models they produced.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from pydantic import ValidationError

from core.learner import Cadence, Learner, learner_name
from core.trials import campaign_performance
from models.suite import ModelSuite
from schemas.models import ModelVersionRecord
from schemas.performance import CampaignPerformanceRecord
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


def resume_or_start(settings: Settings, suite: ModelSuite, models: tuple[str, ...] | None = None,
                    from_beginning: bool = False, timeout: float = 60.0,
                    say: Callable[[str], None] = lambda line: None) -> Learner:
    """The learner of `models` (all by default): from its latest published version, or fresh `suite`.

    With `from_beginning` the models are fresh but the version numbers go on after the latest.
    Raises `SnapshotRejected` if the latest version's signature does not verify.
    """
    latest = latest_version(settings, learner_name(models), timeout)
    learner = Learner(suite, models)
    if latest is not None and not from_beginning:
        learner = Learner.resume(latest, settings.snapshot_keys())
        say(f"learner {learner.name}: resuming from version {latest.version} "
            f"({latest.examples_learned} examples, labels offsets {latest.labels_offsets})")
    elif latest is not None:
        learner.version = latest.version
    return learner


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

    def _performance(self, record: ModelVersionRecord, failures: list) -> None:
        """Each campaign's uplift as this version holds it, to the compacted `performance` topic."""
        performance = self.learner.suite.performance
        as_of = None if record.watermark is None else record.watermark.timestamp()
        version = f"{performance.version}@{record.learner}.v{record.version}"
        for cid in performance.campaigns():
            value = CampaignPerformanceRecord.model_validate(campaign_performance(performance, cid, version, as_of))
            self._producer.produce(self.settings.topic("performance"), key=cid.encode(),
                                   value=value.model_dump_json().encode(),
                                   on_delivery=lambda error, _: failures.append(error) if error else None)

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
        self._performance(record, failures)
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


log = logging.getLogger("loyalty.learner")


class InWorkerLearner:
    """The learner of every model, run by one worker of the group at a time (`LOYALTY_LEARNER_IN_WORKER`).

    Each worker joins a consumer group of its own for the one-partition `models` topic: the
    member the group gives that partition runs the learner in a thread, the others wait. When
    the partition moves (a worker leaves, dies, or joins), the holder stops its learner and
    publishes what it learned before the group hands the partition on (the eager protocol:
    every member gives up its partitions before any is assigned again), and the next holder
    resumes from the latest version. A holder that stalls for longer than the session timeout
    without dying could overlap with the next: run `loyalty learner` apart where that matters.
    """

    def __init__(self, settings: Settings, suite: Callable[[], ModelSuite]) -> None:
        self.settings, self.suite = settings, suite
        self.running: LabelsLearner | None = None
        self.runs = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._learning: tuple[threading.Thread, threading.Event] | None = None
        self._thread: threading.Thread | None = None

    def status(self) -> dict:
        run = self.running
        return {"here": run is not None, "runs": self.runs, "last_error": self.last_error,
                "version": None if run is None else run.learner.version,
                "versions_published": None if run is None else len(run.published)}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._hold, name="learner-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _hold(self) -> None:
        consumer = Consumer({
            **self.settings.kafka_client_config(),
            "group.id": f"{self.settings.app_id}-learner",
            "enable.auto.commit": False,
            "partition.assignment.strategy": "range",  # eager: the old holder stops before the next starts
            "session.timeout.ms": int(self.settings.session_timeout_seconds * 1000),
        })
        consumer.subscribe([self.settings.topic("models")], on_assign=self._assigned,
                           on_revoke=self._revoked, on_lost=self._revoked)
        try:
            while not self._stop.is_set():
                consumer.poll(0.5)  # the versions read here are the follower's business
        finally:
            self._halt()
            consumer.close()

    def _assigned(self, consumer, partitions) -> None:
        if partitions and self._learning is None:
            stop = threading.Event()
            thread = threading.Thread(target=self._learn, args=(stop,), name="learner", daemon=True)
            self._learning = (thread, stop)
            thread.start()

    def _revoked(self, consumer, partitions) -> None:
        if partitions:
            self._halt()

    def _halt(self) -> None:
        if self._learning is not None:
            thread, stop = self._learning
            stop.set()
            thread.join(timeout=120)
            self._learning = None

    def _learn(self, stop: threading.Event) -> None:
        settings = self.settings
        try:
            learner = resume_or_start(settings, self.suite(), say=log.info)
            run = LabelsLearner(settings, learner, Cadence(settings.learner_every_examples,
                                                           settings.learner_every_seconds),
                                settings.snapshot_keys()[0], say=log.info)
            self.running, self.runs = run, self.runs + 1
            log.info("learner %s runs in this worker", learner.name)
            run.run(until_end=False, stop=stop)
        except Exception as error:  # noqa: BLE001 - said in /health/; the next assignment tries again
            self.last_error = f"{type(error).__name__}: {error}"
            log.exception("in-worker learner stopped")
        finally:
            self.running = None
