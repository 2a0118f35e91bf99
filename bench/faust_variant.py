"""What the Faust benchmark variants share: their command line, a finish line, the report.

A variant is a Faust app of its own (its own app id and consumer group) over the
three pre-loaded customer topics. It counts records from the first one it sees;
at the Nth it prints one JSON line to stdout and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import faust

TOPICS = ("purchases", "engagements", "payments")


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--redis", default="redis://127.0.0.1:16379/0")
    parser.add_argument("--data-dir", default=".run/bench")
    parser.add_argument("--partitions", type=int, default=4)
    return parser.parse_args()


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
        **options,
    )


def raw_topic(app: faust.App, name: str, partitions: int):
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                     partitions=partitions)


def peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class FinishLine:
    """Counts records; at `expect` prints the variant's JSON line and ends the process."""

    def __init__(self, variant: str, expect: int, **extra) -> None:
        self.variant = variant
        self.expect = expect
        self.extra = extra
        self.count = 0
        self.first_at: float | None = None

    def add(self, n: int = 1) -> None:
        if self.first_at is None:
            self.first_at = time.time()
        self.count += n
        if self.count >= self.expect:
            self.finish()

    def finish(self) -> None:
        last_at = time.time()
        seconds = max(last_at - (self.first_at or last_at), 1e-9)
        line = {"variant": self.variant, "events": self.count, "seconds": round(seconds, 3),
                "rate": round(self.count / seconds, 1), "first_at": self.first_at, "last_at": last_at,
                "peak_rss_bytes": peak_rss_bytes(), **self.extra}
        os.write(1, (json.dumps(line) + "\n").encode())  # fd 1: Faust wraps sys.stdout in its logger
        os._exit(0)  # the measurement is taken; Faust's orderly shutdown would only add noise


def run(app: faust.App) -> None:
    sys.argv = [sys.argv[0], "worker", "-l", "warn", "--without-web"]
    app.main()
