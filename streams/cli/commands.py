"""The project's own commands on the `loyalty` CLI, beside Faust's (`loyalty worker`, ...)."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import click
from confluent_kafka import Consumer, KafkaError
from faust.cli import argument, option

from core import LoyaltyEngine, load_catalog
from sim import population
from schemas import jsonschema
from streams.cli import inspect
from streams.cli.progress import ProgressBar, render_performance, render_report
from streams.kafka.admin import ensure_topics
from streams.app import app, settings
from streams.kafka.publisher import EventPublisher


@app.command()
async def create_topics(self) -> None:
    """Create the project's topics with LOYALTY_PARTITIONS partitions (safe to repeat)."""
    for line in ensure_topics(settings):
        self.say(line)


@app.command(
    argument("source", default="-", required=False),
    option("--topic", type=click.Choice(["purchases", "engagements", "payments"]), default=None,
           help="The events' topic (JSONL lines may instead be envelopes {topic, key, value})."),
    option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default=None,
           help="Default: from the file name (.csv is CSV), else JSONL."),
)
async def publish(self, source: str, topic: str | None, fmt: str | None) -> None:
    """Publish POS events from a JSONL or CSV file (or - for stdin): every line is validated first,
    bad lines are reported with their number and error and skipped; exits 1 if any line was bad."""
    from streams.cli import ingest

    fmt = fmt or ("csv" if source.endswith(".csv") else "jsonl")
    if fmt == "csv" and topic is None:
        raise click.UsageError("CSV needs --topic")
    lines, total = ingest.open_lines(source)
    rows = ingest.read_csv(lines, topic) if fmt == "csv" else ingest.read_jsonl(lines, topic)
    ensure_topics(settings)
    publisher = EventPublisher(settings)
    bar = ProgressBar(total, file=sys.stderr) if total else None
    published, bad = Counter(), []
    for line in rows:
        if line.error is not None:
            bad.append(line)
            print(f"line {line.number}: {line.error}", file=sys.stderr)
        else:
            publisher.publish(line.event)
            published[line.topic] += 1
        if bar is not None:
            bar.update(line.number)
    if bar is not None:
        bar.close()
    left = publisher.flush()
    if left or publisher.failed:
        raise SystemExit(f"publish: {left} undelivered, {len(publisher.failed)} failed: {publisher.failed[:3]}")
    print(f"published {sum(published.values())} events {dict(published)}; {len(bad)} bad lines")
    if bad:
        raise SystemExit(f"publish: {len(bad)} bad line(s), first: line {bad[0].number}: {bad[0].error}")


@app.command(
    argument("catalog_file", type=click.Path(exists=True, dir_okay=False), required=False),
)
async def catalog_load(self, catalog_file: str | None) -> None:
    """Publish the offers and campaigns of CATALOG_FILE (default: LOYALTY_CATALOG_FILE or the packaged
    catalog) to the compacted offers and campaigns topics, which every worker follows."""
    from streams.kafka.catalog import publish_catalog

    ensure_topics(settings)
    catalog = load_catalog(catalog_file or settings.catalog_file)
    count = publish_catalog(settings, catalog)
    self.say(f"catalog-load: {len(catalog.offers)} offers and {len(catalog.campaigns)} campaigns "
             f"({count} records) -> {settings.topic('offers')}, {settings.topic('campaigns')}")


@app.command(
    argument("action", type=click.Choice(["export", "check"])),
    argument("directory", default="docs/schemas", required=False),
)
async def schemas(self, action: str, directory: str) -> None:
    """export: write one JSON Schema per topic into DIRECTORY; check: fail if they are stale."""
    if action == "export":
        for path in jsonschema.export(directory):
            self.say(f"wrote {path}")
        return
    stale = jsonschema.stale(directory)
    if stale:
        raise SystemExit(f"stale or missing in {directory}: {', '.join(stale)} (run: loyalty schemas export {directory})")
    self.say(f"{directory}: every topic schema is current")


