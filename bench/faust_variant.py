"""What the Faust benchmark variants share: their command line, their app, the report.

A variant is a Faust app of its own (its own app id and consumer group) over the
three pre-loaded customer topics. It counts records from the first one it sees;
at the Nth it prints one JSON line to stdout and exits (`variant_common.FinishLine`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import faust

from streams.kafka.scheduling import OldestFirst
from variant_common import TOPICS, FinishLine
from variant_common import arguments as common_arguments

__all__ = ["TOPICS", "FinishLine", "arguments", "make_app", "raw_topic", "run"]


def arguments(description: str) -> argparse.Namespace:
    return common_arguments(description, **{
        "--redis": {"default": "redis://127.0.0.1:16379/0"},
        "--data-dir": {"default": ".run/bench"},
        "--partitions": {"type": int, "default": 4},
    })


def make_app(args: argparse.Namespace, **options) -> faust.App:
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    return faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=args.data_dir,
        topic_partitions=args.partitions,
        topic_replication_factor=1,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        # The worker's order (oldest first across partitions): the naive agent then meets
        # the same event times, labels and reviews, and the no-op one the same consume path.
        ConsumerScheduler=OldestFirst,
        **options,
    )


def raw_topic(app: faust.App, name: str, partitions: int):
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                     partitions=partitions)


def run(app: faust.App) -> None:
    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()
