"""The worker's `GET /metrics`, in Prometheus' text format, by `prometheus_client`.

`render(counters, engine, lag)` gives the body: the in-process counters (counter
families read from `streams.counters.Counters` when scraped), the per-record latency
histogram (`record_latency`, a `prometheus_client.Histogram`), each model's live
quality (gauges) and, when given, the worker's own consumer lag (a gauge).

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

from typing import Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = CONTENT_TYPE_LATEST
# The families are the process's own: no `_created` series beside them.
disable_created_metrics()

# 0.5 ms to 5 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def latency_histogram() -> Histogram:
    """Seconds per record, in `LATENCY_BUCKETS` (not registered anywhere: `render` shows it)."""
    return Histogram(
        "loyalty_record_seconds",
        "Wall-clock seconds from taking a record to having sent its outputs and swept its partition.",
        buckets=LATENCY_BUCKETS,
        registry=None,
    )


record_latency = latency_histogram()

# Per input topic: the name, the help, the `Counters` field.
PER_TOPIC = (
    ("loyalty_events_in_total", "Records taken from each input topic.", "events_in"),
    ("loyalty_handled_total", "Records fully done: outputs sent and partition swept.", "handled"),
    ("loyalty_processed_total", "Records processed without error.", "processed"),
    ("loyalty_dead_letters_total", "Records sent to the dead-letter topic.", "dead_lettered"),
)
TOTALS = (
    ("loyalty_assignments_out_total", "Offer assignments sent.", "assignments_out"),
    ("loyalty_badges_out_total", "Badge awards sent.", "badges_out"),
    ("loyalty_labels_out_total", "Labelled examples sent to the labels topic.", "labels_out"),
    ("loyalty_examples_learned_total", "Labeled examples the models learned from.", "examples_learned"),
    ("loyalty_redis_errors_total", "Failed writes of scores to Redis.", "redis_errors"),
    ("loyalty_limits_errors_total", "Failed contact-limit checks.", "limits_errors"),
    ("loyalty_limits_in_doubt_total", "Reservations whose reply was lost, answered when sent again.",
     "limits_in_doubt"),
    ("loyalty_limits_in_doubt_abandoned_total", "Reservations still in doubt after the limit: failed closed.",
     "limits_in_doubt_abandoned"),
)
# Per model, where its report has the figure: the report key, the name, the help.
MODEL_GAUGES = (
    ("roc_auc", "loyalty_model_roc_auc", "Prequential ROC AUC of a classifier on its resolved labels."),
    ("mae", "loyalty_model_mae", "Prequential mean absolute error of a regressor on its resolved labels."),
    ("samples", "loyalty_model_samples", "Resolved labels a model has been scored and has learned on."),
    ("pending_labels", "loyalty_model_pending_labels", "Predictions of a model still waiting for their label."),
    ("drift", "loyalty_model_drift", "1 if a drift was detected in a model's error lately, else 0."),
)


class WorkerCollector:
    """A `prometheus_client` collector over the worker's counters, latency, models and lag, read when scraped."""

    def __init__(self, counters, engine, lag: Mapping[tuple[str, int], int] | None = None,
                 histogram: Histogram | None = None, redis_up: bool | None = None) -> None:
        self.counters, self.engine, self.lag = counters, engine, lag
        self.histogram = histogram or record_latency
        self.redis_up = redis_up

    def collect(self):
        counters = self.counters
        for name, help_text, field in PER_TOPIC:
            family = CounterMetricFamily(name, help_text, labels=["topic"])
            values = getattr(counters, field)
            for topic in sorted(values):
                family.add_metric([topic], values[topic])
            yield family
        for name, help_text, field in TOTALS:
            yield CounterMetricFamily(name, help_text, value=getattr(counters, field))
        yield from self.histogram.collect()
        report = self.engine.models.report()
        for key, name, help_text in MODEL_GAUGES:
            family = GaugeMetricFamily(name, help_text, labels=["model"])
            for model in sorted(report):
                value = report[model].get(key)
                if isinstance(value, (bool, int, float)):
                    family.add_metric([model], float(value))
            yield family
        yield from _performance(self.engine.models.performance)
        if self.lag is not None:
            family = GaugeMetricFamily("loyalty_consumer_lag",
                                       "Records in an assigned partition not yet taken by this worker.",
                                       labels=["topic", "partition"])
            for (topic, partition), value in sorted(self.lag.items()):
                family.add_metric([topic, str(partition)], value)
            yield family
        if self.redis_up is not None:
            yield GaugeMetricFamily("loyalty_redis_up", "1 if the Redis of the limits and served scores answered a "
                                    "PING when scraped, else 0 (offer decisions then fail closed).",
                                    value=1.0 if self.redis_up else 0.0)


def _performance(performance):
    """Per campaign: customers in each arm of its comparison, and the uplift with its interval."""
    arms = GaugeMetricFamily("loyalty_campaign_trial_customers",
                             "Customers whose attribution window closed, per campaign and arm.",
                             labels=["campaign", "arm"])
    uplift = GaugeMetricFamily("loyalty_campaign_uplift",
                               "Treated minus held out, per campaign and measure; bound: estimate, low, high (95%).",
                               labels=["campaign", "measure", "bound"])
    for cid in performance.campaigns():
        report = performance.uplift(cid)
        arms.add_metric([cid, "treated"], report["treated"]["customers"])
        arms.add_metric([cid, "held_out"], report["held_out"]["customers"])
        for measure in ("purchase_rate", "spend_per_customer"):
            figure = report[measure]
            for bound, key in (("estimate", "difference"), ("low", "low"), ("high", "high")):
                if figure[key] is not None:
                    uplift.add_metric([cid, measure, bound], figure[key])
    yield arms
    yield uplift


def render(counters, engine, lag: Mapping[tuple[str, int], int] | None = None, *,
           histogram: Histogram | None = None, redis_up: bool | None = None) -> str:
    """The whole /metrics body. `lag` maps (topic, partition) to records behind; `redis_up`, whether Redis
    answered; None leaves either out."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(counters, engine, lag, histogram, redis_up))
    return generate_latest(registry).decode()


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
