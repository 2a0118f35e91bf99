"""The worker's /metrics body: the names, types and figures dashboards read, parsed back by Prometheus' parser."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from streams.counters import Counters
from streams.web.metrics import LATENCY_BUCKETS, consumer_lag, latency_histogram, render


def _performance():
    from core import trials
    from models.uplift import CampaignPerformance

    performance = CampaignPerformance()
    for i in range(40):
        for arm in (0, 1):
            window = [arm, 0.0, 1.0, int(i % 3 < 1 + arm), 10.0 * (i % 3 < 1 + arm), 0, 0.5, ["spring"], "spring", 0.0, 0.0]
            performance.learn_one(trials.example_features(window), campaign_id="spring")
    return performance


class FakeModels:
    performance = _performance()

    def report(self) -> dict:
        return {
            "churn": {"version": "v", "roc_auc": 0.75, "log_loss": 0.6, "samples": 12, "pending_labels": 3, "drift": True},
            "lifetime_value": {"version": "v", "mae": 4.5, "samples": 7, "pending_labels": 0, "drift": False},
            "rfm": {"version": "v", "samples": 9, "drift": False},
        }


ENGINE = SimpleNamespace(models=FakeModels())


def sample_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def samples_of(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_latency_histogram_has_cumulative_buckets_from_half_a_millisecond_to_five_seconds():
    h = latency_histogram()
    for seconds in (0.0004, 0.001, 0.003, 0.5, 9.0):  # 0.001 sits exactly on a bound: le is inclusive
        h.observe(seconds)
    text = render(make_counters(), ENGINE, None, histogram=h)
    buckets = sorted((float(dict(labels)["le"]), v) for (name, labels), v in samples_of(text).items()
                     if name == "loyalty_record_seconds_bucket")
    assert [b for b, _ in buckets] == [*LATENCY_BUCKETS, float("inf")]
    counts = dict(buckets)
    assert (counts[0.0005], counts[0.001], counts[0.0025], counts[0.005], counts[1.0], counts[5.0]) == (1, 2, 2, 3, 4, 4)
    assert counts[float("inf")] == 5 == samples_of(text)[("loyalty_record_seconds_count", ())]
    assert abs(samples_of(text)[("loyalty_record_seconds_sum", ())] - 9.5044) < 1e-9


def make_counters() -> Counters:
    c = Counters()
    c.events_in.update({"t-purchases": 5, "t-payments": 2})
    c.handled.update({"t-purchases": 5, "t-payments": 2})
    c.processed.update({"t-purchases": 4, "t-payments": 2})
    c.dead_lettered.update({"t-purchases": 1})
    c.assignments_out, c.badges_out, c.examples_learned, c.redis_errors, c.limits_errors = 6, 2, 11, 1, 0
    c.limits_in_doubt, c.limits_in_doubt_abandoned = 3, 1
    return c


def test_render_gives_counters_histogram_and_models():
    h = latency_histogram()
    h.observe(0.0001)
    text = render(make_counters(), ENGINE, None, histogram=h)
    lines = sample_lines(text)
    samples = samples_of(text)
    for name, labels, value in [
        ("loyalty_events_in_total", {"topic": "t-payments"}, 2),
        ("loyalty_events_in_total", {"topic": "t-purchases"}, 5),
        ("loyalty_handled_total", {"topic": "t-purchases"}, 5),
        ("loyalty_processed_total", {"topic": "t-purchases"}, 4),
        ("loyalty_dead_letters_total", {"topic": "t-purchases"}, 1),
        ("loyalty_assignments_out_total", {}, 6),
        ("loyalty_badges_out_total", {}, 2),
        ("loyalty_examples_learned_total", {}, 11),
        ("loyalty_redis_errors_total", {}, 1),
        ("loyalty_limits_errors_total", {}, 0),
        ("loyalty_limits_in_doubt_total", {}, 3),
        ("loyalty_limits_in_doubt_abandoned_total", {}, 1),
        ("loyalty_record_seconds_count", {}, 1),
        ("loyalty_model_roc_auc", {"model": "churn"}, 0.75),
        ("loyalty_model_mae", {"model": "lifetime_value"}, 4.5),
        ("loyalty_model_samples", {"model": "rfm"}, 9),
        ("loyalty_model_pending_labels", {"model": "churn"}, 3),
        ("loyalty_model_drift", {"model": "churn"}, 1),
        ("loyalty_model_drift", {"model": "lifetime_value"}, 0),
    ]:
        assert samples[(name, tuple(sorted(labels.items())))] == value, name
    assert not any("_created" in line for line in lines)
    # A metric only where the model has it: no AUC for a regressor, no MAE for a classifier.
    assert not any(line.startswith('loyalty_model_roc_auc{model="lifetime_value"') for line in lines)
    assert not any(line.startswith('loyalty_model_mae{model="churn"') for line in lines)
    assert "loyalty_consumer_lag" not in text


def test_render_declares_every_family_once_with_help_before_type():
    text = render(make_counters(), ENGINE, {("t-purchases", 0): 3})
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")]
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert helps == types and len(set(types)) == len(types)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# TYPE "):
            assert lines[i - 1].startswith(f"# HELP {line.split()[2]} ")
    kinds = dict(line.split()[2:4] for line in lines if line.startswith("# TYPE "))
    assert kinds["loyalty_events_in_total"] == "counter"
    assert kinds["loyalty_record_seconds"] == "histogram"
    assert kinds["loyalty_model_roc_auc"] == "gauge"
    assert kinds["loyalty_consumer_lag"] == "gauge"
    # Every sample belongs to the family declared last before it.
    current = None
    for line in lines:
        if line.startswith("# TYPE "):
            current = line.split()[2]
        elif not line.startswith("#"):
            assert line.split("{")[0].split(" ")[0] in (current, f"{current}_bucket", f"{current}_sum", f"{current}_count")
    assert text.endswith("\n")


def test_render_gives_the_lag_per_topic_and_partition():
    text = render(make_counters(), ENGINE, {("t-purchases", 1): 4, ("t-purchases", 0): 0})
    assert [(k, v) for k, v in samples_of(text).items() if k[0] == "loyalty_consumer_lag"] == [
        (("loyalty_consumer_lag", (("partition", "0"), ("topic", "t-purchases"))), 0),
        (("loyalty_consumer_lag", (("partition", "1"), ("topic", "t-purchases"))), 4),
    ]


def test_consumer_lag_is_highwater_minus_one_past_the_last_read_or_the_committed_offset():
    class TP(tuple):  # hashable, equal by value, like Faust's TP named tuple
        topic = property(lambda self: self[0])
        partition = property(lambda self: self[1])

    # Partition 0: last read 6; 1: nothing read, committed 6; 2: neither known; 3: no highwater yet; x: not ours.
    tps = [TP(t) for t in (("t", 0), ("t", 1), ("t", 2), ("t", 3), ("x", 0))]
    highwaters = {tps[0]: 10, tps[1]: 8, tps[2]: 5, tps[3]: None, tps[4]: 99}
    app = SimpleNamespace(
        consumer=SimpleNamespace(highwater=highwaters.__getitem__, _committed_offset={tps[1]: 6}),
        monitor=SimpleNamespace(tp_read_offsets={tps[0]: 6}),
        assignor=SimpleNamespace(assigned_actives=lambda: set(tps)),
    )
    assert consumer_lag(app, ["t"]) == {("t", 0): 3, ("t", 1): 2}


def test_each_campaigns_uplift_and_arms_are_gauges():
    samples = samples_of(render(Counters(), ENGINE))
    report = FakeModels.performance.uplift("spring")
    assert samples[("loyalty_campaign_trial_customers", (("arm", "held_out"), ("campaign", "spring")))] == 40
    for bound, key in (("estimate", "difference"), ("low", "low"), ("high", "high")):
        labels = (("bound", bound), ("campaign", "spring"), ("measure", "purchase_rate"))
        assert samples[("loyalty_campaign_uplift", labels)] == report["purchase_rate"][key]
    assert report["purchase_rate"]["difference"] > 0


def test_redis_up_is_a_gauge_only_where_the_view_asked_redis():
    assert "loyalty_redis_up" not in render(Counters(), ENGINE)
    for up, value in ((True, 1.0), (False, 0.0)):
        samples = samples_of(render(Counters(), ENGINE, redis_up=up))
        assert samples[("loyalty_redis_up", ())] == value
