"""What the offers did: the trials, the holdout after the choice, the uplift fold and policy value."""

import json
import pickle
import random

import pytest
from scipy import stats

from core import statecodec, trials
from core.decisions import Decider, in_control_group
from core.engine import LoyaltyEngine
from core.labels import LabeledExample
from core.state import DAY, CustomerState
from models.suite import ModelSuite
from models.uplift import Z95, CampaignPerformance, Row, target_probability
from core.campaigns import Catalog, load_catalog
from core.features import customer_features


def test_the_normal_quantile_is_scipys():
    assert Z95 == pytest.approx(stats.norm.ppf(0.975), abs=1e-12)


def _trial(perf, cid, arm, purchases, spend, redeemed=0.0, p=0.5, eligible=("a", "b"), top="a", v=0.0, basket=0.0):
    x = trials.example_features([arm, 0.0, 7 * DAY, purchases, spend, redeemed, p, list(eligible), top, v, basket])
    perf.learn_one(x, spend, campaign_id=cid)


def test_spend_interval_is_welchs_from_the_raw_values():
    rng = random.Random(5)
    treated = [rng.expovariate(1 / 30) * (rng.random() < 0.6) for _ in range(300)]
    held = [rng.expovariate(1 / 25) * (rng.random() < 0.5) for _ in range(120)]
    perf = CampaignPerformance()
    for y in treated:
        _trial(perf, "a", 1, int(y > 0), round(y, 2))
    for y in held:
        _trial(perf, "a", 0, int(y > 0), round(y, 2))
    report = perf.uplift("a")
    raw = stats.ttest_ind([round(y, 2) for y in treated], [round(y, 2) for y in held], equal_var=False)
    low, high = raw.confidence_interval(0.95)
    assert report["spend_per_customer"]["low"] == pytest.approx(low, abs=1e-3)
    assert report["spend_per_customer"]["high"] == pytest.approx(high, abs=1e-3)
    assert report["treated"]["customers"] == 300 and report["held_out"]["customers"] == 120
    rate = report["purchase_rate"]
    assert rate["low"] < rate["difference"] < rate["high"]


def test_significant_only_when_the_interval_excludes_zero():
    perf = CampaignPerformance()
    for i in range(400):
        _trial(perf, "strong", 1, int(i % 10 < 7), 10.0 * (i % 10 < 7))
        _trial(perf, "strong", 0, int(i % 10 < 3), 10.0 * (i % 10 < 3))
        _trial(perf, "none", 1, int(i % 2), 10.0 * (i % 2))
        _trial(perf, "none", 0, int(i % 2), 10.0 * (i % 2))
    assert perf.uplift("strong")["significant"] and perf.uplift("strong")["purchase_rate"]["low"] > 0.3
    none = perf.uplift("none")
    assert not none["significant"] and none["purchase_rate"]["low"] < 0 < none["purchase_rate"]["high"]
    assert perf.uplift("unknown")["purchase_rate"]["difference"] is None  # no customers: no figure, no error


def test_an_interval_excluding_zero_is_not_significant_until_each_arm_has_30_customers():
    """22 treated of whom 3 bought against 1 held out who bought: the dashboard showed -0.86
    [-0.95, -0.05] as significant. The interval stays; the flag waits for the held-out arm."""
    perf = CampaignPerformance()
    for i in range(22):
        _trial(perf, "small", 1, int(i < 3), 20.0 * (i < 3))
    _trial(perf, "small", 0, 1, 20.0)
    small = perf.uplift("small")
    assert small["purchase_rate"]["high"] < 0 and not small["purchase_rate"]["significant"]
    assert not small["significant"]
    for i in range(29):  # 30 held out, and still as different
        _trial(perf, "small", 0, 1, 20.0)
    for i in range(8):
        _trial(perf, "small", 1, 0, 0.0)
    grown = perf.uplift("small")
    assert (grown["treated"]["customers"], grown["held_out"]["customers"]) == (30, 30)
    assert grown["purchase_rate"]["high"] < 0 and grown["purchase_rate"]["significant"] and grown["significant"]


def test_policy_values_from_a_uniform_logger_are_the_arms_means():
    # Logged uniformly between a (redeems 60%) and b (20%, the higher priority).
    rng = random.Random(1)
    perf = CampaignPerformance()
    seen = {"a": [], "b": []}
    for _ in range(4000):
        cid = rng.choice("ab")
        redeemed = float(rng.random() < (0.6 if cid == "a" else 0.2))
        seen[cid].append(redeemed)
        _trial(perf, cid, 1, 1, 5.0, redeemed=redeemed, p=0.5, eligible=("a", "b"), top="b")
    mean = {cid: sum(ys) / len(ys) for cid, ys in seen.items()}
    values = perf.policy_values()["redeemed"]
    assert values["highest_priority"]["snips"]["value"] == pytest.approx(mean["b"], abs=1e-6)
    assert values["highest_priority"]["doubly_robust"]["value"] == pytest.approx(mean["b"], abs=1e-6)
    assert values["uniform"]["doubly_robust"]["value"] == pytest.approx((mean["a"] + mean["b"]) / 2, abs=1e-6)
    assert abs(values["uniform"]["snips"]["value"] - (mean["a"] + mean["b"]) / 2) < 0.01
    se_b = (mean["b"] * (1 - mean["b"]) / len(seen["b"])) ** 0.5
    figure = values["highest_priority"]["snips"]
    assert figure["high"] - figure["low"] == pytest.approx(2 * Z95 * se_b, rel=0.02)
    assert values["highest_priority"]["snips"]["effective_n"] == len(seen["b"])


