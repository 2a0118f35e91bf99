"""Reading the `labels` topic from its beginning to its end, into a `core.learner.Learner`."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from core.learner import Learner
from streams.settings import Settings


def fold_labels(settings: Settings, learner: Learner, timeout: float = 600.0) -> int:
    """Feed every record of `labels`, partition by partition in offset order, up to the end it has now.

    Returns the records read. A model's records share a key, so one partition holds them in
    the order the worker learned them. Raises `TimeoutError` if the end is not reached in time.
    """
    name = settings.topic("labels")
    consumer = Consumer({
        **settings.kafka_client_config(),
        "group.id": f"loyalty-learner-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    try:
        metadata = consumer.list_topics(name, timeout=30)
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None or not topic.partitions:
            raise LookupError(f"no topic {name}: start a worker (or run `loyalty create-topics`) first")
        partitions = sorted(topic.partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=30)[1] for p in partitions}
        todo = {p for p in partitions if ends[p] > 0}
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        read, deadline = 0, time.monotonic() + timeout
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: partitions {sorted(todo)} not read to their end in {timeout:g} s")
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() and message.error().code() != KafkaError._PARTITION_EOF:
                raise RuntimeError(f"{name}: {message.error()}")
            partition, offset = message.partition(), message.offset()
            if message.error():  # the end of what is there now: `offset` is the next one to come
                done = offset >= ends[partition]
            else:
                if offset < ends[partition]:  # records written after the fold began are the next fold's
                    learner.feed(message.value())
                    read += 1
                done = offset + 1 >= ends[partition]
            if done:
                todo.discard(partition)
        return read
    finally:
        consumer.close()
