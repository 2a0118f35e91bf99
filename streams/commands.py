"""The project's own commands on the `loyalty` CLI, beside Faust's (`loyalty worker`, ...)."""

from __future__ import annotations

import json
import sys
import time
import uuid

import click
from confluent_kafka import Consumer, KafkaError
from faust.cli import argument, option

from core.simulator import simulate as simulated_events
from schemas import jsonschema
from streams.admin import ensure_topics
from streams.app import app, settings
from streams.publisher import EventPublisher


@app.command()
async def create_topics(self) -> None:
    """Create the project's topics with LOYALTY_PARTITIONS partitions (safe to repeat)."""
    for line in ensure_topics(settings):
        self.say(line)


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
    option("--customers", type=int, default=200, show_default=True, help="How many customers."),
    option("--events", type=int, default=2000, show_default=True, help="How many events in all."),
    option("--rate", type=float, default=500.0, show_default=True, help="Events per second (0: as fast as possible)."),
    option("--seed", type=int, default=7, show_default=True, help="Same seed, same events."),
)
async def simulate(self, customers: int, events: int, rate: float, seed: int) -> None:
    """Publish simulated POS purchases and engagements to Kafka."""
    ensure_topics(settings)
    publisher = EventPublisher(settings)
    started = time.monotonic()
    counts = {"purchase": 0, "engagement": 0}
    for n, event in enumerate(simulated_events(customers=customers, events=events, seed=seed), start=1):
        publisher.publish(event)
        counts["purchase" if hasattr(event, "total") else "engagement"] += 1
        if rate > 0:
            ahead = n / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        if n % 500 == 0 or n == events:
            self.say(f"simulate: {n}/{events} published ({n / max(time.monotonic() - started, 1e-6):.0f}/s)")
    left = publisher.flush()
    if left or publisher.failed:
        raise SystemExit(f"simulate: {left} undelivered, {len(publisher.failed)} failed: {publisher.failed[:3]}")
    self.say(
        f"simulate: delivered {publisher.delivered} events "
        f"({counts['purchase']} purchases, {counts['engagement']} engagements) "
        f"to {settings.topic('purchases')} and {settings.topic('engagements')}"
    )


@app.command(
    option("--topic", default="offer-assignments", show_default=True, help="Base topic name (prefix is added)."),
    option("--from-beginning/--from-end", default=True, show_default=True),
    option("--max", "max_records", type=int, default=0, help="Stop after this many records (0: no limit)."),
    option("--idle-timeout", type=float, default=0.0, help="Stop after this many seconds without a record (0: never)."),
    option("--format", "fmt", type=click.Choice(["json", "summary"]), default="summary", show_default=True),
)
async def tail(self, topic: str, from_beginning: bool, max_records: int, idle_timeout: float, fmt: str) -> None:
    """Print the records of a project topic as JSON lines or one summary line each."""
    name = settings.topic(topic)
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": f"loyalty-tail-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest" if from_beginning else "latest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([name])
    seen, last = 0, time.monotonic()
    try:
        while not max_records or seen < max_records:
            message = consumer.poll(0.5)
            if message is None:
                if idle_timeout and time.monotonic() - last > idle_timeout:
                    break
                continue
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    self.say(f"tail: {message.error()}", file=sys.stderr)
                continue
            seen, last = seen + 1, time.monotonic()
            print(_render(message, fmt), flush=True)
    finally:
        consumer.close()
    self.say(f"tail: {seen} records from {name}")


def _render(message, fmt: str) -> str:
    key = message.key().decode(errors="replace") if message.key() else None
    try:
        value = json.loads(message.value())
    except (TypeError, ValueError):
        value = repr(message.value())
    if fmt == "json":
        return json.dumps({"topic": message.topic(), "partition": message.partition(), "offset": message.offset(),
                           "key": key, "value": value})
    if isinstance(value, dict) and "assignment_id" in value:
        churn = value.get("scores", {}).get("churn_probability")
        return (f"offer {value['assignment_id'][:8]}  campaign={key}  customer={value.get('customer_id')}  "
                f"offer={value.get('offer', {}).get('name')!r}  churn={churn}  window={value.get('decision_window')}")
    return f"{message.partition()}:{message.offset()} key={key} {json.dumps(value)[:160]}"
