"""The worker's outputs and changelog records, produced with confluent-kafka, delivered before offsets commit.

Faust's own send path costs tens of microseconds per record in Python; librdkafka
batches in C. The agent puts each batch's outputs here in the order replay writes
them and goes on with the next batch; librdkafka sends them meanwhile. Faust flushes
its producer before it commits offsets (on its commit timer, on a rebalance, at
shutdown): `deliver_before_commits` makes that flush wait for this producer too, so
an offset is only committed once every output of the records before it is on the
broker (at-least-once; the ids in the records make a redelivery recognisable).
Waiting for the broker at every batch instead held each batch up by a round trip.

`deliver` waits for the records put before it was called, not for an empty queue:
under steady load the queue is never empty, and a commit must not wait for that.

State (changelog) records are put with `put_after_outputs`: held back until every
output put before them is on the broker. A worker killed at any moment thus leaves
a changelog that is never ahead of the outputs: a customer's restored state holds an
input record only if that record's offer is delivered, so redelivered records it
holds can be skipped, and those it does not hold are processed again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

from collections import deque

from confluent_kafka import Producer

from streams.kafka.publisher import producer_config
from streams.settings import Settings

log = logging.getLogger("loyalty.outbox")


class DeliveryFailed(RuntimeError):
    """The broker did not take every record put before a commit: the offsets must not be committed."""


class Outbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: Producer | None = None
        self.sequence = 0  # records put so far
        self.outstanding: set[int] = set()  # their sequence numbers, until the broker has them
        self.outputs: set[int] = set()  # those of them put with `put`, produced and not yet on the broker
        self.last_output = 0
        # (sequence, last output sequence before it, record) put with `put_after_outputs`, not yet produced
        self.held: deque[tuple[int, int, tuple]] = deque()
        self.errors: list[str] = []

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(producer_config(
                self.settings,
                **{"linger.ms": self.settings.producer_linger_ms, "queue.buffering.max.messages": 1_000_000,
                   "error_cb": self._on_error},
            ))
        return self._producer

    def _on_error(self, error) -> None:
        # Transient trouble (a broker away for a moment) is retried by librdkafka itself.
        log.warning("output producer: %s", error)

    def _on_delivery(self, sequence: int, error, message) -> None:
        self.outstanding.discard(sequence)
        self.outputs.discard(sequence)
        if error is not None:
            self.errors.append(f"{message.topic()}: {error}")

    def put(self, topic: str, key: bytes | None, value: bytes, headers: list | None = None,
            partition: int | None = None) -> None:
        """Queue one record; `partition` None lets the murmur2 partitioner place it by key."""
        self.sequence += 1
        self.outstanding.add(self.sequence)
        self.outputs.add(self.sequence)
        self.last_output = self.sequence
        self._produce(self.sequence, (topic, key, value, headers, partition))

    def put_after_outputs(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        """Queue one record to be produced once every record `put` before it is on the broker."""
        self.sequence += 1
        self.outstanding.add(self.sequence)
        self.held.append((self.sequence, self.last_output, (topic, key, value, None, partition)))

    def _release(self) -> None:
        """Produce the held records whose outputs are all delivered, in the order they were put."""
        if not self.held:
            return
        waiting_from = min(self.outputs, default=self.sequence + 1)  # the oldest output not delivered
        while self.held and self.held[0][1] < waiting_from:
            sequence, _, record = self.held.popleft()
            self._produce(sequence, record)

    def _produce(self, sequence: int, record: tuple) -> None:
        topic, key, value, headers, partition = record
        producer = self.producer
        extra = {} if partition is None else {"partition": partition}
        callback = functools.partial(self._on_delivery, sequence)
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers, on_delivery=callback, **extra)
                return
            except BufferError:
                producer.poll(0.05)  # local queue full: let deliveries drain

    def serve(self) -> None:
        """Run the delivery callbacks that are due (cheap; call once per batch)."""
        if self._producer is not None:
            self._producer.poll(0)
        self._release()

    async def deliver(self, timeout: float = 60.0) -> int:
        """Wait until the broker has every record put before this call; raise if any was refused."""
        upto = self.sequence
        deadline = time.monotonic() + timeout
        while True:
            if self.errors:
                errors, self.errors = self.errors[:5], []
                raise DeliveryFailed(f"the broker refused outputs: {errors}")
            waiting = [s for s in self.outstanding if s <= upto]
            if not waiting:
                return upto
            if time.monotonic() > deadline:
                raise DeliveryFailed(f"{len(waiting)} records undelivered after {timeout} s")
            await asyncio.to_thread(self.producer.poll, 0.05)
            self._release()

    def deliver_before_commits(self, faust_producer) -> None:
        """Make Faust's producer flush (which runs before every offset commit) deliver this one too."""
        if getattr(faust_producer, "_outbox_hooked", False):
            return
        flush = faust_producer.flush

        async def flush_both() -> None:
            await self.deliver()
            await flush()

        faust_producer.flush = flush_both
        faust_producer._outbox_hooked = True
