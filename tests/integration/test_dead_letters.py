"""10,000 random and mutated payloads: every one processed or dead-lettered, none lost, none fatal."""

from __future__ import annotations

import base64
import time
from collections import Counter

import pytest

from schemas import DeadLetter
from streams.kafka.publisher import EventPublisher
from tests import fuzz
from tests.integration.conftest import read_topic
from tests.unit.factories import purchase

pytestmark = pytest.mark.integration

COUNT = 10_000


def test_every_payload_is_processed_or_dead_lettered(settings, start_worker):
    worker = start_worker()
    publisher = EventPublisher(settings, **{"linger.ms": 20, "message.max.bytes": 2_000_000})
    sent = Counter()
    started = time.monotonic()
    for topic, key, value in fuzz.payloads(seed=2026, count=COUNT):
        publisher.publish_raw(settings.topic(topic), key, value)
        sent[settings.topic(topic)] += 1
    # Poison beyond the generator: a record without a value, and a near-1 MB one.
    publisher.publish_raw(settings.topic("purchases"), b"fz-big", b"{" + b" " * 900_000)
    publisher.producer.produce(settings.topic("purchases"), key=b"fz-null", value=None)
    sent[settings.topic("purchases")] += 2
    # A valid purchase last: if the agent had died on the way, this would never be processed.
    publisher.publish(purchase("fz-canary", day=0, total=10, n=1))
    sent[settings.topic("purchases")] += 1
    assert publisher.flush(60) == 0 and not publisher.failed

    def all_in(health: dict) -> bool:
        return all(health["counters"]["events_in"].get(t, 0) == n for t, n in sent.items())

    health = worker.wait_for(all_in, timeout=240, what=f"all {sum(sent.values())} records consumed")
    elapsed = time.monotonic() - started
    counters = health["counters"]
    for topic, n in sent.items():
        processed = counters["processed"].get(topic, 0)
        dead = counters["dead_lettered"].get(topic, 0)
        assert processed + dead == n, f"{topic}: {processed} processed + {dead} dead-lettered != {n} in"
        assert processed > 0 and dead > 0
    assert worker.process.poll() is None, "the worker died"
    assert health["ready"]

    letters = read_topic(settings, "dead-letters", expect=counters["dead_lettered_total"], idle=2.0, timeout=120)
    assert len(letters) == counters["dead_lettered_total"]
    decoded = [DeadLetter.model_validate_json(r.value()) for r in letters]
    assert len({d.dead_letter_id for d in decoded}) == len(decoded)
    assert all(d.error for d in decoded)
    null = next(d for d in decoded if d.key_base64 == base64.b64encode(b"fz-null").decode())
    assert null.value_base64 is None and "no value" in null.error
    big = next(d for d in decoded if d.value_size > 800_000)
    assert big.value_truncated and "too large" in big.error

    offers = read_topic(settings, "offer-assignments", expect=1, idle=1.0)
    assert any(r.value().find(b'"customer_id":"fz-canary"') >= 0 for r in offers)
    print(
        f"\nfuzz: {sum(sent.values())} records in, "
        f"{sum(counters['processed'].values())} processed, {counters['dead_lettered_total']} dead-lettered, "
        f"{len(offers)} offers, {elapsed:.1f} s"
    )
