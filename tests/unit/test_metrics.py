"""The Prometheus text renderer: HELP/TYPE lines, escaping, cumulative buckets, _sum/_count."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from streams.counters import Counters
from streams.web.metrics import (
    Histogram,
    consumer_lag,
    counter,
    escape_label,
    format_value,
    gauge,
    render,
)


class FakeModels:
    def report(self) -> dict:
        return {
            "churn": {"version": "v", "roc_auc": 0.75, "log_loss": 0.6, "samples": 12, "pending_labels": 3, "drift": True},
            "lifetime_value": {"version": "v", "mae": 4.5, "samples": 7, "pending_labels": 0, "drift": False},
            "rfm": {"version": "v", "samples": 9, "drift": False},
        }


ENGINE = SimpleNamespace(models=FakeModels())


def sample_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_a_counter_has_help_then_type_then_its_samples():
    text = counter("x_total", "Things seen.").add(3, topic="a").add(4, topic="b").render()
    assert text == (
        "# HELP x_total Things seen.\n"
        "# TYPE x_total counter\n"
        'x_total{topic="a"} 3\n'
        'x_total{topic="b"} 4\n'
    )


def test_a_gauge_without_labels_has_no_braces():
    assert gauge("g", "A gauge.").add(1.5).render().splitlines()[-1] == "g 1.5"


def test_label_values_escape_backslash_quote_and_newline():
    assert escape_label('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    line = gauge("g", "h").add(1, model='we"ird\\\n').render().splitlines()[-1]
    assert line == 'g{model="we\\"ird\\\\\\n"} 1'


def test_help_escapes_backslash_and_newline_but_not_quotes():
    first = gauge("g", 'say "hi"\\ then\nmore').render().splitlines()[0]
    assert first == '# HELP g say "hi"\\\\ then\\nmore'


def test_values_use_the_formats_prometheus_parses():
    assert [format_value(v) for v in (3, True, False, 0.25, -0.0, math.nan, math.inf, -math.inf)] == [
        "3", "1", "0", "0.25", "0.0", "NaN", "+Inf", "-Inf",
    ]


def test_histogram_buckets_are_cumulative_and_end_with_inf():
    h = Histogram("lat_seconds", "Latency.", [0.1, 0.01, 1.0])  # unsorted on purpose
    for seconds in (0.005, 0.01, 0.05, 0.5, 3.0):  # 0.01 sits exactly on a bound: le is inclusive
        h.observe(seconds)
    lines = h.render().splitlines()
    assert lines[:2] == ["# HELP lat_seconds Latency.", "# TYPE lat_seconds histogram"]
    assert lines[2:6] == [
        'lat_seconds_bucket{le="0.01"} 2',
        'lat_seconds_bucket{le="0.1"} 3',
        'lat_seconds_bucket{le="1.0"} 4',
        'lat_seconds_bucket{le="+Inf"} 5',
    ]
    name, value = lines[6].split(" ")
    assert name == "lat_seconds_sum" and float(value) == pytest.approx(3.565)
    assert lines[7] == "lat_seconds_count 5"
    assert len(lines) == 8


def test_an_empty_histogram_renders_zeros():
    lines = Histogram("h", "x", [1.0]).render().splitlines()
    assert lines[2:] == ['h_bucket{le="1.0"} 0', 'h_bucket{le="+Inf"} 0', "h_sum 0.0", "h_count 0"]


def test_histogram_refuses_duplicate_or_no_buckets():
    with pytest.raises(ValueError):
        Histogram("h", "x", [1.0, 1.0])
    with pytest.raises(ValueError):
        Histogram("h", "x", [])


def make_counters() -> Counters:
    c = Counters()
    c.events_in.update({"t-purchases": 5, "t-payments": 2})
    c.handled.update({"t-purchases": 5, "t-payments": 2})
    c.processed.update({"t-purchases": 4, "t-payments": 2})
    c.dead_lettered.update({"t-purchases": 1})
    c.assignments_out, c.badges_out, c.examples_learned, c.redis_errors, c.limits_errors = 6, 2, 11, 1, 0
    return c


def test_render_gives_counters_histogram_and_models():
    h = Histogram("loyalty_record_seconds", "h", [0.001, 1.0])
    h.observe(0.0001)
    text = render(make_counters(), ENGINE, None, histogram=h)
    lines = sample_lines(text)
    for expected in [
        'loyalty_events_in_total{topic="t-payments"} 2',
        'loyalty_events_in_total{topic="t-purchases"} 5',
        'loyalty_processed_total{topic="t-purchases"} 4',
        'loyalty_dead_letters_total{topic="t-purchases"} 1',
        "loyalty_assignments_out_total 6",
        "loyalty_badges_out_total 2",
        "loyalty_examples_learned_total 11",
        "loyalty_redis_errors_total 1",
        "loyalty_limits_errors_total 0",
        "loyalty_record_seconds_count 1",
        'loyalty_model_roc_auc{model="churn"} 0.75',
        'loyalty_model_mae{model="lifetime_value"} 4.5',
        'loyalty_model_samples{model="rfm"} 9',
        'loyalty_model_pending_labels{model="churn"} 3',
        'loyalty_model_drift{model="churn"} 1',
        'loyalty_model_drift{model="lifetime_value"} 0',
    ]:
        assert expected in lines
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
    assert [line for line in sample_lines(text) if line.startswith("loyalty_consumer_lag")] == [
        'loyalty_consumer_lag{topic="t-purchases",partition="0"} 0',
        'loyalty_consumer_lag{topic="t-purchases",partition="1"} 4',
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