@app.command(
    option("--population", "population_kind", type=click.Choice(["loyalty", "btyd"]), default="loyalty", show_default=True,
           help="loyalty: shoppers with engagement, payments and offer responses (JSONL events). btyd: purchases "
                "only, drawn from BG/NBD and Gamma-Gamma at CDNOW's published parameters (a CSV of transactions, "
                "for `loyalty backtest`; --truth keeps the parameters, the oracle's)."),
    option("--customers", type=int, default=1000, show_default=True, help="How many customers."),
    option("--days", type=int, default=90, show_default=True, help="How many days of event time."),
    option("--seed", type=int, default=7, show_default=True, help="Same seed, same events."),
    option("--events", "limit", type=int, default=0, help="Stop after this many events (0: all of them)."),
    option("--out", type=click.Path(dir_okay=False), default=None, help="Write the events to this JSONL file."),
    option("--truth", type=click.Path(dir_okay=False), default=None, help="Write the customers' ground truth here."),
    option("--publish/--no-publish", default=False, show_default=True, help="Publish the events to Kafka."),
    option("--rate", type=float, default=500.0, show_default=True, help="Events per second when publishing (0: max)."),
    option("--duration", type=float, default=0.0, help="Stop after this many seconds (0: when the events run out)."),
)
async def simulate(self, population_kind, customers, days, seed, limit, out, truth, publish, rate, duration) -> None:
    """Simulate a customer population: write its events to a file and/or publish them to Kafka."""
    if not out and not publish:
        raise click.UsageError("say where the events go: --out FILE and/or --publish")
    if population_kind == "btyd":
        if publish or not out:
            raise click.UsageError("--population btyd writes a transaction CSV: give --out FILE (no --publish)")
        from sim import btyd

        traits, history = btyd.generate(customers=customers, days=days, seed=seed)
        btyd.write_csv(history, out)
        if truth:
            btyd.write_truth(traits, truth, seed=seed, days=days)
        self.say(f"simulate: {len(history)} purchases of {customers} customers (BG/NBD and Gamma-Gamma) written to {out}")
        return
    truths, events = population.generate(customers=customers, days=days, seed=seed)
    if limit:
        events = itertools.islice(events, limit)
    publisher = None
    if publish:
        ensure_topics(settings)
        publisher = EventPublisher(settings)
    sink = open(out, "w", encoding="utf-8") if out else None  # noqa: SIM115 - closed below
    started, counts = time.monotonic(), Counter()
    try:
        for n, event in enumerate(events, start=1):
            topic = population.topic_of(event)
            counts[topic] += 1
            if sink is not None:
                sink.write(population.envelope(event) + "\n")
            if publisher is not None:
                publisher.publish(event)
                if rate > 0 and (ahead := n / rate - (time.monotonic() - started)) > 0:
                    time.sleep(ahead)
            if n % 5000 == 0:
                self.say(f"simulate: {n} events ({n / max(time.monotonic() - started, 1e-6):.0f}/s)")
            if duration and time.monotonic() - started >= duration:
                break
    finally:
        if sink is not None:
            sink.close()
    if truth:
        population.write_truth(truths, truth, seed=seed, days=days, events=sum(counts.values()))
    if publisher is not None:
        left = publisher.flush()
        if left or publisher.failed:
            raise SystemExit(f"simulate: {left} undelivered, {len(publisher.failed)} failed: {publisher.failed[:3]}")
    where = " and ".join(filter(None, [out and f"written to {out}", publish and f"published (prefix {settings.topic_prefix!r})"]))
    self.say(f"simulate: {sum(counts.values())} events of {customers} customers {dict(counts)} {where}")


# Replay and backtest: score as workers that follow a learner's versions do.
VERSION_EVERY = option(
    "--version-every", type=click.IntRange(min=1), default=None,
    help="Score as workers following a learner do (LOYALTY_MODELS_FROM=learners): a new model version "
         "every N examples, learned inline (default: the worker learns as it goes).")


@app.command(
    argument("events_file", type=click.Path(exists=True, dir_okay=False)),
    option("--out", "out_dir", type=click.Path(file_okay=False), default="replay-out", show_default=True,
           help="Folder for outputs.jsonl, scores.jsonl, served.jsonl and metrics.json."),
    option("--partitions", type=int, default=1, show_default=True,
           help="Partitions of the live topics whose order this file records."),
    VERSION_EVERY,
)
async def replay(self, events_file: str, out_dir: str, partitions: int, version_every: int | None) -> None:
    """Drive the live pipeline's core over a JSONL event file, in file order, without Kafka or Redis."""
    # Replay runs its own event loop; Faust's is already running here, so it gets a thread.
    counts, customers, report, offers = await asyncio.to_thread(_replay, events_file, Path(out_dir), partitions,
                                                                version_every)
    print(render_report(report))
    print(render_performance(offers))
    self.say(
        f"replay: {counts.records} records, {counts.processed} processed, {counts.dead_lettered} dead-lettered, "
        f"{counts.assignments} offers, {customers} customers -> {out_dir}/"
    )


