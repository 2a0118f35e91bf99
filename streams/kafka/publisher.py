"""Publishing events the way a POS integration should: keyed by customer, murmur2, idempotent."""

from __future__ import annotations

from confluent_kafka import Producer

from schemas import EngagementEvent, PaymentEvent, PurchaseEvent, encode
from schemas.headers import headers_for
from schemas.topics import TOPIC_OF_EVENT
from streams.settings import Settings


def producer_config(settings: Settings, **overrides) -> dict:
    return {
        **settings.kafka_client_config(),
        # The Java client's partitioner, which Faust's tables also use: a record
        # lands in the partition that holds its customer's state.
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "linger.ms": 10,
        **overrides,
    }


class EventPublisher:
    """Sends canonical events to their topics; `flush` waits until the broker has them all."""

    def __init__(self, settings: Settings, **overrides) -> None:
        self.settings = settings
        self.producer = Producer(producer_config(settings, **overrides))
        self.delivered = 0
        self.failed: list[str] = []

    def _on_delivery(self, error, message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed.append(str(error))

    def publish(self, event: PurchaseEvent | EngagementEvent | PaymentEvent) -> None:
        """Send a canonical event to its topic, keyed by its customer."""
        base = TOPIC_OF_EVENT[type(event)]
        self.publish_raw(self.settings.topic(base), event.customer_id.encode(), encode(event), headers_for(base))

    def publish_raw(self, topic: str, key: bytes | None, value: bytes, headers: list | None = None) -> None:
        """Send bytes as they are (vendor payloads, or anything a test needs to be broken)."""
        headers = headers or [("content-type", b"application/json")]
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, headers=headers, on_delivery=self._on_delivery)
                break
            except BufferError:
                self.producer.poll(0.1)  # local queue full: let deliveries drain
        self.producer.poll(0)

    def purchase(self, **fields) -> PurchaseEvent:
        """Validate and publish a purchase: `publisher.purchase(event_id=..., customer_id=..., ...)`."""
        event = PurchaseEvent.model_validate(fields)
        self.publish(event)
        return event

    def engagement(self, **fields) -> EngagementEvent:
        event = EngagementEvent.model_validate(fields)
        self.publish(event)
        return event

    def payment(self, **fields) -> PaymentEvent:
        event = PaymentEvent.model_validate(fields)
        self.publish(event)
        return event

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for delivery; returns how many are still undelivered."""
        return self.producer.flush(timeout)