def test_target_probabilities():
    row = Row("a", 0.25, ("a", "b", "c"), "b", 1.0, 3.0)
    assert [target_probability(row, p) for p in ("running", "uniform", "highest_priority")] == [0.25, 1 / 3, 0.0]


def test_the_suite_folds_uplift_examples_and_keeps_them_through_a_pickle():
    suite = ModelSuite()
    x = trials.example_features([1, 0.0, 7 * DAY, 2, 30.0, 1, 0.5, ["a"], "a", 12.0, 0.0])
    assert suite.learn([LabeledExample("uplift", x, 30.0, 0.5, None, 0.0, 7 * DAY, "a")]) == 1
    copy = pickle.loads(pickle.dumps(suite))
    assert copy.performance.uplift("a")["treated"]["redemptions"] == 1
    assert suite.pending["uplift"] == 0  # not a prediction: nothing was pending


def test_a_trial_counts_purchases_after_the_decision_up_to_the_end_and_survives_the_codec():
    s = trials.open_trial(CustomerState("c"), "a", True, 10 * DAY, 7, 0.4, ("a", "b"), "b", 55.0)
    assert s.due_at() == 17 * DAY
    for at, total in ((10 * DAY, 99.0), (12 * DAY, 20.0), (17 * DAY, 5.0), (17.5 * DAY, 70.0)):
        s = trials.on_purchase(s, at, total)
    s = trials.on_redeemed(trials.on_redeemed(s, 12 * DAY, "b"), 12 * DAY, "a")
    assert statecodec.decode(statecodec.encode(s)) == s
    assert statecodec.due_at(statecodec.encode(s)) == 17 * DAY
    s, examples = trials.on_watermark(s, 17 * DAY)
    (example,) = examples
    assert (example.ref, example.features["purchases"], example.label, example.features["redeemed"]) == ("a", 2.0, 25.0, 1.0)
    assert example.features["e:b"] == 1.0 and example.features["hp:b"] == 1.0 and example.features["v"] == 55.0
    assert trials.entered(s, "a") and not s.trials and statecodec.decode(statecodec.encode(s)) == s


def _customer_held_out_of(campaign_id: str, share: float) -> str:
    return next(f"cust-{i}" for i in range(1000) if in_control_group(f"cust-{i}", campaign_id, share))


def test_a_customer_held_out_of_the_top_pick_gets_nothing_then_the_rest_once_entered():
    shipped = load_catalog(None)
    base = shipped.campaigns[0].model_copy(update={
        "status": "active", "audience": shipped.campaigns[0].audience.model_copy(update={
            k: None for k in type(shipped.campaigns[0].audience).model_fields if k.endswith(("_count", "_days"))}),
        "starts_at": None, "ends_at": None, "trigger": "any"})
    catalog = Catalog(offers=shipped.offers, campaigns=[
        base.model_copy(update={"campaign_id": "top", "priority": 5, "control_share": 0.5}),
        base.model_copy(update={"campaign_id": "next", "priority": 1})])
    engine = LoyaltyEngine(catalog)
    decider = Decider(catalog, engine.models)
    customer = _customer_held_out_of("top", 0.5)
    state = CustomerState(customer, purchase_count=3, total_spend=90.0, last_purchase_at=0.0)
    features = customer_features(state, DAY)
    scores = engine._scores(features)
    first = decider.consider(state, features, scores, DAY, "purchase", "e1")
    assert first.held_out_for == "top" and first.options == () and first.held_out == ("top",)
    assert 0 < first.choice_probability <= 1 and set(first.ranked) == {"next", "top"}
    state, assignment, trace = decider.commit(state, first, None)
    assert assignment is None and trace.held_out_for == "top" and state.trials["top"][0] == 0
    # Entered already: held out of "top" again, the customer now gets the best of the rest.
    second = decider.consider(state, features, scores, 2 * DAY, "purchase", "e2")
    assert second.held_out_for is None and [o.campaign.campaign_id for o in second.options] == ["next"]


def test_the_closed_loop_check_gives_the_same_figures_in_parallel_and_knows_the_null_offer_does_nothing(tmp_path):
    from sim import uplift

    args = ["--seeds", "2", "--customers", "120", "--days", "45"]
    assert uplift.main([*args, "--json", str(tmp_path / "one.json")]) == 0
    assert uplift.main([*args, "--jobs", "2", "--json", str(tmp_path / "two.json")]) == 0
    one = json.loads((tmp_path / "one.json").read_text())
    assert one == json.loads((tmp_path / "two.json").read_text())
    assert [r["seed"] for r in one] == [1, 2] and all(r["trials"] > 0 for r in one)
    for r in one:
        assert r["truth"][uplift.NULL_CAMPAIGN] == {"purchase_rate": 0.0, "spend_per_customer": 0.0}


