"""A tiny Prometheus text renderer (exposition format 0.0.4), with no dependency.

`render(counters, engine, lag)` gives the body of the worker's `GET /metrics`:
the in-process counters, the per-record latency histogram, each model's live
quality and, when given, the worker's own consumer lag.

Consumer lag, as `consumer_lag(app, topic_names)` measures it, for each assigned
partition of the given topics: the partition's high watermark (the offset the
next produced record will get) as the Kafka client last saw it in a fetch
response (`app.consumer.highwater(tp)`), minus the position the worker has
consumed up to. That position is one past the offset of the last record Faust
handed to a stream (`app.monitor.tp_read_offsets`, set by the Monitor sensor for
every record taken); before any record is taken since the assignment it is the
group's committed offset. A partition for which either side is not known yet (no
fetch response, or a new group with nothing taken) is left out rather than
guessed. Faust's `consumer._read_offset` is not used: after a seek it holds the
next offset to read, after a record the offset just read, so it is off by one
half of the time. Records taken but still queued in a stream's buffer count as
consumed here, as they do in Kafka's own consumer lag.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# 0.5 ms to 5 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def format_value(value) -> str:
    """A sample value: integers as they are, floats in Go's notation for NaN and infinities."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value + 0.0)  # + 0.0 turns -0.0 into 0.0


def escape_label(value) -> str:
    """A label value: backslash, double quote and line feed escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """A HELP text: backslash and line feed escaped (quotes stay as they are)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_labels(labels: Mapping[str, object]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{escape_label(value)}"' for name, value in labels.items()) + "}"


class Family:
    """A counter or gauge: one HELP and TYPE line, then one sample per label set."""

    def __init__(self, name: str, help: str, kind: str = "gauge") -> None:
        if kind not in ("counter", "gauge", "untyped"):
            raise ValueError(f"not a counter or gauge: {kind}")
        self.name, self.help, self.kind = name, help, kind
        self.samples: list[tuple[dict, object]] = []

    def add(self, value, **labels) -> Family:
        self.samples.append((labels, value))
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        lines += [f"{self.name}{format_labels(labels)} {format_value(value)}" for labels, value in self.samples]
        return "\n".join(lines) + "\n"


def counter(name: str, help: str) -> Family:
    return Family(name, help, "counter")


def gauge(name: str, help: str) -> Family:
    return Family(name, help, "gauge")


class Histogram:
    """Fixed upper bounds; rendered cumulative, with the +Inf bucket, `_sum` and `_count`."""

    def __init__(self, name: str, help: str, buckets: Iterable[float] = LATENCY_BUCKETS) -> None:
        bounds = sorted(float(b) for b in buckets if not math.isinf(float(b)))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError("buckets must be distinct and at least one finite")
        self.name, self.help = name, help
        self.buckets = tuple(bounds)
        self.counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative; the last is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        # The first bound with value <= bound: `le` is inclusive.
        self.counts[bisect_left(self.buckets, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def render(self) -> str:
        lines = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} histogram"]
        cumulative = 0
        for bound, n in zip((*map(format_value, self.buckets), "+Inf"), self.counts):
            cumulative += n
            lines.append(f'{self.name}_bucket{{le="{bound}"}} {cumulative}')
        lines.append(f"{self.name}_sum {format_value(self.sum)}")
        lines.append(f"{self.name}_count {self.count}")
        return "\n".join(lines) + "\n"


record_latency = Histogram(
    "loyalty_record_seconds",
    "Wall-clock seconds from taking a record to having sent its outputs and swept its partition.",
    LATENCY_BUCKETS,
)


def _per_topic(family: Family, values: Mapping[str, int]) -> Family:
    for topic in sorted(values):
        family.add(values[topic], topic=topic)
    return family


def _model_families(report: Mapping[str, Mapping]) -> list[Family]:
    wanted = [
        ("roc_auc", gauge("loyalty_model_roc_auc", "Prequential ROC AUC of a classifier on its resolved labels.")),
        ("mae", gauge("loyalty_model_mae", "Prequential mean absolute error of a regressor on its resolved labels.")),
        ("samples", gauge("loyalty_model_samples", "Resolved labels a model has been scored and has learned on.")),
        ("pending_labels", gauge("loyalty_model_pending_labels", "Predictions of a model still waiting for their label.")),
        ("drift", gauge("loyalty_model_drift", "1 if a drift was detected in a model's error lately, else 0.")),
    ]
    for name in sorted(report):
        for key, family in wanted:
            value = report[name].get(key)
            if isinstance(value, (bool, int, float)):
                family.add(value, model=name)
    return [family for _, family in wanted]


def render(counters, engine, lag: Mapping[tuple[str, int], int] | None = None, *, histogram: Histogram | None = None) -> str:
    """The whole /metrics body. `lag` maps (topic, partition) to records behind; None leaves it out."""
    histogram = histogram or record_latency
    families: list = [
        _per_topic(counter("loyalty_events_in_total", "Records taken from each input topic."), counters.events_in),
        _per_topic(counter("loyalty_handled_total", "Records fully done: outputs sent and partition swept."), counters.handled),
        _per_topic(counter("loyalty_processed_total", "Records processed without error."), counters.processed),
        _per_topic(counter("loyalty_dead_letters_total", "Records sent to the dead-letter topic."), counters.dead_lettered),
        counter("loyalty_assignments_out_total", "Offer assignments sent.").add(counters.assignments_out),
        counter("loyalty_badges_out_total", "Badge awards sent.").add(counters.badges_out),
        counter("loyalty_examples_learned_total", "Labeled examples the models learned from.").add(counters.examples_learned),
        counter("loyalty_redis_errors_total", "Failed writes of scores to Redis.").add(counters.redis_errors),
        counter("loyalty_limits_errors_total", "Failed contact-limit checks.").add(counters.limits_errors),
        histogram,
        *_model_families(engine.models.report()),
    ]
    if lag is not None:
        family = gauge("loyalty_consumer_lag", "Records in an assigned partition not yet taken by this worker.")
        for (topic, partition), value in sorted(lag.items()):
            family.add(value, topic=topic, partition=partition)
        families.append(family)
    return "".join(family.render() for family in families)


def consumer_lag(app, topic_names: Iterable[str]) -> dict[tuple[str, int], int]:
    """This worker's lag on its assigned partitions of `topic_names` (see the module docstring)."""
    names = set(topic_names)
    consumer = app.consumer
    read = app.monitor.tp_read_offsets or {}
    committed = getattr(consumer, "_committed_offset", {})
    out: dict[tuple[str, int], int] = {}
    for tp in app.assignor.assigned_actives():
        if tp.topic not in names:
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - revoked meanwhile, or no client yet
            continue
        last = read.get(tp)
        position = last + 1 if last is not None else committed.get(tp)
        if highwater is None or highwater < 0 or position is None or position < 0:
            continue
        out[(tp.topic, tp.partition)] = max(0, highwater - position)
    return out
