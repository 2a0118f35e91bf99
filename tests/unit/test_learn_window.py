"""Churn, propensity and lifetime value learn over a short window and answer over their own.

Labels of a 182-day window resolve, at any moment, only for predictions made half a year
before it, all of them from customers younger than the ones scored then. So the weights learn
over `learn_window_days` (30), and a longer window is answered with those weights and the
purchase process's odds over the longer one.
"""

import math
import random

from core import LoyaltyEngine, load_catalog
from core.engine import EngineConfig
from core.features import customer_features
from core.state import DAY
from models.btyd import PurchaseProcess
from models.churn import ChurnModel
from models.linear import OFFSET, LinearClassifier
from models.ltv import LifetimeValueModel
from tests.unit.factories import purchase

CUSTOMER = {"repeat_days": 3.0, "mean_repeat_spend": 40.0, "tenure_days": 200.0, "days_since_purchase": 50.0}


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _trained_churn(**kwargs) -> ChurnModel:
    process = PurchaseProcess()
    model = ChurnModel(process=process, offset="logit_none_in_horizon", **kwargs)
    rng = random.Random(3)
    for _ in range(300):
        x = {**CUSTOMER, "days_since_purchase": rng.uniform(0, 100), "tenure_days": rng.uniform(100, 300)}
        model.learn_one(x, x["days_since_purchase"] > 40)
    return model


def test_a_longer_window_keeps_the_weights_and_takes_the_process_odds_over_it():
    model = _trained_churn(horizon_days=30.0, score_horizon_days=182.0)
    at_30 = model.process.augment(CUSTOMER, 30.0)["logit_none_in_horizon"]
    at_182 = model.process.augment(CUSTOMER, 182.0)["logit_none_in_horizon"]
    assert at_182 < at_30  # no purchase in half a year is less likely than in a month
    correction, intercept = model.correction(CUSTOMER), model._parameters()[1]
    assert abs(_logit(model.predict_label_one(CUSTOMER)) - (correction + at_30)) < 1e-9
    # The intercept counts 30/182 of itself over 182 days (`LinearClassifier._level`).
    assert abs(_logit(model.predict_one(CUSTOMER)) - (correction - intercept * (1 - 30 / 182) + at_182)) < 1e-9
    explained = model.explanation(CUSTOMER)
    assert abs(explained["probability"] - model.predict_one(CUSTOMER)) < 1e-12
    assert abs(explained["contributions"][OFFSET] - at_182) < 1e-9


def test_a_level_the_recent_labels_learned_lasts_their_window_and_the_process_holds_beyond_it():
    # Every label of the last months says more churn than the process: the intercept learns it.
    process = PurchaseProcess()
    model = ChurnModel(process=process, offset="logit_none_in_horizon", horizon_days=30.0, score_horizon_days=182.0)
    for _ in range(400):
        model.learn_one(CUSTOMER, True)
    intercept = model._parameters()[1]
    assert intercept > 0.5
    offset = {h: process.augment(CUSTOMER, h)["logit_none_in_horizon"] for h in (30.0, 60.0, 182.0)}
    weights = model.correction(CUSTOMER) - intercept
    for days, share in ((30.0, 1.0), (60.0, 0.5), (182.0, 30 / 182)):
        assert abs(_logit(model.predict_at(CUSTOMER, days)) - (offset[days] + weights + share * intercept)) < 1e-9
    explained = model.explanation(CUSTOMER)  # explained over 182 days as predicted
    assert abs(explained["intercept"] - intercept * 30 / 182) < 1e-12
    assert abs(explained["probability"] - model.predict_one(CUSTOMER)) < 1e-12
    # A model without an offset has no process to hand the level to: it keeps its whole intercept.
    plain = LinearClassifier("demo", horizon_days=30.0, score_horizon_days=182.0)
    for _ in range(50):
        plain.learn_one({"x": 1.0}, True)
    assert plain._level(0.8, 182.0) == 0.8


def test_the_same_window_answers_as_it_learns():
    model = _trained_churn(horizon_days=30.0, score_horizon_days=30.0)
    assert model.score_horizon_days is None
    assert model.predict_one(CUSTOMER) == model.predict_label_one(CUSTOMER)


def test_a_value_beyond_what_the_weights_learned_from_is_read_as_the_nearest_bound():
    model = LinearClassifier("demo")
    for n in range(200):
        model.learn_one({"age": float(n % 50)}, n % 50 > 25)
    assert model.predict_one({"age": 49.0}) > 0.5
    assert model.predict_one({"age": 5000.0}) == model.predict_one({"age": 49.0})
    assert model.predict_one({"age": -300.0}) == model.predict_one({"age": 0.0})


def _log_loss(model: LinearClassifier, data) -> float:
    eps = 1e-12
    return -sum(math.log(max(eps, p if y else 1 - p)) for x, y in data for p in [model.predict_one(x)]) / len(data)


def test_averaged_weights_predict_better_than_the_last_step_on_a_steady_stream():
    rng = random.Random(7)

    def draw():
        x = {"a": rng.gauss(0, 1), "b": rng.gauss(0, 1)}
        return x, rng.random() < 1 / (1 + math.exp(-(0.3 * x["a"] - 2.0)))

    train, test = [draw() for _ in range(6000)], [draw() for _ in range(4000)]
    plain, averaged = LinearClassifier("plain", learning_rate=0.05), LinearClassifier("avg", learning_rate=0.05,
                                                                                       average_examples=2000)
    for x, y in train:
        plain.learn_one(x, y)
        averaged.learn_one(x, y)
    assert averaged.average is not None
    assert _log_loss(averaged, test) < _log_loss(plain, test)


