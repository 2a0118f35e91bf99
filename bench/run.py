"""The benchmark: the project's worker against a naive agent, a no-op ceiling and the peer framework.

One run, one machine, one pre-loaded set of simulator events on the real broker:

  A  worker       the project's worker (`loyalty worker`), all models and decisions on
  B  faust-naive  a textbook Faust agent driving the same core one event at a time
  C  faust-noop   a Faust agent that only consumes (and raw-confluent, a plain consume loop)
  D  quix         Quix Streams driving the same core per event (its own virtualenv)

then, for A alone: end-to-end latency at a fixed offered load, two workers sharing
four partitions, and the state each customer costs. Results go to
`bench/results/<stamp>.json` and `.md`; the exit status is non-zero when a target
is missed. Run it with `bench/run` (it starts the services and the peer's venv).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import EngineConfig, LoyaltyEngine, load_catalog, statecodec  # noqa: E402
from sim import population  # noqa: E402
from core.limits import ContactPolicy  # noqa: E402
from core.partitioning import partition_of  # noqa: E402
from core.replay import Replay  # noqa: E402
from schemas import LineItem, PurchaseEvent  # noqa: E402
from streams.kafka.admin import delete_topics, ensure_topics  # noqa: E402
from streams.redis.scores import delete_namespace  # noqa: E402
from streams.settings import Settings  # noqa: E402

BENCH = ROOT / "bench"
QUIX_PYTHON = BENCH / ".venv-quix" / "bin" / "python"
SOURCES = ("purchases", "engagements", "payments")
# Issue 18's A: a worker that scores with the learners' versions and sends its labels, learning nothing.
SCORER_ENV = {"LOYALTY_MODELS_FROM": "learners"}
# Every topic prefix and app id (a Faust app names its own topics after it) this run
# makes: their topics are deleted at the end unless --keep-topics.
MADE: list[str] = []


def made(name: str) -> str:
    prefix = name if name.endswith("-") else f"{name}-"
    if prefix not in MADE:  # an app id and its topic prefix are one name: deleted once
        MADE.append(prefix)
    return name

TARGETS = {
    "a_over_b": 3.0,          # A at least 3x the naive agent
    "a_over_c": 0.5,          # A at least half the no-op Faust agent
    "latency_p99_ms": 50.0,   # event to assignment at the fixed load
    "state_bytes": 2048.0,    # per customer
    "million_rss_bytes": 1.5 * 2**30,
    "replay_records_per_s": 1_500,
    "review_over_purchase": 0.25,          # a silent customer's review against a purchase (issue 17)
    "dashboard_first_render_ms": 1_000.0,  # the page's figures drawn, 20 campaigns and ten models
    "dashboard_throughput": 0.95,          # the worker's rate with the page open, over without
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- data
def simulate(customers: int, days: int, seed: int, limit: int) -> list[tuple[str, bytes, bytes]]:
    _, events = population.generate(customers=customers, days=days, seed=seed)
    records = []
    for event in events:
        records.append((population.topic_of(event), event.customer_id.encode(), event.model_dump_json().encode()))
        if limit and len(records) >= limit:
            break
    return records


def preload(settings: Settings, records, rate: float = 0.0, stamp_now: bool = False) -> None:
    """Publish `records` to the prefixed topics (murmur2, keyed by customer); at `rate`/s if given.

    With `stamp_now`, each event's `occurred_at` is set to the moment it is sent, as a
    point of sale publishes a purchase as it happens.
    """
    ensure_topics(settings)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "partitioner": "murmur2_random",
                         "linger.ms": 1 if rate else 20, "enable.idempotence": True,
                         "queue.buffering.max.messages": 500_000})
    if stamp_now:
        # Connected, with its producer id, before the first stamp: a point of sale's
        # publisher is long connected when a purchase happens.
        producer.list_topics(timeout=10)
        producer.poll(0.5)
    # Paced, this process is the fleet of points of sale: a full collection of its heap
    # (the records alone are tens of thousands of objects) stalled it for up to 70 ms,
    # and the events due meanwhile then went out as one burst. What the loop allocates
    # is freed by reference counting, so the cyclic collector rests until the end.
    collecting = gc.isenabled()
    if rate:
        gc.disable()
    try:
        started = time.monotonic()
        for i, (topic, key, value) in enumerate(records):
            if rate:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if stamp_now:
                value = restamp(value, time.time())
            while True:
                try:
                    producer.produce(settings.topic(topic), key=key, value=value)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
    finally:
        if collecting:
            gc.enable()
    if producer.flush(60):
        raise RuntimeError("could not deliver every benchmark event")


def event_time(value: bytes) -> float:
    return datetime.fromisoformat(json.loads(value)["occurred_at"]).timestamp()


def restamp(value: bytes, at: float) -> bytes:
    """The same event, as if it had happened at `at` (epoch seconds)."""
    event = json.loads(value)
    event["occurred_at"] = datetime.fromtimestamp(at, tz=timezone.utc).isoformat(timespec="microseconds")
    return json.dumps(event, separators=(",", ":")).encode()


def shifted(records, end: float) -> list:
    """`records` moved in event time so that the last one happened at `end`; gaps kept."""
    delta = end - event_time(records[-1][2])
    return [(topic, key, restamp(value, event_time(value) + delta)) for topic, key, value in records]


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_script(name: str, command: list[str], timeout: float) -> dict:
    """A variant script: its one JSON line on stdout is its result."""
    log(f"{name}: {' '.join(Path(c).name if c.startswith('/') else c for c in command[:2])} ...")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{BENCH}"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1])
    log(f"{name}: {result['rate']:,.0f} events/s")
    return result


class Worker:
    """A `loyalty worker` subprocess, watched through its health endpoint."""

    def __init__(self, settings: Settings, workdir: Path, port: int, env: dict[str, str] | None = None,
                 command: list[str] | None = None) -> None:
        self.settings, self.workdir, self.port = settings, workdir, port
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = (workdir / "worker.log").open("ab")
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "streams.cli", "worker", "-l", "warn"],
            cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
                 "REDIS_URL": settings.redis_url, "LOYALTY_APP_ID": settings.app_id,
                 "LOYALTY_TOPIC_PREFIX": settings.topic_prefix, "LOYALTY_PARTITIONS": str(settings.partitions),
                 "LOYALTY_WEB_PORT": str(port), "LOYALTY_DATA_DIR": str(workdir / "data"),
                 "PYTHONPATH": str(ROOT), **(env or {})},
        )

    def health(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/loyalty/v1/health/", timeout=5) as answer:
            return json.loads(answer.read())

    def counters(self) -> dict:
        try:
            return self.health()["counters"]
        except OSError:
            return {}

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}; see {self.workdir}/worker.log")
            try:
                if self.health()["ready"]:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready in {timeout} s; see {self.workdir}/worker.log")

    def stop(self) -> int:
        """Stop it; returns its peak resident memory."""
        if self.process.poll() is not None:
            return 0
        rss = peak_rss(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return rss


def handled(counters: dict) -> int:
    """Records handled for the first time: a record that comes again after partitions moved
    (at-least-once), and that the customer's state had applied already, is not counted twice."""
    return sum(counters.get("handled", {}).values()) - sum(counters.get("redelivered", {}).values())


