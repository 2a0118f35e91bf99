"""Every kind of poison, published as raw bytes to a running worker: each one is dead-lettered with
its reason and its bytes, the counters show it, the next good record is processed, and a flood of
near-1 MB records leaves the worker's memory bounded.

The poison list is tests/unit/test_poison.py's, where the core refuses each one without I/O.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Producer

from schemas import DeadLetter
from schemas.deadletter import MAX_KEPT_BYTES, MAX_KEPT_KEY_BYTES
from schemas.headers import headers_for
from streams.kafka.publisher import EventPublisher, producer_config
from tests.integration.conftest import read_topic
from tests.unit.factories import purchase
from tests.unit.test_poison import GOOD_CUSTOMER, HEADER_POISON, POISON, Poison, warm_up

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NO_TICKS = {"LOYALTY_SWEEP_INTERVAL_SECONDS": "0"}

# The flood: records of ~900 KB each (under the broker's 1 MB), round-robin on the three topics.
FLOOD = 300
FLOOD_BYTES = 900_000
# Measured on this 2-core machine (loopback broker, default glibc malloc): the worker's RSS grows
# by 77-94 MiB over 300 such records and levels off there (+83 MiB after 900, +104 MiB after 1,800):
# aiokafka's fetch buffers (up to 1 MiB per partition), the batch in hand, one dead letter of about
# 350 KB at a time, and what the allocator keeps of them. Before dead letters left out the text of
# cut values, the same floods grew it by 140-186, 363 and 418 MiB, still climbing. Holding on to
# the records' bytes would be 270 MB for this flood alone.
MAX_RSS_GROWTH = 150 * 1024 * 1024

# Vendor payloads (acme-pos mapping, topic acme-pos-sales): the source agent dead-letters these.
VENDOR_POISON = [
    ("vendor-oversized", b'{"pad": "' + b"x" * 300_000 + b'"}', "source acme-pos: too large"),
    ("vendor-deep", b"[" * 50_000 + b"]" * 50_000, "source acme-pos: not JSON: nested more than 200 levels deep"),
    ("vendor-nan", b'{"txn": {"id": "A-1", "totalCents": NaN}}', "source acme-pos: not JSON: NaN and Infinity"),
    ("vendor-not-utf8", b'{"txn": {"id": "A-\xff"}}', "source acme-pos: not JSON: invalid UTF-8"),
    ("vendor-epoch-1e21", b'{"txn": {"id": "A-9", "ts": 1e21, "totalCents": 100, "currency": "EUR", "tender": '
     b'{"type": "VISA"}, "lines": []}, "member": {"loyaltyNo": "pz-vendor"}, "store": {"code": "s-1"}}',
     "source acme-pos: occurred_at (from txn.ts)"),
]
# A vendor record that maps, stamped in 2099: it reaches `purchases`, where the core refuses it.
VENDOR_FUTURE = (b'{"txn": {"id": "A-2099", "ts": 4084473600000, "totalCents": 100, "currency": "EUR", "tender": '
                 b'{"type": "VISA"}, "lines": []}, "member": {"loyaltyNo": "pz-vendor-2099"}, "store": {"code": "s-1"}}')


KAFKA_TIMESTAMP_BEYOND_9999 = 2_534_023_008_000_000  # milliseconds


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class RssSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.samples, self.stopped = pid, interval, [], threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append(rss_bytes(self.pid))
            time.sleep(self.interval)

    def stop(self) -> list[int]:
        self.stopped.set()
        self.join()
        return self.samples


def dead_letters_metric(worker) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("loyalty_dead_letters_total{"):
            labels, value = line.rsplit(" ", 1)
            out[labels.split('topic="', 1)[1].split('"', 1)[0]] = float(value)
    return out


def test_poison_is_dead_lettered_and_the_stream_goes_on(settings, start_worker):
    custom = settings.model_copy(update={"sources_dir": str(ROOT / "sources")})
    worker = start_worker(custom, env=NO_TICKS)
    publisher = EventPublisher(custom)
    raw = Producer(producer_config(custom, **{"linger.ms": 5, "enable.idempotence": False}))
    failed: list[str] = []

    def send(topic: str, key: bytes | None, value: bytes | None, headers=(), timestamp: int = 0) -> None:
        while True:
            try:
                raw.produce(topic, key=key, value=value, headers=list(headers) or None, timestamp=timestamp,
                            on_delivery=lambda error, _: error and failed.append(str(error)))
                break
            except BufferError:
                raw.poll(0.1)
        raw.poll(0)

    purchases = custom.topic("purchases")
    warm = warm_up()  # 100 good purchases: the watermark (T0) rests on enough records for the time rule
    for topic, key, value in warm:
        publisher.publish_raw(custom.topic(topic), key, value, headers_for(topic))
    assert publisher.flush() == 0
    worker.wait_for(lambda h: h["counters"]["processed"].get(purchases, 0) == len(warm), what="the warm-up")
    pid = worker.process.pid
    before = []
    for _ in range(10):  # a second of samples once the worker is idle
        before.append(rss_bytes(pid))
        time.sleep(0.1)
    baseline = max(before)
    sampler = RssSampler(pid)
    sampler.start()
    started = time.monotonic()

    sent: Counter = Counter({purchases: len(warm)})
    for poison in (*POISON, *HEADER_POISON):
        send(custom.topic(poison.topic), poison.key, poison.value, poison.headers)
        sent[custom.topic(poison.topic)] += 1
    # A Kafka timestamp in the year 82,000 (the broker takes it): the dead letter leaves it out.
    send(purchases, b"pz-kafka-timestamp", b"oops", timestamp=KAFKA_TIMESTAMP_BEYOND_9999)
    sent[purchases] += 1
    vendor_topic = custom.topic("acme-pos-sales")
    for label, value, _ in VENDOR_POISON:
        send(vendor_topic, label.encode(), value)  # vendors key by anything: here by label, to find them
    send(vendor_topic, b"store-key", VENDOR_FUTURE)
    sent[vendor_topic] += len(VENDOR_POISON) + 1
    sent[purchases] += 1  # the mapped 2099 purchase the source agent forwards
    flood_topics = [custom.topic(t) for t in ("purchases", "engagements", "payments")]
    for i in range(FLOOD):
        value = b'{"flood": %d, "pad": "' % i + b"x" * FLOOD_BYTES + b'"}'
        send(flood_topics[i % 3], f"flood-{i}".encode(), value)
        sent[flood_topics[i % 3]] += 1
    assert raw.flush(60) == 0 and not failed, failed
    publisher.publish(purchase(GOOD_CUSTOMER, day=0.5, n=2))  # the good record after all of it
    sent[purchases] += 1
    assert publisher.flush() == 0 and not publisher.failed
    published = time.monotonic() - started

    def all_in(health: dict) -> bool:
        return all(health["counters"]["events_in"].get(t, 0) == n for t, n in sent.items())

    health = worker.wait_for(all_in, timeout=120, what=f"all {sum(sent.values())} records consumed")
    # Handled (outputs delivered) as well as taken in, and a little after, to see memory settle.
    health = worker.wait_for(lambda h: h["counters"]["processed"].get(purchases, 0) == len(warm) + 1, timeout=30,
                             what="the last good purchase")
    consumed = time.monotonic() - started
    time.sleep(1.0)
    samples = sampler.stop()
    assert worker.process.poll() is None, "the worker died"
    growth = max(samples) - baseline
    print(f"\npoison: {sum(sent.values())} records ({FLOOD} of {FLOOD_BYTES:,} bytes), published in {published:.1f} s, "
          f"all consumed after {consumed:.1f} s; worker RSS {baseline / 2**20:.0f} MiB before, peak "
          f"{max(samples) / 2**20:.0f} MiB (+{growth / 2**20:.0f} MiB), {samples[-1] / 2**20:.0f} MiB after")
    print("worker RSS every 0.5 s, MiB:", [round(s / 2**20) for s in samples[::5]])

    # Counters: only the good purchases processed, everything else dead-lettered, per topic.
    counters = health["counters"]
    good = len(warm) + 1
    assert counters["processed"].get(purchases, 0) == good
    expected_dead = {t: n - (good if t == purchases else 0) - (1 if t == vendor_topic else 0) for t, n in sent.items()}
    assert counters["dead_lettered"] == expected_dead
    assert counters["processed"].get(vendor_topic) == 1  # the 2099 one maps; the core refuses it on purchases
    assert dead_letters_metric(worker) == expected_dead
    assert health["watermark"] == purchase(day=0.5).ts, "a poison record moved the watermark"

    # Every poison record is on the dead-letters topic with its reason and its (kept) bytes.
    total = sum(expected_dead.values())
    records = read_topic(custom, "dead-letters", expect=total, idle=2.0, timeout=120)
    assert len(records) == total
    letters = [DeadLetter.model_validate_json(r.value()) for r in records]
    assert all(len(r.value()) < 900_000 for r in records)
    assert all(r.key() is None or len(r.key()) <= MAX_KEPT_KEY_BYTES for r in records)

    def letter_of(poison: Poison) -> DeadLetter:
        kept_key = base64.b64encode(poison.key[:MAX_KEPT_KEY_BYTES]).decode() if poison.key is not None else None
        found = [d for d in letters if d.source_topic == custom.topic(poison.topic) and d.key_base64 == kept_key
                 and (poison.key is not None or poison.reason in d.error)]
        assert len(found) == 1, (poison.label, [d.error for d in found])
        return found[0]

    for poison in (*POISON, *HEADER_POISON):
        letter = letter_of(poison)
        assert poison.reason in letter.error and letter.error_kind == "invalid", (poison.label, letter.error)
        if poison.value is None:
            assert letter.value_base64 is None
        else:
            assert base64.b64decode(letter.value_base64) == poison.value[:MAX_KEPT_BYTES], poison.label
            assert letter.value_size == len(poison.value)
            assert letter.value_truncated == (len(poison.value) > MAX_KEPT_BYTES)
        if poison.key is not None:
            assert letter.key_size == len(poison.key) and letter.key_truncated == (len(poison.key) > MAX_KEPT_KEY_BYTES)
    near_limit = letter_of(next(p for p in POISON if p.label == "near-broker-limit-nul"))
    assert near_limit.value_truncated and near_limit.value_text is None  # NULs would take 6 bytes each as JSON text

    vendor = [d for d in letters if d.source_topic == vendor_topic]
    assert len(vendor) == len(VENDOR_POISON)
    for label, value, reason in VENDOR_POISON:
        (letter,) = [d for d in vendor if d.key_base64 == base64.b64encode(label.encode()).decode()]
        assert reason in letter.error, (label, letter.error)
        assert base64.b64decode(letter.value_base64) == value[:MAX_KEPT_BYTES]
    (future,) = [d for d in letters if d.key_base64 == base64.b64encode(b"pz-vendor-2099").decode()]
    assert future.source_topic == purchases and "days ahead of the event-time watermark" in future.error

    (stamped,) = [d for d in letters if d.key_base64 == base64.b64encode(b"pz-kafka-timestamp").decode()]
    assert "not JSON" in stamped.error and stamped.record_timestamp is None
    assert all(d.record_timestamp is not None for d in letters if d is not stamped)

    flood = [d for d in letters if d.key_base64 and base64.b64decode(d.key_base64).startswith(b"flood-")]
    assert len(flood) == FLOOD
    assert all(d.value_truncated and d.value_size > FLOOD_BYTES and "too large" in d.error for d in flood)

    assert growth < MAX_RSS_GROWTH, f"RSS grew by {growth / 2**20:.0f} MiB"