def test_value_follows_churns_weights_on_who_buys_at_all():
    process = PurchaseProcess()
    churn = ChurnModel(process=process, offset="logit_none_in_horizon", horizon_days=30.0)
    value = LifetimeValueModel(horizon_days=30.0, score_horizon_days=90.0, process=process, churn=churn)
    alone = LifetimeValueModel(horizon_days=30.0, score_horizon_days=90.0, process=process)
    assert value.predict_one(CUSTOMER) == alone.predict_one(CUSTOMER) > 0  # weights 0: the process alone
    for _ in range(200):  # churn learns that customers like this one buy nothing
        churn.learn_one(CUSTOMER, True)
    assert churn.correction(CUSTOMER) > 0
    assert value.predict_one(CUSTOMER) < alone.predict_one(CUSTOMER)


def test_the_engine_labels_over_the_learn_window_and_serves_the_configured_one():
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig(churn_window_days=182, ltv_horizon_days=90))
    state = None
    for n, day in enumerate((0, 10, 25, 40)):
        outcome = engine.on_purchase(state, purchase("c", day=day, n=n))
        state = outcome.state
    churn, value = engine.models["churn"], engine.models["lifetime_value"]
    assert (churn.horizon_days, churn.score_horizon_days) == (30.0, 182.0)
    assert (value.horizon_days, value.score_horizon_days) == (30.0, 90.0)
    churn_labels = [p for k, p in state.pending.items() if k.startswith("churn")]
    assert churn_labels and all(p.deadline - p.at == 30 * DAY for p in churn_labels)
    label = max(churn_labels, key=lambda p: p.at)  # the last purchase's, by the models as they are now
    assert state.pending["lifetime_value"].deadline - state.pending["lifetime_value"].at == 30 * DAY
    served = outcome.scores["churn_probability"]
    assert abs(label.prediction - churn.predict_label_one(label.features)) < 1e-6
    assert served < label.prediction  # none in 182 days is less likely than none in 30


def test_any_horizon_is_answered_by_the_same_weights_over_the_process_odds_for_it():
    model = _trained_churn(horizon_days=30.0, score_horizon_days=182.0)
    assert model.predict_at(CUSTOMER, 182.0) == model.predict_one(CUSTOMER)
    assert model.predict_at(CUSTOMER, 30.0) == model.predict_label_one(CUSTOMER)
    correction, intercept = model.correction(CUSTOMER), model._parameters()[1]
    at_90 = model.process.augment(CUSTOMER, 90.0)["logit_none_in_horizon"]
    assert abs(_logit(model.predict_at(CUSTOMER, 90.0)) - (correction - intercept * (1 - 30 / 90) + at_90)) < 1e-9
    at_7 = model.process.augment(CUSTOMER, 7.0)["logit_none_in_horizon"]
    assert abs(_logit(model.predict_at(CUSTOMER, 7.0)) - (correction + at_7)) < 1e-9  # shorter: the whole intercept
    answers = [model.predict_at(CUSTOMER, days) for days in (1, 7, 30, 90, 365, 3650)]
    assert answers == sorted(answers, reverse=True)  # no purchase in a longer time is less likely
    for bad in (0.0, -7.0, math.inf, math.nan):
        try:
            model.predict_at(CUSTOMER, bad)
        except ValueError as error:
            assert "positive number of days" in str(error)
        else:
            raise AssertionError(f"{bad} days answered")
    # A model without the purchase process answers only over its own window.
    plain = LinearClassifier("engagement", horizon_days=30.0)
    assert plain.predict_at({"x": 1.0}, 30.0) == plain.predict_one({"x": 1.0})
    try:
        plain.predict_at({"x": 1.0}, 90.0)
    except ValueError as error:
        assert "only over 30 days" in str(error)
    else:
        raise AssertionError("a model without a process answered over another horizon")


def test_the_engine_answers_churn_and_value_at_any_horizon_as_of_now():
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig(churn_window_days=30, ltv_horizon_days=90))
    state = None
    for n, day in enumerate((0, 10, 25, 40)):
        state = engine.on_purchase(state, purchase("c", day=day, n=n)).state
    now = engine.watermark
    served = engine.current(state).scores
    assert engine.at_horizon(state, 30)["churn_probability"] == served["churn_probability"]
    assert engine.at_horizon(state, 90)["lifetime_value"] == served["lifetime_value"]
    answers = [engine.at_horizon(state, days) for days in (7, 30, 90, 365)]
    assert [a["churn_probability"] for a in answers] == sorted((a["churn_probability"] for a in answers), reverse=True)
    assert [a["lifetime_value"] for a in answers] == sorted(a["lifetime_value"] for a in answers)
    purchases = [a["expected_purchases"] for a in answers]
    assert purchases == sorted(purchases) and purchases[0] > 0
    # Value is purchases times the spend per purchase and the spend calibration: the same shape over horizons.
    value = engine.models["lifetime_value"]
    features = customer_features(state, now)
    assert value.purchases_at(features, 90) < value.purchases_at(features, 365)
    try:
        value.purchases_at({"days_since_purchase": 3.0}, 90)  # no counts, no process to count with
    except ValueError as error:
        assert "no purchase process" in str(error)
    else:
        raise AssertionError("purchases counted without the customer's counts")
    assert answers[0]["learned_over_days"] == 30.0 and answers[0]["days"] == 7
    # As of the watermark: the same customer, silent for 60 more days, is likelier gone.
    later = engine.at_horizon(state, 90, now=now + 60 * DAY)
    assert later["churn_probability"] > answers[2]["churn_probability"]
