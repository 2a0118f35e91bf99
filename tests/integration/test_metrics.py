"""GET /metrics on a real worker: Prometheus text that agrees with its health counters."""

from __future__ import annotations

import re
import time
import urllib.request

import pytest

from schemas.labels import LabeledExampleRecord
from streams.kafka.publisher import EventPublisher
from tests.integration.conftest import read_topic
from tests.unit.factories import purchase

pytestmark = pytest.mark.integration

NO_TICKS = {"LOYALTY_SWEEP_INTERVAL_SECONDS": "0"}  # nothing changes the counters after the last record

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse(text: str) -> tuple[dict, dict]:
    """Samples as {(name, frozenset of labels): value}, and {family: type} from the TYPE lines."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, labels, value = match.groups()
            pairs = frozenset(LABEL.findall(labels or ""))
            samples[(name, pairs)] = float(value)
    return samples, types


def scrape(worker) -> tuple[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


def by_label(samples: dict, name: str, label: str) -> dict:
    return {dict(labels)[label]: value for (n, labels), value in samples.items() if n == name}


def test_metrics_match_the_counters_of_the_records_handled(settings, start_worker):
    worker = start_worker(env=NO_TICKS)
    publisher = EventPublisher(settings)
    # Labels are taught at their deadline, so the customers come back after it: cust-0 churns (silent
    # 40 days) and does not buy within the propensity window, cust-1 does both; the value horizon passes.
    visits = [("cust-0", 0), ("cust-1", 0), ("cust-2", 0.5), ("cust-3", 1), ("cust-1", 10), ("cust-0", 40),
              ("cust-1", 41), ("cust-0", 100), ("cust-1", 100)]
    events = [purchase(c, day=day, n=i, total=20.0 + i) for i, (c, day) in enumerate(visits)]
    for event in events:
        publisher.publish(event)
    publisher.publish_raw(settings.topic("purchases"), b"cust-0", b"{not json")  # one for the dead letters
    assert publisher.flush() == 0 and not publisher.failed
    n = len(events) + 1
    health = worker.wait_for(lambda h: sum(h["counters"]["handled"].values()) == n, timeout=90, what=f"{n} handled")
    counters = health["counters"]
    purchases = settings.topic("purchases")

    deadline = time.monotonic() + 30
    while True:  # the lag is there once the client has seen a fetch response after the last record
        content_type, text = scrape(worker)
        samples, types = parse(text)
        lag = {(dict(l)["topic"], dict(l)["partition"]): v for (name, l), v in samples.items() if name == "loyalty_consumer_lag"}
        if any(topic == purchases for topic, _ in lag) or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert types["loyalty_events_in_total"] == "counter" and types["loyalty_record_seconds"] == "histogram"
    assert types["loyalty_redis_up"] == "gauge" and samples[("loyalty_redis_up", frozenset())] == 1.0

    assert by_label(samples, "loyalty_events_in_total", "topic") == {purchases: n} == counters["events_in"]
    assert by_label(samples, "loyalty_processed_total", "topic") == {purchases: len(events)} == counters["processed"]
    assert by_label(samples, "loyalty_dead_letters_total", "topic") == {purchases: 1} == counters["dead_lettered"]
    for name, key in [
        ("loyalty_assignments_out_total", "assignments_out"), ("loyalty_badges_out_total", "badges_out"),
        ("loyalty_labels_out_total", "labels_out"),
        ("loyalty_examples_learned_total", "examples_learned"), ("loyalty_redis_errors_total", "redis_errors"),
        ("loyalty_limits_errors_total", "limits_errors"), ("loyalty_limits_in_doubt_total", "limits_in_doubt"),
        ("loyalty_limits_in_doubt_abandoned_total", "limits_in_doubt_abandoned"),
    ]:
        assert samples[(name, frozenset())] == counters[key], name
    assert worker.health()["counters"] == counters  # nothing moved while scraping

    # One observation per record handled, buckets cumulative up to +Inf.
    assert samples[("loyalty_record_seconds_count", frozenset())] == n
    buckets = sorted(
        ((float(dict(l)["le"]), v) for (name, l), v in samples.items() if name == "loyalty_record_seconds_bucket"),
    )
    assert buckets[0][0] == 0.0005 and buckets[-2][0] == 5.0 and buckets[-1] == (float("inf"), n)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    assert 0 < samples[("loyalty_record_seconds_sum", frozenset())] < n * 5

    report = worker.get("/api/loyalty/v1/models/")["models"]
    model_samples = by_label(samples, "loyalty_model_samples", "model")
    assert {"churn", "propensity", "lifetime_value"} <= set(model_samples)
    assert model_samples == {name: r["samples"] for name, r in report.items()}
    assert set(by_label(samples, "loyalty_model_roc_auc", "model")) >= {"churn", "propensity"}
    assert "lifetime_value" in by_label(samples, "loyalty_model_mae", "model")
    assert set(by_label(samples, "loyalty_model_drift", "model").values()) <= {0.0, 1.0}
    assert by_label(samples, "loyalty_model_pending_labels", "model")["churn"] == report["churn"]["pending_labels"]

    # Every example learned went to the labels topic, keyed by its model, once.
    learned = counters["examples_learned"]
    assert counters["labels_out"] == learned > 0
    labels = [LabeledExampleRecord.model_validate_json(r.value()) for r in
              read_topic(settings, "labels", expect=learned, idle=1.0)]
    assert len(labels) == len({label.example_id for label in labels}) == learned
    assert {label.model for label in labels} >= {"churn", "propensity"}
    assert {label.label for label in labels if label.model == "churn"} == {0.0, 1.0}

    # Everything published has been taken: no lag on the purchases partitions that got records.
    assert any(topic == purchases for topic, _ in lag), f"no lag for {purchases}: {lag}"
    assert all(value == 0 for (topic, _), value in lag.items() if topic == purchases), lag
    assert {p for _, p in lag} <= {str(p) for p in range(settings.partitions)}
