"""The project's topics. Customer-keyed ones share one partition count (and murmur2)."""

from __future__ import annotations

from dataclasses import dataclass

from streams.app import app, settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    value: str
    customer_keyed: bool


# Base names; the settings' prefix is applied by `settings.topic`.
SPECS = (
    TopicSpec("purchases", "customer_id", "schemas.PurchaseEvent", True),
    TopicSpec("engagements", "customer_id", "schemas.EngagementEvent", True),
    TopicSpec("offer-assignments", "campaign_id", "schemas.OfferAssignment", False),
)

# Values are raw bytes: the agents decode and validate them, so a bad record is
# counted and skipped instead of failing inside Faust's deserializer.
purchases = app.topic(
    settings.topic("purchases"), key_type=bytes, value_type=bytes,
    key_serializer="raw", value_serializer="raw", partitions=settings.partitions,
)
engagements = app.topic(
    settings.topic("engagements"), key_type=bytes, value_type=bytes,
    key_serializer="raw", value_serializer="raw", partitions=settings.partitions,
)
offer_assignments = app.topic(
    settings.topic("offer-assignments"), key_type=bytes, value_type=bytes,
    key_serializer="raw", value_serializer="raw", partitions=settings.partitions,
)
