"""Nothing lost, nothing doubled: workers killed with SIGKILL while events flow, then a recount.

After Kafka Streams' exactly-once system test, scaled down to this machine. A driver
publishes uniquely numbered purchases, engagements and payments (and a few broken
records) at a steady rate. Meanwhile worker A is killed with SIGKILL at random
moments and restarted, and worker B runs beside it part of the time so partitions
move between them. When every input is consumed, a verifier reads the topics and
Redis back:

* per-customer state (the table's changelog) equals a linear recount of the inputs;
* the broken records are dead letters, each once after deduplication by source offset;
* consumers that deduplicate by `assignment_id` (as docs/contracts.md says) get each offer
  once, and no decision (a customer and the event that triggered it) led to two offers;
* each campaign's budget and each customer's cap in Redis equal the distinct offers
  that went out (drift 0), and no budget is exceeded;
* the models come back from their snapshot on the last restart.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict

import pytest
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from core import statecodec
from sim import population
from core.campaigns import load_catalog
from schemas.codec import decode
from schemas.offers import OfferAssignment
from streams.kafka.publisher import EventPublisher
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.integration

CUSTOMERS, DAYS, SEED = 1000, 90, 31
RATE = 300  # events per second offered while the workers are killed
KILLS = 6
BROKEN_EVERY = 500  # one broken record after every this many events
BUDGETS = {"welcome-2026": 120, "big-basket": 60, "grow-regulars": 80}
INPUTS = ("purchases", "engagements", "payments")


def _catalog(tmp_path) -> str:
    """The packaged catalog with budgets small enough to run out during the test."""
    data = json.loads(load_catalog().model_dump_json())
    for campaign in data["campaigns"]:
        if campaign["campaign_id"] in BUDGETS:
            campaign["total_budget"] = BUDGETS[campaign["campaign_id"]]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    return str(path)


def _publish(settings, events, log: list, rate: float = RATE) -> None:
    """Every event in order at `rate`, with a broken record after every `BROKEN_EVERY`."""
    publisher = EventPublisher(settings)
    started = time.monotonic()
    for i, event in enumerate(events):
        publisher.publish(event)
        if i % BROKEN_EVERY == BROKEN_EVERY - 1:
            publisher.publish_raw(settings.topic("purchases"), event.customer_id.encode(), b'{"event_id": "broken')
            log.append("broken")
        ahead = i / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    assert publisher.flush(120) == 0 and not publisher.failed


def _consumed(settings) -> bool:
    """Has the workers' group committed the end offset of every input partition?"""
    return not _behind(settings)


def _behind(settings) -> dict:
    """Input partitions whose committed offset is short of the end: `{"topic:p": [committed, end]}`."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": settings.app_id,
                         "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(settings.topic(t), p) for t in INPUTS for p in range(settings.partitions)]
        committed = consumer.committed(partitions, timeout=10)
        behind = {}
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            if tp.offset < high:
                behind[f"{tp.topic}:{tp.partition}"] = [tp.offset, high]
        return behind
    finally:
        consumer.close()


def _latest_states(settings) -> dict:
    """The last record of every customer on the table's changelog: what a restarted worker restores."""
    topic = f"{settings.app_id}-customers-changelog"
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"verify-{topic}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.partitions)])
    latest, at_end = {}, set()
    try:
        while len(at_end) < settings.partitions:
            message = consumer.poll(5.0)
            assert message is not None, f"{topic} did not reach its end"
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                at_end.add(message.partition())
                continue
            latest[message.key().decode()] = message.value()  # keys are the customer ids, as on the topics
    finally:
        consumer.close()
    return {key: statecodec.decode(value) for key, value in latest.items() if value}


def _recount(events) -> dict:
    """What every customer's state must say: counted once per event, in publishing order."""
    counts: dict[str, dict] = defaultdict(lambda: {"purchases": 0, "spend": 0.0, "engagements": 0, "payments": 0})
    for event in events:
        count = counts[event.customer_id]
        kind = population.topic_of(event)
        if kind == "purchases" and event.payment_status in ("failed", "refunded"):
            kind = "payments"  # not a purchase: a payment issue (see LoyaltyEngine.on_purchase)
        count[kind] += 1
        if kind == "purchases":
            count["spend"] = round(count["spend"] + event.total, 2)
    return counts