@app.command(
    argument("history", type=click.Path(exists=True, dir_okay=False)),
    option("--cutoff", required=True, help="Replay what is before this date (or time); judge what comes after."),
    option("--horizon", default="182", show_default=True,
           help="Days after the cutoff: the churn window and the lifetime-value horizon. Several, comma-separated "
                "(30,90,182): one replay, a table each, the same models answering over each horizon."),
    option("--propensity-days", type=float, default=14.0, show_default=True, help="The propensity window, days."),
    option("--learn-window-days", type=click.FloatRange(min=1.0), default=None,
           help="Labels resolve over at most this many days (the worker's LOYALTY_LEARN_WINDOW_DAYS; default 30)."),
    option("--out", "out_file", type=click.Path(dir_okay=False), default="backtest.json", show_default=True,
           help="Where the figures go as JSON."),
    option("--no-baselines", is_flag=True, default=False, help="Only our models (no pymc-marketing fit)."),
    option("--intervals", type=click.IntRange(min=0), default=200, show_default=True,
           help="Bootstrap resamples for the 95% intervals of our figures minus BG/NBD's (0: no intervals)."),
    option("--truth", type=click.Path(exists=True, dir_okay=False), default=None,
           help="The truth file of `loyalty simulate --population btyd`: adds the oracle (BG/NBD and Gamma-Gamma "
                "at the parameters the history was drawn from)."),
    option("--id-col", default=None, help="The customer id column (default: customer_id, id, ...)."),
    option("--time-col", default=None, help="The date or time column (default: date, time, occurred_at, ...)."),
    option("--amount-col", default=None, help="The amount column (default: amount, total, dollar_value, ...)."),
    option("--quantity-col", default=None, help="The quantity column, if any (default: quantity, qty, ...)."),
    VERSION_EVERY,
)
async def backtest(self, history: str, cutoff: str, horizon: str, propensity_days: float, learn_window_days,
                   out_file: str, no_baselines: bool, intervals: int, truth, id_col, time_col, amount_col,
                   quantity_col, version_every) -> None:
    """Our models against recency, frequency and BG/NBD + Gamma-Gamma on a purchase history: replay what is
    before the cutoff through the worker's core, score every customer as of the cutoff, judge by what followed."""
    from sim import backtest as bt

    try:
        horizons = _horizons(horizon)
        at = bt.parse_time(cutoff)
        left_out: dict[str, int] = {}
        transactions = bt.read_transactions(history, id_col=id_col, time_col=time_col, amount_col=amount_col,
                                            quantity_col=quantity_col, left_out=left_out)
        for reason, rows in left_out.items():
            self.say(f"backtest: {rows} rows with {reason} left out")
        oracle = None
        if truth:
            from sim import btyd

            oracle = btyd.read_truth(truth)
    except (bt.BacktestError, ValueError, KeyError) as error:
        raise SystemExit(f"backtest: {error}") from None
    bar: list[ProgressBar] = []

    def say(line: str) -> None:  # a step after the replay: its bar is done
        if bar:
            bar[0].close()
        print(line, file=sys.stderr, flush=True)

    try:
        results = await asyncio.to_thread(
            bt.backtests, transactions, at, horizons, propensity_days, not no_baselines,
            lambda done: bar[0].update(done), lambda n: bar.append(ProgressBar(n, file=sys.stderr, description="replay")),
            oracle, version_every, learn_window_days, intervals, say,
        )
    except bt.BacktestError as error:  # the history cannot answer what was asked (a horizon past its end, ...)
        raise SystemExit(f"backtest: {error}") from None
    finally:
        if bar:
            bar[0].close()
    for result in results:  # what the reader passed over, by reason (`read_transactions`)
        result["data"]["left_out"] = left_out
    # One horizon: its dict, as before; several: {"horizons": [one dict per horizon]}.
    bt.write_json(results[0] if len(results) == 1 else {"horizons": results}, out_file)
    print("\n\n".join(bt.render(result) for result in results))
    self.say(f"backtest: figures written to {out_file}")


def _horizons(text: str) -> list[float]:
    """`--horizon`'s days: one number or several, comma-separated, distinct and positive."""
    try:
        days = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--horizon takes days, one or comma-separated (30,90,182), not {text!r}") from None
    if any(not (d > 0) or d == float("inf") for d in days) or len(set(days)) != len(days):
        raise ValueError(f"--horizon's days must be distinct positive numbers, not {text!r}")
    return days


