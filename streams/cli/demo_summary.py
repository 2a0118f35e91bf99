"""The demo's closing summary, read from a running worker and the offers topic.

    python -m streams.cli.demo_summary API_URL [EVENTS_SENT]

Prints events in by topic, dead letters, offers out by campaign and each model's live
(prequential) quality against its heuristic; exits 1 when no offer came out.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid
from collections import Counter

from confluent_kafka import Consumer, TopicPartition

from streams.cli.progress import render_report
from streams.settings import Settings, get_settings


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def offers_by_campaign(settings: Settings, timeout: float = 30.0) -> Counter:
    """Every record on the offers topic, counted by its key (the campaign id)."""
    name = settings.topic("offer-assignments")
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"loyalty-summary-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions}
        left = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(name, p, 0) for p in sorted(left)])
        counts: Counter = Counter()
        deadline = time.monotonic() + timeout
        while left and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            counts[(message.key() or b"?").decode(errors="replace")] += 1
            if message.offset() + 1 >= ends[message.partition()]:
                left.discard(message.partition())
        return counts
    finally:
        consumer.close()


def summary(health: dict, models: dict, offers: Counter, prefix: str, sent: int | None) -> str:
    counters = health["counters"]
    events = {topic.removeprefix(prefix): n for topic, n in sorted(counters["events_in"].items())}
    by_topic = ", ".join(f"{topic} {n}" for topic, n in events.items())
    lines = [
        f"events in:     {sum(events.values())}" + (f" of {sent} sent" if sent else "") + f" ({by_topic})",
        f"dead letters:  {counters['dead_lettered_total']}",
        f"offers out:    {sum(offers.values())} by campaign: "
        + (", ".join(f"{campaign} {n}" for campaign, n in offers.most_common()) or "none"),
        f"badges out:    {counters['badges_out']}",
        "",
        "each model's live quality (prequential: every prediction scored when its label resolved):",
        render_report(models),
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    api = argv[0].rstrip("/")
    sent = int(argv[1]) if len(argv) > 1 else None
    settings = get_settings()
    offers = offers_by_campaign(settings)
    print(summary(get(f"{api}/health/"), get(f"{api}/models/")["models"], offers, settings.topic_prefix, sent))
    if not offers:
        print("no offer assignment came out", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