def test_in_the_closed_loop_each_logged_decision_earns_the_basket_that_redeemed_its_offer():
    from sim import uplift

    run = uplift.run(seed=3, customers=150, days=60)
    rows = list(run.performance.rows)
    redeemed = [r for r in rows if r.redeemed]
    # the simulator's visit is the redeemed basket (a trial whose redemption was a later offer's has none);
    # no spend without a redemption: the customer's own shopping is not a decision's reward
    assert redeemed and sum(r.spend > 0 for r in redeemed) >= 0.9 * len(redeemed)
    assert all(r.spend == 0.0 for r in rows if not r.redeemed)
    assert sum(r.redeemed for r in rows) <= run.extra_purchases


def test_a_later_offer_of_an_entered_campaign_is_a_policy_row_and_not_a_second_comparison_entry():
    from core import trials
    from core.state import CustomerState
    from models.uplift import CampaignPerformance

    day = trials.DAY
    state = trials.open_trial(CustomerState("c"), "spring", True, 0.0, 7, 0.9, ("spring", "coffee"), "coffee")
    assert trials.entered(state, "spring")
    state = trials.open_decision(state, "a-2", "spring", 3 * day, 7, 0.6, ("spring", "coffee"), "coffee", 40.0)
    state = trials.on_purchase(state.with_purchase(4 * day, 25.0), 4 * day, 25.0)  # in both windows
    state = trials.on_redeemed(state, 4 * day + 5, "spring", "a-2")  # the second offer's, with its basket
    state, first = trials.on_watermark(state, 7 * day)
    state, second = trials.on_watermark(state, 10 * day)
    assert [e.ref for e in first + second] == ["spring", "spring"] and state.trials == {}
    assert "repeat" not in first[0].features and second[0].features["repeat"] == 1.0
    assert state.tried == ["spring"]
    fold = CampaignPerformance()
    for example in first + second:
        fold.learn_one(example.features, example.label, example.ref)
    assert fold.uplift("spring")["treated"]["customers"] == 1
    # both count the redemption; the basket is the second decision's reward only
    assert [(r.propensity, r.redeemed, r.spend) for r in fold.rows] == [(0.9, 1.0, 0.0), (0.6, 1.0, 25.0)]
    assert [e.features["spend"] for e in first + second] == [25.0, 25.0]


def test_the_redeemed_basket_is_found_whichever_of_purchase_and_redemption_comes_first():
    from core import trials
    from core.state import CustomerState

    day = trials.DAY
    opened = trials.open_trial(CustomerState("c"), "spring", True, 0.0, 7, 0.9, ("spring",), "spring")
    opened = trials.on_purchase(opened.with_purchase(day, 12.0), day, 12.0)  # an earlier visit: not the basket
    # the POS sent the basket first
    first = trials.on_purchase(opened.with_purchase(2 * day, 30.0), 2 * day, 30.0)
    first = trials.on_redeemed(first, 2 * day + 2, "spring", "a-1")
    # the redemption was read first: the basket comes within the hour, a later visit does not count
    second = trials.on_redeemed(opened, 2 * day + 2, "spring", "a-1")
    assert second.trials["spring"][trials.BASKET] == 0.0
    second = trials.on_purchase(second.with_purchase(2 * day, 30.0), 2 * day, 30.0)
    second = trials.on_purchase(second.with_purchase(2 * day + 600, 99.0), 2 * day + 600, 99.0)
    # too far from the redemption: no basket
    late = trials.on_redeemed(opened, 2 * day, "spring", "a-1")
    late = trials.on_purchase(late.with_purchase(2 * day + 2 * 3600, 30.0), 2 * day + 2 * 3600, 30.0)
    assert [s.trials["spring"][trials.BASKET] for s in (first, second, late)] == [30.0, 30.0, 0.0]
    assert [trials.example_features(s.trials["spring"])["basket"] for s in (first, second, late)] == [30.0, 30.0, 0.0]
    assert all(trials.example_features(s.trials["spring"])["redeemed"] == 1.0 for s in (first, second, late))


def test_the_reward_model_fits_each_campaign_its_own_slope_on_the_customers_value():
    from models.uplift import RewardModel, _dr

    # An offer's reward grows with the customer's value at a rate of its own: 0.1 for a, 0.5 for b.
    rows = [Row(cid, 0.5, ("a", "b"), "b", 0.0, (0.1 if cid == "a" else 0.5) * v, v)
            for v in (10.0, 20.0, 40.0, 80.0) for cid in ("a", "b")]
    q = RewardModel(rows, "spend")
    assert q("a", 30.0) == pytest.approx(3.0) and q("b", 30.0) == pytest.approx(15.0)
    assert q("unseen", 0.0) == pytest.approx(0.0)
    # With the rewards fitted exactly, "always the highest priority" (b) is b's reward at every row's value.
    truth = sum(0.5 * r.covariate for r in rows) / len(rows)
    assert _dr(rows, "highest_priority", "spend", q)["value"] == pytest.approx(truth, abs=1e-6)