def test_workers_killed_at_random_lose_nothing_and_double_nothing(settings, start_worker, tmp_path):
    rng = random.Random(SEED)
    _, generated = population.generate(customers=CUSTOMERS, days=DAYS, seed=SEED)
    events = list(generated)
    custom = settings.model_copy(update={"catalog_file": _catalog(tmp_path)})
    env = {"LOYALTY_SESSION_TIMEOUT_SECONDS": "6", "LOYALTY_SNAPSHOT_INTERVAL_SECONDS": "3"}
    a = start_worker(custom, env)
    broken: list[str] = []
    driver = threading.Thread(target=_publish, args=(custom, events, broken), daemon=True)
    started = time.monotonic()
    driver.start()

    kills, b = 0, None
    while kills < KILLS or driver.is_alive():
        time.sleep(rng.uniform(3.0, 8.0))
        a.kill()
        kills += 1
        print(f"[crash] {time.monotonic() - started:5.1f} s: SIGKILL worker A ({kills})")
        if kills == 2:
            b = start_worker(custom, env)  # partitions move to B, and back when A returns
            print(f"[crash] {time.monotonic() - started:5.1f} s: worker B started")
        if kills == 4 and b is not None:
            b.kill()
            print(f"[crash] {time.monotonic() - started:5.1f} s: SIGKILL worker B")
        a.start()
    driver.join()

    deadline = time.monotonic() + 180
    while not _consumed(custom):
        assert time.monotonic() < deadline, f"inputs not consumed:\n{a.log_tail()}"
        time.sleep(1.0)
    health = a.health()
    a.stop()  # graceful: the last snapshot is saved
    a.start()
    restored = a.health()
    a.stop()

    # -- every input processed exactly once into its customer's state
    states = _latest_states(custom)
    expected = _recount(events)
    wrong = {
        customer: (count, states.get(customer))
        for customer, count in expected.items()
        if states.get(customer) is None
        or (states[customer].purchase_count, states[customer].total_spend, states[customer].engagement_count,
            sum(states[customer].payment_counts.values()))
        != (count["purchases"], count["spend"], count["engagements"], count["payments"])
    }
    processed = sum(s.purchase_count + s.engagement_count + sum(s.payment_counts.values()) for s in states.values())

    # -- broken records: dead letters, each once by its source offset
    letters = read_topic(custom, "dead-letters", expect=len(broken), idle=1.0)
    dead = {(letter["source_topic"], letter["source_partition"], letter["source_offset"])
            for letter in (json.loads(r.value()) for r in letters)}

    # -- offers: each once after deduplication by assignment id; no decision with two offers
    records = read_topic(custom, "offer-assignments", expect=1, idle=2.0)
    delivered: dict[str, OfferAssignment] = {}
    for record in records:
        offer = decode(OfferAssignment, record.value())
        delivered.setdefault(offer.assignment_id, offer)  # the consumer-side dedupe docs/contracts.md describes
    per_decision = Counter((o.customer_id, o.trigger_event_id) for o in delivered.values())
    duplicates = sum(n - 1 for n in per_decision.values() if n > 1)

    # -- budgets and caps in Redis against the offers that went out
    client = redis.Redis.from_url(custom.redis_url, decode_responses=True)
    per_campaign = Counter(o.campaign_id for o in delivered.values())
    per_cap = Counter((o.campaign_id, o.customer_id) for o in delivered.values())
    counted = {c: int(client.get(f"{custom.app_id}:limits:total:{c}") or 0) for c in per_campaign | BUDGETS}
    drift = sum(abs(counted[c] - per_campaign.get(c, 0)) for c in counted)
    drift += sum(abs(int(client.get(f"{custom.app_id}:limits:cap:{c}:{k}") or 0) - n) for (c, k), n in per_cap.items())

    summary = {
        "inputs": len(events) + len(broken), "processed": processed, "dead_lettered": len(dead),
        "assignments": len(delivered), "copies_redelivered": len(records) - len(delivered),
        "duplicates": duplicates, "budget_drift": drift, "kills": kills + (b is not None),
        "skipped_as_redelivered_by_last_worker": sum(health["counters"]["redelivered"].values()),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(f"[crash] summary: {json.dumps(summary)}")
    assert not wrong, f"{len(wrong)} customers' state differs from the recount: {sorted(wrong)[:10]}"
    assert processed == len(events) and len(dead) == len(broken)
    assert duplicates == 0 and drift == 0
    assert all(per_campaign[c] <= budget for c, budget in BUDGETS.items())
    assert any(per_campaign[c] == budget for c, budget in BUDGETS.items()), "no budget ran out: the test proves less"
    assert restored["snapshot"]["status"] == "restored" and restored["models"]["churn"]["examples_learned"] > 0
