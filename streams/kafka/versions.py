"""Scorers follow the learners: every worker reads the `models` topic and scores with the latest version.

With `LOYALTY_MODELS_FROM=learners`, the worker learns nothing itself (`ModelSuite.frozen`): it sends
its labels, and `ModelFollower` brings in the versions a `loyalty learner` publishes. Like the catalog,
the topic is read in full by every worker, with no consumer group: first to its end before any record
is processed, then in a background thread. A version is verified and unpickled in that thread and
staged; the agent swaps it in between batches (`swap`), so a batch is scored by one version, and every
score, assignment and decision then names it (`churn-logreg-v1+404@all.v3`). A version whose signature
does not verify is refused and logged; the worker keeps the version it has.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from pydantic import ValidationError

from core import LoyaltyEngine
from core.learner import Learner
from models.snapshot import SnapshotRejected
from schemas.models import ModelVersionRecord
from streams.kafka.follow import FOLLOWER_FETCH, Follower
from streams.settings import Settings

log = logging.getLogger("loyalty.versions")

SWAPS_KEPT = 1000


class ModelFollower(Follower):
    thread_name, what = "model-follower", "models topic"

    def __init__(self, settings: Settings, engine: LoyaltyEngine) -> None:
        super().__init__()
        self.settings, self.engine = settings, engine
        self.learner = settings.models_learner
        self.keys = settings.snapshot_keys()
        self.current: ModelVersionRecord | None = None  # the version the engine scores with
        self.refused = 0
        self.last_error: str | None = None
        self._staged: tuple[ModelVersionRecord, Learner] | None = None
        self._seen = 0  # the highest version number read, staged or not
        # Where each version came in: the first record it scored, for replay to swap at the same points.
        self.swaps: deque[dict] = deque(maxlen=SWAPS_KEPT)
        self._unplaced: ModelVersionRecord | None = None
        self._lock = threading.Lock()

    def status(self) -> dict:
        current = self.current
        return {
            "from": "learners", "learner": self.learner,
            "version": None if current is None else current.version,
            "examples_learned": None if current is None else current.examples_learned,
            "watermark": None if current is None or current.watermark is None else current.watermark.isoformat(),
            "published_at": None if current is None else current.published_at.isoformat(),
            "refused": self.refused, "last_error": self.last_error,
        }

    def bootstrap(self) -> None:
        """Read `models` to its end and score with the latest version there, if any."""
        self.engine.models.frozen = True
        consumer = self._consumer = Consumer({
            **self.settings.kafka_client_config(),
            "group.id": f"models-{uuid.uuid4().hex[:8]}",  # never committed: every worker reads everything
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            **FOLLOWER_FETCH,
        })
        consumer.assign([TopicPartition(self.settings.topic("models"), 0, OFFSET_BEGINNING)])
        while True:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise RuntimeError(f"models topic: {message.error()}")
            self._take(message)
        self.swap()

    def swap(self) -> bool:
        """Between batches: score with the staged version, if one came. True if the models changed."""
        if self._staged is None:
            return False
        with self._lock:
            record, learner = self._staged
            self._staged = None
        self.engine.models.adopt(learner.suite, f"{record.learner}.v{record.version}")
        self.current = self._unplaced = record
        log.info("scoring with model version %s.v%d (%d examples, labels up to %s)", record.learner, record.version,
                 record.examples_learned, record.watermark)
        return True

    def scoring(self, topic: str, partition: int, offset: int) -> None:
        """The agent is about to process this record: the first with a newly swapped version is its point."""
        if self._unplaced is not None:
            self.swaps.append({"version": self._unplaced.version, "learner": self._unplaced.learner,
                               "topic": topic, "partition": partition, "offset": offset})
            self._unplaced = None

    def _take(self, message) -> None:
        if message.key() != self.learner.encode() or message.value() is None:
            return
        try:
            record = ModelVersionRecord.model_validate_json(message.value())
            if record.version <= self._seen:
                return  # an older version (or the same one again): the newest wins
            learner = Learner.resume(record, self.keys)
        except (ValidationError, SnapshotRejected) as error:
            self.refused += 1
            self.last_error = f"offset {message.offset()}: {error}"
            log.error("model version refused: %s", self.last_error)
            return
        self._seen = record.version
        with self._lock:
            self._staged = (record, learner)
