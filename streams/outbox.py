"""The outputs of a batch, produced with confluent-kafka and delivered before the batch is acked.

Faust's own send path costs tens of microseconds per record in Python; librdkafka
batches and compresses in C. The agent puts a batch's outputs here in the order
replay writes them, then awaits `deliver()` before it takes the next batch, so a
batch's offsets are only committed once every output of it is on the broker
(at-least-once; the ids in the records make a redelivery recognisable).
"""

from __future__ import annotations

import asyncio
import logging

from confluent_kafka import KafkaException, Producer

from streams.publisher import producer_config
from streams.settings import Settings

log = logging.getLogger("loyalty.outbox")


class DeliveryFailed(RuntimeError):
    """The broker did not take every output of a batch: the batch must not be acked."""


class Outbox:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: Producer | None = None
        self.pending = 0
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

    def _on_delivery(self, error, message) -> None:
        if error is not None:
            self.errors.append(f"{message.topic()}: {error}")

    def put(self, topic: str, key: bytes | None, value: bytes, headers: list | None = None,
            partition: int | None = None) -> None:
        """Queue one record; `partition` None lets the murmur2 partitioner place it by key."""
        producer = self.producer
        extra = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers, on_delivery=self._on_delivery, **extra)
                break
            except BufferError:
                producer.poll(0.05)  # local queue full: let deliveries drain
        self.pending += 1

    async def deliver(self, timeout: float = 60.0) -> int:
        """Wait until the broker has every output put so far; raise if any was refused."""
        if not self.pending:
            return 0
        n, self.pending = self.pending, 0
        try:
            left = await asyncio.to_thread(self.producer.flush, timeout)
        except KafkaException as error:
            raise DeliveryFailed(str(error)) from error
        if left or self.errors:
            errors, self.errors = self.errors[:5], []
            raise DeliveryFailed(f"{left} outputs undelivered after {timeout}s; errors: {errors}")
        return n

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
