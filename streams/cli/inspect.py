"""What operators look at: the project topics' offsets and lag, and their records decoded.

`topic_overview` reads offsets only (a consumer that never subscribes or commits,
so it never joins or disturbs the worker's group); the rest is pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition

from schemas import BY_NAME, InvalidEvent, decode
from streams.kafka.admin import PROJECT_TOPICS
from streams.settings import Settings

LAG_FROM_COMMITTED = "committed"
LAG_FROM_LOW = "low watermark"  # the group never committed here: everything still in the topic counts


def _offset_reader(settings: Settings) -> Consumer:
    """A consumer in the worker's group that only reads offsets: it never subscribes nor commits."""
    return Consumer({
        **settings.kafka_client_config(),
        "group.id": settings.app_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
    })


def topic_overview(settings: Settings, timeout: float = 10.0) -> list[dict]:
    """One row per existing project topic: end offsets per partition and the worker group's lag."""
    consumer = _offset_reader(settings)
    try:
        existing = consumer.list_topics(timeout=timeout).topics
        names = [settings.topic(b) for b in PROJECT_TOPICS
                 if settings.topic(b) in existing and existing[settings.topic(b)].error is None]
        parts = [TopicPartition(n, p) for n in names for p in sorted(existing[n].partitions)]
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(parts, timeout=timeout)} if parts else {}
        marks = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
                 for tp in parts}
    finally:
        consumer.close()
    return [_row(settings.app_id, name, sorted(existing[name].partitions), marks, committed) for name in names]


def _row(group: str, name: str, partitions: list[int], marks: dict, committed: dict) -> dict:
    low = [marks[name, p][0] for p in partitions]
    end = [marks[name, p][1] for p in partitions]
    done = [None if committed.get((name, p), OFFSET_INVALID) < 0 else committed[name, p] for p in partitions]
    lag = [e - (c if c is not None else lo) for e, c, lo in zip(end, done, low)]
    bases = {LAG_FROM_COMMITTED if c is not None else LAG_FROM_LOW for c in done}
    return {
        "name": name, "group": group, "partitions": len(partitions),
        "end_offsets": end, "end_total": sum(end), "low_offsets": low,
        "committed": done, "lag": lag, "lag_total": sum(lag),
        "lag_from": bases.pop() if len(bases) == 1 else "mixed",
    }


def render_overview(rows: list[dict]) -> str:
    """A table: one line per topic, totals first, then `partition:end/lag` for each partition."""
    if not rows:
        return "no project topics exist (create them with: loyalty create-topics)"
    width = max(len("topic"), *(len(r["name"]) for r in rows))
    lines = [f"consumer group: {rows[0]['group']}",
             f"{'topic':<{width}}  {'parts':>5}  {'end':>8}  {'lag':>8}  {'lag from':<13}  per partition (end/lag)"]
    for r in rows:
        per = " ".join(f"{p}:{e}/{g}" for p, (e, g) in enumerate(zip(r["end_offsets"], r["lag"])))
        lines.append(f"{r['name']:<{width}}  {r['partitions']:>5}  {r['end_total']:>8}  {r['lag_total']:>8}  "
                     f"{r['lag_from']:<13}  {per}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Decoded:
    """A record value: validated (`model` names its model), else raw JSON, else repr; `error` if it failed."""

    value: Any
    model: str | None = None
    error: str | None = None


def decode_value(topic_base: str, value: bytes | None) -> Decoded:
    """Decode through the topic's contract model; topics without one (ticks, vendors) give raw JSON."""
    if value is None:
        return Decoded(None)  # a tombstone (compacted topics) or an empty record
    contract = BY_NAME.get(topic_base)
    error = None
    if contract is not None:
        try:
            return Decoded(decode(contract.model, value).model_dump(mode="json"), contract.model.__name__)
        except InvalidEvent as invalid:
            error = f"{contract.model.__name__}: {invalid.reason}"
    try:
        return Decoded(json.loads(value), error=error)
    except (TypeError, ValueError):
        return Decoded(repr(value), error=error or "not JSON")


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: Decoded


def record_of(message, topic_base: str) -> Record:
    key = message.key().decode(errors="replace") if message.key() is not None else None
    return Record(message.topic(), message.partition(), message.offset(), key,
                  decode_value(topic_base, message.value()))


def matches(record: Record, key: str | None = None, customer: str | None = None) -> bool:
    """Whether the record has this key and its value this `customer_id` (None: any)."""
    if key is not None and record.key != key:
        return False
    value = record.value.value
    return customer is None or (isinstance(value, dict) and value.get("customer_id") == customer)


def summarize(value: Any, width: int = 80) -> str:
    """The value's top-level scalar fields as `k=v` (but schema_version), cut to `width` characters."""
    if isinstance(value, dict):
        text = " ".join(f"{k}={v}" for k, v in value.items()
                        if k != "schema_version" and not isinstance(v, (dict, list)))
    else:
        text = "(tombstone)" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


TABLE_HEADER = f"{'part':>4}  {'offset':>8}  {'key':<20}  value"


def render_record(record: Record, fmt: str) -> str:
    """One output line: `json`, `summary` (offer assignments get their own) or a `table` row."""
    value, error = record.value.value, record.value.error
    if fmt == "json":
        line = {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                "key": record.key, "value": value}
        return json.dumps(line if error is None else {**line, "invalid": error})
    mark = "" if error is None else f"INVALID ({error}) "
    if fmt == "table":
        mark = "" if error is None else f"INVALID ({summarize(error, 60)}) "
        return f"{record.partition:>4}  {record.offset:>8}  {str(record.key)[:20]:<20}  {mark}{summarize(value)}"
    if isinstance(value, dict) and "assignment_id" in value:
        churn = (value.get("scores") or {}).get("churn_probability")
        return (f"{mark}offer {value['assignment_id'][:8]}  campaign={record.key}  customer={value.get('customer_id')}  "
                f"offer={(value.get('offer') or {}).get('name')!r}  churn={churn}  window={value.get('decision_window')}")
    return f"{record.partition}:{record.offset} key={record.key} {mark}{json.dumps(value)[:160]}"