def _replay(events_file: str, out: Path, partitions: int, version_every: int | None = None):
    from core.replay import Replay

    out.mkdir(parents=True, exist_ok=True)
    engine = LoyaltyEngine(load_catalog(settings.catalog_file), config=settings.engine_config())
    with open(events_file, "rb") as lines:
        total = sum(1 for line in lines if line.strip())
    with open(out / "outputs.jsonl", "w", encoding="utf-8") as outputs:
        def emit(topic, key, value):
            outputs.write(json.dumps({"topic": topic, "key": key.decode() if key else None,
                                      "value": value.model_dump(mode="json")}) + "\n")

        run = Replay(engine, partitions=partitions, emit=emit, policy=settings.contact_policy(),
                     version_every=version_every)
        bar = ProgressBar(total, file=sys.stderr)
        counts = run.run(population.read_jsonl(events_file), progress=bar.update)
        run.finish()
        bar.close()
    with open(out / "scores.jsonl", "w", encoding="utf-8") as scores:
        for profile in run.final_scores():
            scores.write(profile.model_dump_json() + "\n")
    with open(out / "served.jsonl", "w", encoding="utf-8") as served:
        for customer_id in sorted(run.served):
            served.write(json.dumps({"customer_id": customer_id, **run.served[customer_id]}) + "\n")
    report = engine.models.report()
    summary = {"records": counts.records, "processed": counts.processed, "dead_lettered": counts.dead_lettered,
               "assignments": counts.assignments, "customers": len(run.states), "examples_learned":
               counts.examples_learned, "watermark": engine.watermark, "models": report,
               "model_versions": None if run.learner is None else run.learner.version,
               "offers": engine.models.performance.report()}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    return counts, len(run.states), report, summary["offers"]


@app.command(
    option("--customers", type=int, default=1000, show_default=True),
    option("--days", type=int, default=240, show_default=True),
    option("--seed", type=int, default=7, show_default=True),
)
async def evaluate_nbo(self, customers: int, days: int, seed: int) -> None:
    """Closed loop on a simulated population: next best offer's redemption rate against a random pick."""
    from sim.evaluate import closed_loop

    for policy in ("nbo", "random"):
        result = await asyncio.to_thread(closed_loop, policy, customers=customers, days=days, seed=seed)
        per = ", ".join(f"{c} {a}/{r / max(a, 1):.3f}" for c, (a, r) in sorted(result.by_campaign.items()))
        print(f"{policy:<7} offers {result.assigned:>6}  redeemed {result.redeemed:>6}  "
              f"rate {result.redemption_rate:.4f}   ({per})")


@app.command(
    option("--from-snapshot/--fresh", default=False, show_default=True,
           help="Check the worker's models from their signed Redis snapshot instead of freshly warmed ones."),
)
async def model_check(self, from_snapshot: bool) -> None:
    """Run every model on a sample customer and validate its output; exit 1 on any failure."""
    from sim.modelcheck import check_models, sample_customer
    from streams.redis.snapshots import ModelSnapshots

    engine = LoyaltyEngine(load_catalog(settings.catalog_file), config=settings.engine_config())
    if from_snapshot:
        store = ModelSnapshots(settings.redis_url, settings.app_id, settings.snapshot_keys())
        watermark = engine.watermark
        restored = await store.restore(engine)
        await store.close()
        if not restored:
            raise SystemExit(f"model-check: no usable snapshot ({store.status})")
        state = await asyncio.to_thread(sample_customer, LoyaltyEngine(engine.catalog, config=engine.config))
        engine.watermark = max(engine.watermark, watermark, state.last_purchase_at or 0.0)
    else:
        state = await asyncio.to_thread(sample_customer, engine)
    results = check_models(engine, state)
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.model:<18} {r.detail}")
    failed = [r.model for r in results if not r.ok]
    if failed:
        raise SystemExit(f"model-check: {len(failed)} failed: {', '.join(failed)}")
    self.say(f"model-check: all {len(results)} checks passed on customer {state.customer_id}")


