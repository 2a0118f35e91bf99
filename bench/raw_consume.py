"""Variant raw-confluent: the ceiling. How fast can this machine merely read the records?

A plain confluent-kafka Consumer over the three customer topics, from the earliest
offset with a fresh group, pulling batches with `consume(num_messages, timeout)` and
only counting them: no decoding, no state, no outputs. Every other variant does this
much and then its work, so its rate is the most any of them can reach here.

    .venv/bin/python bench/raw_consume.py --bootstrap 127.0.0.1:19092 --prefix P --expect N --group G
"""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException

from variant_common import FinishLine, arguments, fail, say, topics

# The clock starts when the first batch is counted, so that batch's fetch is never timed: a
# small batch keeps the untimed part small (with batches of 10,000 of 30,000 records the rate
# came out ~1.7x higher).
args = arguments(__doc__, **{"--batch": {"type": int, "default": 500, "help": "records per consume() call"}})
finish = FinishLine("raw-confluent", args.expect, args.timeout, batch=args.batch)


def on_error(error) -> None:
    # librdkafka reports transient trouble (a broker down for a moment) here and retries by itself.
    say(f"raw-confluent: kafka: {error}")
    if error.fatal():
        fail(f"raw-confluent: fatal kafka error: {error}")


consumer = Consumer({
    "bootstrap.servers": args.bootstrap,
    "group.id": args.group,
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,  # nothing to keep: each run has its own group
    "error_cb": on_error,
})
consumer.subscribe(topics(args.prefix))
finish.watch()
try:
    while True:
        batch = consumer.consume(num_messages=args.batch, timeout=1.0)
        good = 0
        for message in batch:
            if message.error() is None:
                good += 1
            else:
                say(f"raw-confluent: {message.error()}")
        if good:
            finish.add(good)
except KafkaException as error:
    fail(f"raw-confluent: {error}")
except KeyboardInterrupt:
    fail(f"raw-confluent: interrupted at {finish.count}/{args.expect}", 130)
