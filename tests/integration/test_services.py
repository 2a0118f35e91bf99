"""The Kafka and Redis plumbing on its own, against the real servers."""

from __future__ import annotations

import time
import uuid

import pytest

from schemas.topics import CONTRACTS
from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from streams.kafka.admin import MODEL_VERSION_BYTES, TopicMismatch, delete_topics, ensure_topics
from streams.kafka.publisher import EventPublisher
from streams.redis.scores import RedisScoreStore
from tests.integration.conftest import forget, read_topic
from tests.unit.factories import purchase

pytestmark = pytest.mark.integration


def listed_topics(admin: AdminClient, until, seconds: float = 30.0) -> set[str]:
    """The topics the broker lists, asked again until `until(topics)` holds or `seconds` pass.

    A broker answers metadata from a cache that learns of created and deleted topics a
    moment after the call that made or deleted them returned.
    """
    deadline = time.monotonic() + seconds
    while True:
        topics = set(admin.list_topics(timeout=10).topics)
        if until(topics) or time.monotonic() >= deadline:
            return topics
        time.sleep(0.2)


def test_ensure_topics_creates_once_and_refuses_a_partition_mismatch(settings):
    first = ensure_topics(settings)
    compacted = {settings.topic(c.name) for c in CONTRACTS if c.compacted}
    assert compacted >= {settings.topic(name) for name in ("offers", "campaigns", "models", "performance")}
    for line in first:
        name = line.split(":")[0]
        assert line.endswith("created (1 partition, compacted)" if name in compacted else "created (4 partitions)"), line
    # model versions are larger than the broker's default record limit allows for
    resource = ConfigResource("topic", settings.topic("models"))
    admin = AdminClient(settings.kafka_client_config())
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    assert int(config["max.message.bytes"].value) == MODEL_VERSION_BYTES
    again = ensure_topics(settings)
    assert len(again) == len(first) and all(": exists (" in line for line in again)

    other = settings.model_copy(update={"topic_prefix": f"mismatch-{uuid.uuid4().hex[:8]}-"})
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(other.topic("purchases"), num_partitions=2, replication_factor=1)])[
        other.topic("purchases")
    ].result(timeout=30)
    listed_topics(admin, lambda topics: other.topic("purchases") in topics)
    with pytest.raises(TopicMismatch, match="has 2 partitions"):
        ensure_topics(other)
    forget(other)


def test_delete_topics_takes_only_the_given_prefixes(settings):
    made = {line.split(":")[0] for line in ensure_topics(settings)}
    neighbour = settings.model_copy(update={"topic_prefix": settings.topic_prefix.rstrip("-") + "x-"})
    kept = {line.split(":")[0] for line in ensure_topics(neighbour)}
    config = settings.kafka_client_config()

    assert set(delete_topics(config, [settings.topic_prefix])) == made
    left = listed_topics(AdminClient(config), lambda topics: not made & topics)
    assert not made & left and kept <= left
    assert delete_topics(config, [settings.topic_prefix]) == [] and delete_topics(config, [""]) == []
    forget(neighbour)


def test_publisher_partitions_like_the_java_client(settings):
    """Our producer must place a customer where murmur2 (Java, aiokafka, Faust) places it."""
    ensure_topics(settings)
    publisher = EventPublisher(settings)
    customers = [f"cust-{i}" for i in range(40)]
    for customer in customers:
        publisher.publish(purchase(customer))
    assert publisher.flush() == 0
    records = read_topic(settings, "purchases", expect=len(customers), idle=0.5)
    partitioner = DefaultPartitioner()
    all_partitions = list(range(settings.partitions))
    placed = {r.key().decode(): r.partition() for r in records}
    assert placed == {c: partitioner(c.encode(), all_partitions, all_partitions) for c in customers}
    assert len(set(placed.values())) == settings.partitions  # the keys spread over all partitions


async def test_redis_score_store_round_trip(services):
    store = RedisScoreStore(services.redis_url, namespace=f"test-{uuid.uuid4().hex[:8]}")
    try:
        assert await store.ping()
        await store.put_scores("c-1", {"churn_probability": 0.25, "churn_risk_band": "LOW"})
        await store.put_scores("c-1", {"churn_probability": 0.75})
        assert await store.get_scores("c-1") == {"churn_probability": "0.75", "churn_risk_band": "LOW"}
        assert await store.get_scores("c-unknown") == {}
    finally:
        await store.client.delete(store.key("c-1"))
        await store.close()


async def test_redis_score_store_put_many_merges_in_order(services):
    store = RedisScoreStore(services.redis_url, namespace=f"test-{uuid.uuid4().hex[:8]}")
    try:
        await store.put_scores("c-1", {"churn_probability": 0.25, "churn_risk_band": "LOW"})
        written = await store.put_many([
            ("c-1", {"churn_probability": 0.5, "lifetime_value": 1e-05}),
            ("c-2", {"engagement_score": 12.5, "as_of": "2026-01-01T00:00:00+00:00"}),
            ("c-1", {"churn_probability": 0.75}),  # later in the batch: it wins
            ("c-3", {}),
        ])
        assert written == 3
        assert await store.get_scores("c-1") == {"churn_probability": "0.75", "churn_risk_band": "LOW",
                                                 "lifetime_value": "1e-05"}
        assert await store.get_scores("c-2") == {"engagement_score": "12.5", "as_of": "2026-01-01T00:00:00+00:00"}
        assert await store.get_scores("c-3") == {}
        assert await store.put_many([]) == 0
    finally:
        await store.client.delete(*(store.key(c) for c in ("c-1", "c-2", "c-3")))
        await store.close()
