"""Creating the project's topics up front, with the partition count co-partitioning needs."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from schemas import CONTRACTS
from streams.settings import Settings

# Base names of the topics the worker reads or writes, all with `settings.partitions`.
# `ticks` carries nothing but a partition number: the sweep timer's way to run each
# partition's sweep with a current event of that partition (table writes need one).
PROJECT_TOPICS = (*(c.name for c in CONTRACTS if c.kafka), "ticks")
# The largest model version a learner may publish (`models` topic and its producer): models plus the ids it remembers.
MODEL_VERSION_BYTES = 8 * 1024 * 1024


class TopicMismatch(RuntimeError):
    """An existing topic has another partition count than the settings say."""


def source_topics(settings: Settings) -> list[str]:
    """The vendor topics of the configured data-source mappings (with the topic prefix)."""
    if not settings.sources_dir:
        return []
    from sources.mapping import load_mappings

    return [settings.topic(m.topic) for m in load_mappings(settings.sources_dir)]


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create missing topics; refuse project topics whose partition count breaks co-partitioning.

    The catalog topics (offers, campaigns) are compacted with one partition.
    Vendor source topics are created when missing but any partition count is
    accepted: their agents hold no state and re-key every record by customer.
    """
    admin = AdminClient(settings.kafka_client_config())
    metadata = admin.list_topics(timeout=timeout)
    report, missing = [], []
    compacted = {settings.topic(c.name) for c in CONTRACTS if c.compacted}
    topic_config = {settings.topic("models"): {"max.message.bytes": str(MODEL_VERSION_BYTES)}}
    project = [settings.topic(base) for base in PROJECT_TOPICS]
    for name in project + source_topics(settings):
        existing = metadata.topics.get(name)
        if existing is None or existing.error is not None:
            if name in compacted:
                missing.append(NewTopic(name, num_partitions=1, replication_factor=1,
                                        config={"cleanup.policy": "compact", **topic_config.get(name, {})}))
            else:
                missing.append(NewTopic(name, num_partitions=settings.partitions, replication_factor=1))
            continue
        count = len(existing.partitions)
        if name in project and name not in compacted and count != settings.partitions:
            raise TopicMismatch(
                f"topic {name} has {count} partitions but LOYALTY_PARTITIONS is {settings.partitions}: "
                "customer-keyed topics and tables must have the same count"
            )
        report.append(f"{name}: exists ({count} partitions)")
    for topic, future in admin.create_topics(missing, operation_timeout=timeout).items() if missing else ():
        try:
            future.result()
            parts = 1 if topic in compacted else settings.partitions
            report.append(f"{topic}: created ({parts} partition{'s' if parts > 1 else ''}{', compacted' if topic in compacted else ''})")
        except KafkaException as error:
            if error.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
            report.append(f"{topic}: exists")
    return report


def delete_topics(client_config: dict, prefixes: list[str], timeout: float = 30.0) -> list[str]:
    """Delete every topic whose name starts with one of `prefixes`; return the names asked for.

    For throwaway runs (tests, benchmarks) that make their own prefixed topics:
    left behind, thousands of partitions make every broker start-up slow. The
    broker removes the data in the background; a topic already gone is no error.
    """
    wanted = tuple(p for p in prefixes if p)
    if not wanted:
        return []
    admin = AdminClient(client_config)
    names = sorted(t for t in admin.list_topics(timeout=timeout).topics if t.startswith(wanted))
    if not names:
        return []
    for topic, future in admin.delete_topics(names, operation_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as error:
            if error.args[0].name() != "UNKNOWN_TOPIC_OR_PART":
                raise
    return names
