"""What the non-Faust benchmark variants share: command line, finish line, watchdog.

Standard library only: imported both from the main venv (raw_consume.py) and from
bench/.venv-quix (peer_quix.py). A variant counts records from the first one it
consumes; at the Nth it prints ONE JSON line to stdout and ends the process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

TOPICS = ("purchases", "engagements", "payments")
# Run (best effort) before the process ends through `FinishLine.finish` or `fail`, which skip atexit.
AT_EXIT: list = []


def arguments(description: str, **extra: dict) -> argparse.Namespace:
    """The variant contract's options; `extra` adds options as name -> add_argument keywords."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True, help="Kafka HOST:PORT")
    parser.add_argument("--prefix", required=True, help="prefix of the purchases, engagements, payments topics")
    parser.add_argument("--expect", type=int, required=True, help="records to consume before reporting")
    parser.add_argument("--group", required=True, help="a fresh consumer group")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="fail when no record arrives for this many seconds (default 300)")
    for name, options in extra.items():
        parser.add_argument(name, **options)
    args = parser.parse_args()
    if args.expect < 1:
        parser.error("--expect must be >= 1")
    return args


def topics(prefix: str) -> list[str]:
    return [f"{prefix}{t}" for t in TOPICS]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = 1) -> None:
    """Report on stderr and end the process at once (from any thread)."""
    say(f"error: {message}")
    exit_now(code)


def exit_now(code: int) -> None:
    for cleanup in AT_EXIT:
        try:
            cleanup()
        except Exception as error:  # noqa: BLE001 - exiting anyway
            say(f"cleanup failed: {error}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class FinishLine:
    """Counts records; at `expect` prints the variant's JSON line and ends the process.

    Also the watchdog: `watch()` starts a thread that fails the run when no record was
    counted for `timeout` seconds (before the first one: since the start).
    """

    def __init__(self, variant: str, expect: int, timeout: float, **extra) -> None:
        self.variant = variant
        self.expect = expect
        self.timeout = timeout
        self.extra = extra
        self.count = 0
        self.first_at: float | None = None
        self.progress_at = time.monotonic()

    def add(self, n: int = 1) -> None:
        """Count `n` records (a batch is cut at `expect`)."""
        if self.first_at is None:
            self.first_at = time.time()
        self.count = min(self.count + n, self.expect)
        self.progress_at = time.monotonic()
        if self.count >= self.expect:
            self.finish()

    def finish(self) -> None:
        last_at = time.time()
        seconds = max(last_at - (self.first_at or last_at), 1e-9)
        line = {"variant": self.variant, "events": self.count, "seconds": round(seconds, 3),
                "rate": round(self.count / seconds, 1), "first_at": self.first_at, "last_at": last_at,
                "peak_rss_bytes": peak_rss_bytes(), **self.extra}
        os.write(1, (json.dumps(line) + "\n").encode())  # fd 1: Faust wraps sys.stdout in its logger
        exit_now(0)  # the measurement is taken; an orderly shutdown would only add noise

    def watch(self, every: float = 10.0) -> None:
        def run() -> None:
            while True:
                time.sleep(min(every, self.timeout / 4))
                idle = time.monotonic() - self.progress_at
                if idle > self.timeout:
                    where = "no record arrived" if self.first_at is None else f"stalled at {self.count}/{self.expect}"
                    fail(f"{self.variant}: {where} within {self.timeout:.0f}s")
                if self.first_at is not None:
                    say(f"{self.variant}: {self.count}/{self.expect} records")

        threading.Thread(target=run, name="watchdog", daemon=True).start()
