"""Replay: the live pipeline's core, driven in-process over recorded records, in their order.

No Kafka, no Redis: state lives in a dict, the Redis serving copy in a dict twin,
and outputs go to a callback. Records are processed with `core.processing.Processor`
exactly as the Faust agents process them, partition by partition as the live
worker would see them (`partitions` must match the live topic's count, and the
records' order must be the order the worker consumed them).
"""

from __future__ import annotations

import asyncio
import copy
import pickle
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from core.engine import LoyaltyEngine
from core.learner import Learner
from core.limits import ContactPolicy, Limits, MemoryLimits
from core.outputs import Source
from core.partitioning import partition_of
from core.processing import MODELS, Processor, Result
from core.state import CustomerState
from models.suite import ModelSuite
from schemas.scores import CustomerScores

Emit = Callable[[str, bytes | None, object], None]


@dataclass
class ReplayCounts:
    records: int = 0
    processed: int = 0
    dead_lettered: int = 0
    assignments: int = 0
    examples_learned: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


class Replay:
    def __init__(
        self,
        engine: LoyaltyEngine,
        partitions: int = 1,
        emit: Emit | None = None,
        limits: Limits | None = None,
        policy: ContactPolicy | None = None,
        version_every: int | None = None,
        versions: Mapping[tuple[str, int, int], tuple[str, ModelSuite]] | None = None,
    ) -> None:
        self.engine = engine
        # LOYALTY_MODELS_FROM=learners, replayed: the engine learns nothing; a learner inline learns
        # the labels as they are sent, and every `version_every` examples (checked between records,
        # where a live worker swaps between batches) the engine scores with a copy of its models.
        self.learner: Learner | None = None
        self.version_every = version_every
        if version_every is not None:
            if version_every < 1:
                raise ValueError(f"version_every must be >= 1, got {version_every}")
            self.learner = Learner(copy.deepcopy(engine.models))
            engine.models.frozen = True
        # Or the versions a live worker swapped in, where it did: by the (topic, partition, offset)
        # of the first record each scored (its `/models/` `model_swaps`), each a source name and its
        # models. Offsets are counted per topic and partition from 0, as on the live run's fresh topics.
        self.versions = dict(versions or {})
        if self.versions:
            if version_every is not None:
                raise ValueError("version_every or versions, not both")
            engine.models.frozen = True
        self._offsets: dict[tuple[str, int], int] = {}
        self.partitions = partitions
        self.states: dict[str, CustomerState] = {}
        self.served: dict[str, dict[str, str]] = {}  # the Redis serving copy's twin
        self.limits = limits if limits is not None else MemoryLimits()  # the Redis limits' twin
        self.emit = emit
        self.processor = Processor(engine, self.states.get, self._save, self.limits, policy, partitions)
        self.counts = ReplayCounts()
        self._loop = asyncio.new_event_loop()

    def _save(self, state: CustomerState) -> None:
        self.states[state.customer_id] = state

    def feed(self, topic: str, key: bytes | None, value: bytes | None, offset: int = 0) -> None:
        """One record of `topic` (a base topic name: purchases, engagements, payments)."""
        self._loop.run_until_complete(self._feed(topic, key, value, offset))

    async def _feed(self, topic: str, key: bytes | None, value: bytes | None, offset: int = 0) -> None:
        counts = self.counts
        counts.records += 1
        counts.by_topic[topic] = counts.by_topic.get(topic, 0) + 1
        partition = partition_of(key, self.partitions) if key else 0
        if self.versions:
            at = self._offsets.get((topic, partition), 0)
            self._offsets[(topic, partition)] = at + 1
            swap = self.versions.get((topic, partition, at))
            if swap is not None:
                self.engine.models.adopt(swap[1], swap[0])
        if topic in MODELS:
            result = await self.processor.process(topic, key, value)
        else:
            result = Result(invalid=f"unknown topic {topic!r}")
        if not result.rejected:
            counts.processed += 1
        self._send(result, Source(topic, partition, offset, key, value))
        # The record's partition first, as the live agent does; then the others, as the live
        # worker's ticks do for partitions that get no records (one partition: no difference).
        # Records come in the order they were consumed, so a partition without this record has
        # nothing older left to read: its watermark catches up, as a live tick's does.
        for p in (partition, *(q for q in range(self.partitions) if q != partition)):
            self._send(await self.processor.sweep(p, caught_up=p != partition))
        if self.learner is not None and self.learner.pending >= self.version_every:
            self._adopt()

    def _adopt(self) -> None:
        """The learner publishes a version and the engine swaps it in (a copy: the learner goes on)."""
        learner = self.learner
        suite = pickle.loads(pickle.dumps(learner.suite, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301 - our own
        self.engine.models.adopt(suite, f"{learner.name}.v{learner.next_version()}")

    def _send(self, result: Result, source: Source | None = None) -> None:
        """Send what the live agents send, in the same order (`Result.outputs`); serve the scores."""
        if self.emit is None:  # nobody reads the records: count them, do not build them (a label costs ~36 us)
            self.counts.assignments += len(result.assignments)
            self.counts.dead_lettered += result.rejected
        else:
            for output in result.outputs(source):
                self.emit(output.topic, output.key, output.record)
                if output.topic == "offer-assignments":
                    self.counts.assignments += 1
                elif output.topic == "dead-letters":
                    self.counts.dead_lettered += 1
        for customer_id, values in result.scores:
            self.served.setdefault(customer_id, {}).update({k: str(v) for k, v in values.items()})
        self.counts.examples_learned += result.learned
        if self.learner is not None and result.examples:
            self.learner.learn(example for _, example in result.examples)

    def run(self, records: Iterable[tuple[str, bytes | None, bytes | None]], progress: Callable[[int], None] | None = None):
        async def run_all():
            for offset, (topic, key, value) in enumerate(records):
                await self._feed(topic, key, value, offset)
                if progress is not None:
                    progress(offset + 1)

        self._loop.run_until_complete(run_all())
        return self.counts

    def finish(self) -> None:
        """Resolve every label the final watermark has passed, in every partition."""
        for partition in range(self.partitions):
            self._send(self._loop.run_until_complete(self.processor.sweep(partition, caught_up=True)))
        if self.learner is not None and self.learner.pending:
            self._adopt()

    def final_scores(self) -> Iterable[CustomerScores]:
        """Every customer's scores as of the final watermark, by customer id."""
        for customer_id in sorted(self.states):
            yield self.engine.profile(self.states[customer_id])