def wait_handled(workers: list[Worker], expect: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while time.monotonic() < deadline:
        states = [w.counters() for w in workers]
        total = sum(handled(c) for c in states)
        if total >= expect:
            return states
        if time.monotonic() - last_report > 5:
            log(f"  handled {total:,}/{expect:,}")
            last_report = time.monotonic()
        for w in workers:
            if w.process.poll() is not None:
                raise RuntimeError(f"worker exited with {w.process.returncode}; see {w.workdir}/worker.log")
        time.sleep(0.1)
    raise TimeoutError(f"workers handled {sum(handled(w.counters()) for w in workers)} of {expect} in {timeout} s")


def run_workers(name: str, base: Settings, app_id: str, workers: int, expect: int, workdir: Path,
                port: int, env: dict[str, str] | None = None, timeout: float = 900.0, on_ready=None) -> dict:
    settings = base.model_copy(update={"app_id": app_id})
    log(f"{name}: {workers} worker(s) of the project ...")
    started = [Worker(settings, workdir / f"{app_id}-{i}", port + i, env) for i in range(workers)]
    try:
        for w in started:
            w.wait_ready()
        if on_ready is not None:
            on_ready(started[0].port)
        states = wait_handled(started, expect, timeout)
    finally:
        rss = [w.stop() for w in started]
    first = min(c["first_handled_at"] for c in states if c.get("first_handled_at"))
    last = max(c["last_handled_at"] for c in states if c.get("last_handled_at"))
    total = sum(handled(c) for c in states)
    seconds = max(last - first, 1e-9)
    result = {
        "variant": name, "events": total, "seconds": round(seconds, 3), "rate": round(total / seconds, 1),
        "peak_rss_bytes": max(rss), "workers": [
            {"handled": handled(c), "redelivered": sum(c.get("redelivered", {}).values()),
             "processed": sum(c["processed"].values()),
             "dead_lettered": c["dead_lettered_total"], "assignments": c["assignments_out"],
             "labels": c.get("labels_out", 0)} for c in states],
    }
    log(f"{name}: {result['rate']:,.0f} events/s")
    return result


def learner_run(settings: Settings, timeout: float = 900.0) -> dict:
    """`loyalty learner --until-end` from fresh models over the labels the steps before sent: examples/s."""
    from core import LoyaltyEngine, load_catalog
    from core.learner import Cadence, Learner
    from streams.kafka.learning import LabelsLearner

    log("learner: the labels topic, from the beginning, into fresh models ...")
    learner = Learner(LoyaltyEngine(load_catalog(), config=settings.engine_config()).models)
    run = LabelsLearner(settings, learner, Cadence(every_examples=10 ** 9, every_seconds=10 ** 9),
                        settings.snapshot_keys()[0])
    started = time.perf_counter()
    read = run.run(until_end=True, timeout=timeout)
    seconds = max(time.perf_counter() - started, 1e-9)
    result = {"records": read, "seconds": round(seconds, 2), "rate": round(read / seconds, 1),
              "per_model": {m: round(n / seconds, 1) for m, n in sorted(learner.learned.items())}}
    log(f"learner: {result['rate']:,.0f} examples/s")
    return result


# ---------------------------------------------------------------------------- reading topics
def read_all(settings: Settings, topic: str, idle: float = 3.0, timeout: float = 120.0) -> list:
    """Every record of a topic, from the beginning to its current end."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"bench-read-{time.time()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    partitions = [TopicPartition(topic, p, 0) for p in metadata.partitions]
    ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in partitions}
    consumer.assign(partitions)
    records, done = [], {p for p, end in ends.items() if end == 0}
    deadline = time.monotonic() + timeout
    while len(done) < len(ends) and time.monotonic() < deadline:
        for message in consumer.consume(5000, timeout=0.5):
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    done.add(message.partition())
                continue
            records.append(message)
            if message.offset() + 1 >= ends[message.partition()]:
                done.add(message.partition())
    consumer.close()
    return records


def state_sizes(settings: Settings, app_id: str) -> dict:
    """Bytes per customer in the customers table: the latest changelog record of each key."""
    latest: dict[bytes, int] = {}
    for message in read_all(settings, f"{app_id}-customers-changelog"):
        latest[message.key()] = len(message.value() or b"")
    sizes = sorted(latest.values())
    if not sizes:
        return {"customers": 0}
    return {"customers": len(sizes), "mean_bytes": round(statistics.fmean(sizes), 1),
            "median_bytes": sizes[len(sizes) // 2], "p99_bytes": sizes[int(len(sizes) * 0.99)],
            "max_bytes": sizes[-1]}


# ---------------------------------------------------------------------------- runs
def latency_run(base: Settings, records, rate: float, seconds: float, workdir: Path, port: int,
                live: bool = True, workers: int = 1, scorers: bool = False) -> dict:
    """A fixed offered load into a running worker: how long from an event to its assignment.

    `live` (the target): the worker first takes the first part of the history at full
    speed, moved in event time to end now, so its models and customers are warm; then
    the rest comes at `rate`, each event stamped with the moment it is sent, as points
    of sale publish them. Latency is the event's own `occurred_at` to the assignment
    record's timestamp.

    Not `live` (a stress figure): the compressed history itself at `rate`, about two
    days of event time per second, so label windows close and silent customers fall due
    for review thousands of times faster than in real time. Event times are then weeks
    in the past; latency is the event record's timestamp to the assignment record's.

    With `workers` > 1, that many worker processes share the partitions. With `scorers`, they
    are issue 18's A: `LOYALTY_MODELS_FROM=learners`, scoring and sending labels, learning nothing.
    """
    stamp = f"{int(time.time())}"
    name = ("live" if live else "history") + ("" if workers == 1 else f"-{workers}w") + ("-scorers" if scorers else "")
    settings = base.model_copy(update={"app_id": made(f"bench-lat-{name}-{stamp}"),
                                       "topic_prefix": made(f"bench-lat-{name}-{stamp}-")})
    ensure_topics(settings)
    count = min(int(rate * seconds), len(records) // 2 if live else len(records))
    offered = records[len(records) - count:] if live else records[:count]
    env = SCORER_ENV if scorers else None
    started = [Worker(settings, workdir / f"{settings.app_id}-{i}", port + i, env) for i in range(workers)]
    try:
        for worker in started:
            worker.wait_ready()
        warm = 0
        if live:
            history = shifted(records[:len(records) - count], end=time.time())
            warm = len(history)
            log(f"latency ({name}): {warm:,} events of history first, at full speed ...")
            preload(settings, history)
            wait_handled(started, warm, timeout=600)
        log(f"latency ({name}): {count:,} events at {rate:,.0f}/s into the running worker ...")
        preload(settings, offered, rate=rate, stamp_now=live)
        wait_handled(started, warm + count, timeout=seconds + 120)
        counters = [worker.counters() for worker in started]
    finally:
        rss = max(worker.stop() for worker in started)
    measured = {json.loads(value)["event_id"] for _, _, value in offered}
    sources = {}
    for topic in SOURCES:
        for message in read_all(settings, settings.topic(topic)):
            event_id = json.loads(message.value())["event_id"]
            if event_id in measured:
                sources[event_id] = event_time(message.value()) * 1000 if live else message.timestamp()[1]
    latencies = []
    for message in read_all(settings, settings.topic("offer-assignments")):
        trigger = json.loads(message.value())["trigger_event_id"]
        if trigger in sources:  # sweep offers have no triggering record
            latencies.append(round(message.timestamp()[1] - sources[trigger], 1))
    latencies.sort()
    if not latencies:
        raise RuntimeError(f"the {name} latency run produced no assignments")
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    result = {"mode": name, "workers": workers, "scorers": scorers, "offered_rate": rate, "events": count, "warm_events": warm,
              "assignments": len(latencies), "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": latencies[-1],
              "peak_rss_bytes": rss, "handled": sum(handled(c) for c in counters)}
    log(f"latency ({name}): p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms")
    return result


def million_run(base: Settings, records, customers: int, events: int, workdir: Path, port: int) -> dict:
    """A worker on the RocksDB store holding `customers` customers, then taking `events` more records.

    Processing a million simulator events would take this machine a quarter of an hour,
    so the store is filled the way a restarted worker meets it: the customers' states are
    written to the table's changelog topic (realistic states from a replay of the simulator,
    cloned under new ids), the worker rebuilds its RocksDB store from it and indexes every
    customer's deadlines, then processes `events` purchases of customers drawn from all of
    them. Peak memory covers all of it.
    """
    stamp = f"{int(time.time())}"
    settings = base.model_copy(update={"app_id": made(f"bench-m-{stamp}"), "topic_prefix": made(f"bench-m-{stamp}-")})
    ensure_topics(settings)
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    replay = Replay(engine, partitions=settings.partitions, policy=ContactPolicy(max_offers=3, window_days=7))
    replay.run(records)
    templates = [s for s in replay.states.values() if s.purchase_count]
    changelog = f"{settings.app_id}-customers-changelog"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for future in admin.create_topics([NewTopic(changelog, num_partitions=settings.partitions, replication_factor=1,
                                                config={"cleanup.policy": "compact"})]).values():
        future.result()
    log(f"million: writing {customers:,} customer states ({len(templates):,} replayed templates) to {changelog} ...")
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 50,
                         "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000})
    blobs = [(t.customer_id, statecodec.encode(t)) for t in templates]
    written = 0
    for i in range(customers):
        template_id, blob = blobs[i % len(blobs)]
        customer_id = f"m{i:07d}"
        value = blob.replace(f'"c":"{template_id}"'.encode(), f'"c":"{customer_id}"'.encode(), 1)
        while True:
            try:
                producer.produce(changelog, key=customer_id.encode(), value=value,
                                 partition=partition_of(customer_id, settings.partitions))
                break
            except BufferError:
                producer.poll(0.05)
        written += len(value)
        if (i + 1) % 200_000 == 0:
            log(f"  {i + 1:,} states written")
    if producer.flush(120):
        raise RuntimeError("could not write the million states")
    log(f"million: {written / 2**20:,.0f} MiB of state; starting a worker on rocksdb:// ...")
    worker = Worker(settings, workdir / settings.app_id, port, env={"LOYALTY_STORE": "rocksdb://"})
    started = time.monotonic()
    try:
        worker.wait_ready(timeout=1800)
        ready_seconds = time.monotonic() - started
        indexed = worker.health()["customers_indexed"]
        log(f"million: ready in {ready_seconds:,.0f} s with {indexed:,} customers indexed; {events:,} purchases ...")
        rng = random.Random(5)
        at = max(s.last_purchase_at or 0.0 for s in templates) + 3600.0
        purchases = []
        for n in range(events):
            customer_id = f"m{rng.randrange(customers):07d}"
            event = PurchaseEvent(
                event_id=f"m-{n}", customer_id=customer_id, store_id="store-1",
                occurred_at=datetime.fromtimestamp(at + 10.0 * n, tz=timezone.utc),
                items=[LineItem(sku="SKU-1", category="grocery", quantity=1, unit_price=25.0)], total=25.0)
            purchases.append(("purchases", customer_id.encode(), event.model_dump_json().encode()))
        preload(settings, purchases)
        wait_handled([worker], events, timeout=1800)
        counters = worker.counters()
    finally:
        rss = worker.stop()
    store = sum(f.stat().st_size for f in (workdir / settings.app_id / "data").rglob("*") if f.is_file())
    result = {"customers": customers, "customers_indexed": indexed, "state_mib_written": round(written / 2**20),
              "ready_seconds": round(ready_seconds, 1), "events": events, "handled": handled(counters),
              "processed": sum(counters.get("processed", {}).values()), "peak_rss_bytes": rss,
              "store_bytes": store}
    log(f"million: peak memory {mib(rss)}, store {mib(store)}")
    return result


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else 0.0


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def latency_figures(lat: dict) -> str:
    return f"{lat['assignments']:,} assignments): p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms."


def markdown(report: dict) -> str:
    v = report["variants"]
    lines = [
        f"Benchmark of {report['date']} on {report['machine']} ({report['events']:,} simulator events, "
        f"{report['customers']:,} customers, 4 partitions; Kafka and Redis on the same machine).",
        "",
        "| variant | what | events/s | peak memory |",
        "|---|---|---:|---:|",
    ]
    what = {"worker": "A: the project's worker", "faust-naive": "B: textbook Faust agent, same core",
            "faust-noop": "C: Faust agent, no-op", "raw-confluent": "C: raw confluent-kafka loop",
            "quix": "D: Quix Streams, same core", "scale-out": "A with two workers",
            "scorer": "A, learners apart: scores and sends labels"}
    for name, result in v.items():
        lines.append(f"| {name} | {what.get(name, name)} | {result['rate']:,.0f} | {mib(result['peak_rss_bytes'])} |")
    r, st = report["ratios"], report["state"]
    shown = {"A/B": ("a_over_b", "faust-naive"), "A/C": ("a_over_c", "faust-noop"), "A/D": ("a_over_d", "quix")}
    lines += ["", ", ".join(f"{label} {r[key]}" for label, (key, name) in shown.items() if name in v) + "."]
    if "learner" in report:
        ln = report["learner"]
        lines.append(f"With the learners apart, the scorer runs at {r['scorer_over_a']} times A (scorer/C "
                     f"{r['scorer_over_c']}) and sends {ln['scorer_labels_per_s']:,.0f} labels/s; one learner "
                     f"takes {ln['rate']:,.0f} examples/s (" + ", ".join(
                         f"{m} {n:,.0f}" for m, n in ln["per_model"].items()) + ").")
    if "latency" in report:
        lat = report["latency"]
        workers = lat.get("workers", 1)
        lines.append(f"Latency at {lat['offered_rate']:,.0f} events/s, live"
                     f"{'' if workers == 1 else f' with {workers} workers'} (after {lat['warm_events']:,} events of "
                     f"history; event time to assignment record, {latency_figures(lat)}")
    if "latency_history" in report:
        lat = report["latency_history"]
        lines.append(f"Stress, not a target: the compressed history at {lat['offered_rate']:,.0f} events/s (about two "
                     f"days of event time per second; event record to assignment record, {latency_figures(lat)}")
    if "dashboard" in report:
        d = report["dashboard"]
        lines.append(f"Dashboard: the page drew its figures {d['page']['first_render_ms']:,} ms after navigation "
                     f"(median of {d['page']['tries']}; {d['page']['campaigns']} campaigns, {d['page']['models']} "
                     f"models); the worker's rate with the page open in chromium was {d['with_over_without']} of "
                     f"without (with {d['rates_with']}, without {d['rates_without']} events/s).")
    if st.get("customers"):
        lines.append(f"State per customer: mean {st['mean_bytes']:,} bytes, median {st['median_bytes']:,}, "
                     f"p99 {st['p99_bytes']:,} ({st['customers']:,} customers).")
    for row in report.get("replay_scale", ()):
        lines.append(f"Replay (pure core), {row['customers']:,} customers: {row['records']:,} purchases at "
                     f"{row['records_per_s']:,} records/s ({row['sweep_visits']:,} sweep visits, {row['reviews']:,} of "
                     f"them reviews; a visit {row['us_per_visit']:,} us and a review {row['us_per_review']:,} us, "
                     f"{row['visit_over_purchase']} and {row['review_over_purchase']} of a purchase's "
                     f"{row['us_per_purchase']:,} us).")
    if "million" in report:
        m = report["million"]
        lines.append(f"{m['customers']:,} customers in the RocksDB store ({m['state_mib_written']:,} MiB of state, "
                     f"rebuilt from the changelog and indexed in {m['ready_seconds']:,} s, then {m['handled']:,} "
                     f"purchases): worker peak memory {mib(m['peak_rss_bytes'])}, store on disk {mib(m['store_bytes'])}.")
    lines += ["", "Targets: " + ("all met." if not report["missed"] else "MISSED: " + "; ".join(report["missed"]))]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--events", type=int, default=60_000, help="Cap on the pre-loaded events (0: all).")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--latency-rate", type=float, default=1000.0)
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--latency-workers", type=int, default=1,
                        help="Worker processes sharing the partitions in the live latency run.")
    parser.add_argument("--latency-scorers", action="store_true",
                        help="The live latency run's workers score with the learners apart (LOYALTY_MODELS_FROM=learners).")
    parser.add_argument("--million", type=int, default=1_000_000, help="Customers in the RocksDB memory step.")
    parser.add_argument("--million-events", type=int, default=5_000, help="Purchases the million-customer worker takes.")
    parser.add_argument("--skip", default="",
                        help="Comma-separated steps to skip: raw, quix, naive, scorer, dashboard, latency, stress, "
                             "scale-out, replay-scale, million.")
    parser.add_argument("--replay-customers", default="10000,50000,200000",
                        help="Customer counts of the replay-scale step.")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--port", type=int, default=17100)
    parser.add_argument("--keep-topics", action="store_true",
                        help="Leave this run's topics on the broker and its keys in Redis.")
    args = parser.parse_args()
    if not 1 <= args.latency_workers <= 4:
        parser.error("--latency-workers must be 1 to 4 (the topics have 4 partitions)")
    skip = set(filter(None, args.skip.split(",")))

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = Settings(topic_prefix=made(f"bench-{stamp.lower()}-"), partitions=4)
    try:
        return measure(args, skip, stamp, base)
    finally:
        if args.keep_topics:
            log(f"topics kept (prefixes {', '.join(MADE)})")
        else:
            gone, keys = clean_up(base)
            log(f"deleted this run's {len(gone)} topics and {keys:,} Redis keys (--keep-topics keeps them)")


def clean_up(base: Settings) -> tuple[list[str], int]:
    """Delete the topics and Redis keys of every name `made` gave out: (topics, keys deleted)."""
    gone = delete_topics(base.kafka_client_config(), MADE)
    return gone, sum(delete_namespace(base.redis_url, name.rstrip("-")) for name in MADE)


def measure(args, skip: set[str], stamp: str, base: Settings) -> int:
    workdir = ROOT / ".run" / "bench" / stamp
    log(f"simulating {args.customers:,} customers over {args.days} days ...")
    records = simulate(args.customers, args.days, args.seed, args.events)
    n = len(records)
    log(f"pre-loading {n:,} events {dict(Counter(t for t, _, _ in records))} ...")
    preload(base, records)

    common = ["--bootstrap", base.kafka_bootstrap_servers, "--prefix", base.topic_prefix, "--expect", str(n)]
    python = sys.executable
    variants: dict[str, dict] = {}
    if "raw" not in skip:
        variants["raw-confluent"] = run_script(
            "raw-confluent", [python, str(BENCH / "raw_consume.py"), *common, "--group", made(f"bench-raw-{stamp}")],
            timeout=600)
    variants["faust-noop"] = run_script("faust-noop", [python, str(BENCH / "noop_faust.py"), *common,
                                        "--group", made(f"bench-noop-{stamp}"), "--data-dir", str(workdir / "noop")],
                                        timeout=600)
    variants["worker"] = run_workers("worker", base, made(f"bench-a-{stamp}"), 1, n, workdir, args.port)
    if "naive" not in skip:
        variants["faust-naive"] = run_script(
            "faust-naive", [python, str(BENCH / "naive_faust.py"), *common, "--group", made(f"bench-naive-{stamp}"),
                            "--redis", base.redis_url, "--data-dir", str(workdir / "naive")], timeout=1800)
    if "quix" not in skip:
        if QUIX_PYTHON.exists():
            variants["quix"] = run_script(
                "quix", [str(QUIX_PYTHON), str(BENCH / "peer_quix.py"), *common, "--group", made(f"bench-quix-{stamp}"),
                         "--redis", base.redis_url, "--state-dir", str(workdir / "quix")], timeout=1800)
        else:
            log("quix: no bench/.venv-quix (run bench/setup-quix); skipped")
    if "scorer" not in skip:  # A with the learners apart: it sends its labels and learns nothing
        variants["scorer"] = run_workers("scorer", base, made(f"bench-sc-{stamp}"), 1, n, workdir, args.port + 40,
                                         env=SCORER_ENV)
    if "scale-out" not in skip:
        variants["scale-out"] = run_workers("scale-out", base, made(f"bench-s-{stamp}"), 2, n, workdir, args.port + 10)

    a = variants["worker"]["rate"]
    report = {
        "date": stamp, "machine": f"{os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, Python {platform.python_version()}",
        "events": n, "customers": args.customers, "variants": variants,
        "ratios": {
            "a_over_b": ratio(a, variants.get("faust-naive", {}).get("rate", 0)),
            "a_over_c": ratio(a, variants["faust-noop"]["rate"]),
            "a_over_c_raw": ratio(a, variants.get("raw-confluent", {}).get("rate", 0)),
            "a_over_d": ratio(a, variants.get("quix", {}).get("rate", 0)),
        },
        "state": state_sizes(base, f"bench-a-{stamp}"),
    }
    if "scorer" in variants:
        scorer = variants["scorer"]
        report["ratios"]["scorer_over_c"] = ratio(scorer["rate"], variants["faust-noop"]["rate"])
        report["ratios"]["scorer_over_a"] = ratio(scorer["rate"], a)
        report["learner"] = learner_run(base)
        report["learner"]["scorer_labels_per_s"] = round(sum(w["labels"] for w in scorer["workers"])
                                                         / scorer["seconds"], 1)
    if "latency" not in skip:
        report["latency"] = latency_run(base, records, args.latency_rate, args.latency_seconds, workdir,
                                        args.port + 20, live=True, workers=args.latency_workers,
                                        scorers=args.latency_scorers)
    if "stress" not in skip:
        report["latency_history"] = latency_run(base, records, args.latency_rate, args.latency_seconds, workdir,
                                                args.port + 25, live=False)

    if "replay-scale" not in skip:
        # Pure core, no Kafka: replay records/s at growing customer counts, same purchases per customer.
        from bench.replay_scale import measure as replay_measure

        report["replay_scale"] = []
        for customers in (int(c) for c in args.replay_customers.split(",")):
            log(f"replay-scale: {customers:,} customers ...")
            report["replay_scale"].append(replay_measure(customers))
    if "million" not in skip:
        report["million"] = million_run(base, records[:30_000], args.million, args.million_events, workdir,
                                        args.port + 30)
    if "dashboard" not in skip:  # last: it publishes a 20-campaign catalog to the shared catalog topics
        from bench.dashboard_load import measure as dashboard_measure

        report["dashboard"] = dashboard_measure(run_workers, Worker, base, stamp, n, workdir, args.port + 50, made, log)

    missed = []
    r = report["ratios"]
    if "faust-naive" in variants and r["a_over_b"] < TARGETS["a_over_b"]:
        missed.append(f"A/B {r['a_over_b']} < {TARGETS['a_over_b']}")
    if r["a_over_c"] < TARGETS["a_over_c"]:
        missed.append(f"A/C {r['a_over_c']} < {TARGETS['a_over_c']}")
    if "latency" in report and report["latency"]["p99_ms"] > TARGETS["latency_p99_ms"]:
        missed.append(f"p99 latency {report['latency']['p99_ms']} ms > {TARGETS['latency_p99_ms']} ms")
    if report["state"].get("mean_bytes", 0) > TARGETS["state_bytes"]:
        missed.append(f"state {report['state']['mean_bytes']} bytes/customer > {TARGETS['state_bytes']:.0f}")
    if "million" in report:
        m = report["million"]
        if m["peak_rss_bytes"] > TARGETS["million_rss_bytes"]:
            missed.append(f"million customers: peak memory {mib(m['peak_rss_bytes'])} > {mib(TARGETS['million_rss_bytes'])}")
        if m["customers_indexed"] < m["customers"] or m["handled"] < m["events"]:
            missed.append(f"million customers: {m['customers_indexed']:,} indexed, {m['handled']:,} handled")
    for row in report.get("replay_scale", ()):
        if row["customers"] <= 25_000 and row["records_per_s"] < TARGETS["replay_records_per_s"]:
            missed.append(f"replay of {row['customers']:,} customers {row['records_per_s']:,} records/s "
                          f"< {TARGETS['replay_records_per_s']:,}")
        if row["review_over_purchase"] > TARGETS["review_over_purchase"]:
            missed.append(f"replay of {row['customers']:,} customers: a review costs {row['review_over_purchase']} "
                          f"of a purchase > {TARGETS['review_over_purchase']}")
    if "dashboard" in report:
        d = report["dashboard"]
        if d["page"]["first_render_ms"] > TARGETS["dashboard_first_render_ms"]:
            missed.append(f"dashboard first render {d['page']['first_render_ms']} ms > "
                          f"{TARGETS['dashboard_first_render_ms']:.0f} ms")
        if d["with_over_without"] < TARGETS["dashboard_throughput"]:
            missed.append(f"throughput with the dashboard open {d['with_over_without']} < "
                          f"{TARGETS['dashboard_throughput']} of without")
    if "scale-out" in variants:
        shares = [w["handled"] for w in variants["scale-out"]["workers"]]
        if min(shares) == 0 or sum(shares) != n:
            missed.append(f"scale-out shares {shares} (of {n})")
    report["missed"] = missed

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    table = markdown(report)
    (args.out / f"{stamp}.md").write_text(table)
    print(table)
    log(f"results in {args.out}/{stamp}.json and .md")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
