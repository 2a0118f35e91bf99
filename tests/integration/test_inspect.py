"""`loyalty topics` and `loyalty tail` against the real broker and a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from streams.kafka.admin import ensure_topics
from streams.cli.inspect import topic_overview
from streams.kafka.publisher import EventPublisher
from tests.unit.factories import purchase

pytestmark = pytest.mark.integration


def loyalty(settings, *args, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "LOYALTY_APP_ID": settings.app_id, "LOYALTY_TOPIC_PREFIX": settings.topic_prefix}
    result = subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def publish(settings, customers: list[str], first: int = 0) -> None:
    publisher = EventPublisher(settings)
    for n, customer in enumerate(customers, start=first):
        publisher.publish(purchase(customer, day=n, n=n))
    assert publisher.flush() == 0 and not publisher.failed


def purchases_row(settings, rows: list[dict]) -> dict:
    return next(r for r in rows if r["name"] == settings.topic("purchases"))


def wait_for_commit(settings, timeout: float = 30.0) -> None:
    """The worker commits its offsets every few seconds, after it handled the records."""
    deadline = time.monotonic() + timeout
    while purchases_row(settings, topic_overview(settings))["lag_total"] and time.monotonic() < deadline:
        time.sleep(0.5)


def test_topics_shows_end_offsets_and_lag_and_tail_filters_by_customer(settings, start_worker, tmp_path):
    ensure_topics(settings)
    first = ["c-1", "c-2", "c-1", "c-3", "c-1"]
    publish(settings, first)
    worker = start_worker()
    worker.wait_for(lambda h: sum(h["counters"]["handled"].values()) == len(first), what="5 purchases handled")
    wait_for_commit(settings)

    rows = json.loads(loyalty(settings, "topics", "--json", cwd=tmp_path).stdout)
    assert {r["name"] for r in rows} >= {settings.topic(t) for t in ("purchases", "decisions", "offers", "ticks")}
    row = purchases_row(settings, rows)
    assert row["group"] == settings.app_id and row["partitions"] == settings.partitions
    assert row["end_total"] == sum(row["end_offsets"]) == len(first)
    assert row["lag"] == [0] * settings.partitions and row["lag_total"] == 0
    # The worker committed wherever it read something; empty partitions may have no commit yet.
    assert all(c == e if e else c in (None, 0) for c, e in zip(row["committed"], row["end_offsets"]))
    assert row["lag_from"] in ("committed", "mixed")

    worker.stop()  # nobody consumes what follows: it is lag
    publish(settings, ["c-1", "c-2"], first=len(first))
    table = loyalty(settings, "topics", cwd=tmp_path).stdout
    assert f"consumer group: {settings.app_id}" in table
    row = purchases_row(settings, json.loads(loyalty(settings, "topics", "--json", cwd=tmp_path).stdout))
    assert (row["end_total"], row["lag_total"]) == (7, 2)
    line = next(t for t in table.splitlines() if t.startswith(settings.topic("purchases") + " "))
    assert line.split()[1:4] == [str(settings.partitions), "7", "2"]

    out = loyalty(settings, "tail", "--topic", "purchases", "--customer", "c-1", "--format", "json",
                  "--idle-timeout", "2", cwd=tmp_path).stdout
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(records) == 4 and all(r["key"] == "c-1" and r["value"]["customer_id"] == "c-1" for r in records)
    assert all("invalid" not in r for r in records)
    assert f"tail: 4 records from {settings.topic('purchases')} (7 read, filtered)" in out