@app.command(
    option("--models", "model_names", default="", help="Comma-separated models to learn (default: all)."),
    option("--from-beginning", is_flag=True, default=False,
           help="Ignore the published versions: learn the whole labels topic into fresh models."),
    option("--until-end", is_flag=True, default=False,
           help="Stop at the labels topic's current end (default: follow it until Ctrl-C)."),
    option("--every-examples", type=click.IntRange(min=1), default=1000, show_default=True,
           help="Publish a version after this many new examples..."),
    option("--every-seconds", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
           help="...or this long after the first unpublished one."),
    option("--timeout", type=float, default=600.0, show_default=True,
           help="Seconds to reach the topic's end (with --until-end)."),
)
async def learner(self, model_names: str, from_beginning: bool, until_end: bool, every_examples: int,
                  every_seconds: float, timeout: float) -> None:
    """Learn the models from the labels topic, each example once, in order; publish versions to `models`.

    It resumes from its latest published version unless --from-beginning. At the end it prints its
    report as JSON.
    """
    import signal
    import threading

    def say(line: str) -> None:  # progress on stderr: stdout is the JSON report
        print(line, file=sys.stderr, flush=True)

    from core.learner import Cadence
    from models.snapshot import SnapshotRejected
    from streams.kafka.learning import LabelsLearner, resume_or_start

    suite = LoyaltyEngine(load_catalog(settings.catalog_file), config=settings.engine_config()).models
    names = tuple(n.strip() for n in model_names.split(",") if n.strip())
    unknown = sorted(set(names) - set(suite.learners))
    if unknown:
        raise click.BadParameter(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(suite.learners))}",
                                 param_hint="--models")
    ensure_topics(settings)
    keys = settings.snapshot_keys()
    try:
        learn = await asyncio.to_thread(resume_or_start, settings, suite, names or None, from_beginning, timeout, say)
        run = LabelsLearner(settings, learn, Cadence(every_examples, every_seconds), keys[0], say=say)
        stop = threading.Event()
        if not until_end:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            say(f"learner {learn.name}: following {settings.topic('labels')}; Ctrl-C to stop")
        read = await asyncio.to_thread(run.run, until_end, timeout, stop)
    except (LookupError, TimeoutError, SnapshotRejected, RuntimeError) as error:
        raise SystemExit(f"learner: {error}") from None
    print(json.dumps({"records_read": read, "versions_published": len(run.published), **learn.report()}, indent=2))


@app.command(option("--json", "as_json", is_flag=True, default=False, help="Print the rows as JSON."))
async def topics(self, as_json: bool) -> None:
    """Every project topic's partitions, end offsets and the worker group's (LOYALTY_APP_ID) lag."""
    rows = await asyncio.to_thread(inspect.topic_overview, settings)
    print(json.dumps(rows, indent=2) if as_json else inspect.render_overview(rows))


@app.command(
    option("--topic", default="offer-assignments", show_default=True, help="Base topic name (prefix is added)."),
    option("--from-beginning/--from-end", default=True, show_default=True),
    option("--max", "max_records", type=int, default=0, help="Stop after this many records (0: no limit)."),
    option("--idle-timeout", type=float, default=0.0, help="Stop after this many seconds without a record (0: never)."),
    option("--follow", is_flag=True, default=False, help="Keep waiting for records until Ctrl-C (ignores --idle-timeout)."),
    option("--key", default=None, help="Only records with this key."),
    option("--customer", default=None, help="Only records whose value has this customer_id."),
    option("--format", "fmt", type=click.Choice(["json", "summary", "table"]), default="summary", show_default=True),
)
async def tail(self, topic: str, from_beginning: bool, max_records: int, idle_timeout: float, follow: bool,
               key: str | None, customer: str | None, fmt: str) -> None:
    """Print a project topic's records, decoded by its schema (failures marked), as JSON, summary or table."""
    name, idle = settings.topic(topic), 0.0 if follow else idle_timeout
    consumer = _tail_consumer(name, from_beginning)
    if fmt == "table":
        print(inspect.TABLE_HEADER, flush=True)
    shown = read = 0
    try:
        for message in _messages(consumer, idle, self):
            record, read = inspect.record_of(message, topic), read + 1
            if inspect.matches(record, key=key, customer=customer):
                shown += 1
                print(inspect.render_record(record, fmt), flush=True)
            if max_records and shown >= max_records:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    filtered = f" ({read} read, filtered)" if key is not None or customer is not None else ""
    self.say(f"tail: {shown} records from {name}{filtered}")


def _tail_consumer(name: str, from_beginning: bool) -> Consumer:
    consumer = Consumer({
        **settings.kafka_client_config(),
        "group.id": f"loyalty-tail-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([name])
    return consumer


def _messages(consumer: Consumer, idle_timeout: float, command):
    """The consumer's records until `idle_timeout` seconds pass without one (0: forever)."""
    last = time.monotonic()
    while True:
        message = consumer.poll(0.5)
        if message is None:
            if idle_timeout and time.monotonic() - last > idle_timeout:
                return
            continue
        if message.error():
            if message.error().code() != KafkaError._PARTITION_EOF:
                command.say(f"tail: {message.error()}", file=sys.stderr)
            continue
        last = time.monotonic()
        yield message
