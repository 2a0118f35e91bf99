"""Every model of the suite answers through `OnlineModel`, and keeps river's estimator habits:
it pickles and comes back answering the same, leaves its inputs untouched, and answers in
the shape its callers read."""

from __future__ import annotations

import copy
import math
import pickle

import pytest

from models import OnlineModel
from models.suite import ModelSuite

CLASSIFIERS = ("churn", "propensity", "engagement", "campaign_response", "upsell", "payment_default")
MEMBERS = (*CLASSIFIERS, "lifetime_value", "rfm", "recommendation", "next_best_offer")


def examples(name: str, n: int = 60) -> list[tuple[dict, object]]:
    """`n` labelled examples of the kind model `name` learns from."""
    out = []
    for i in range(n):
        if name in CLASSIFIERS:
            x = {"days_since_purchase": float(i % 40), "purchases_90d": float(i % 7)}
            out.append((x, x["days_since_purchase"] > 20))
        elif name == "lifetime_value":
            x = {"days_since_purchase": float(i % 40), "purchases_90d": float(i % 7)}
            out.append((x, 30.0 * x["purchases_90d"]))
        elif name == "rfm":
            out.append(({"recency_days": float(i % 40), "frequency": float(i % 9 + 1), "monetary": 12.5 * i}, None))
        elif name == "recommendation":
            out.append(({"customer_id": f"c{i % 5}"}, {f"cat{i % 4}": 5.0, f"cat{(i * 3) % 7}": 2.0}))
        else:
            out.append(({"campaign_id": f"camp{i % 3}", "key": f"k{i}"}, i % 4 == 0))
    return out


def probes(name: str) -> list[dict]:
    return [x for x, _ in examples(name, 12)]


def check_answer(name: str, answer) -> None:
    if name in CLASSIFIERS or name == "next_best_offer":
        assert isinstance(answer, float) and 0.0 <= answer <= 1.0
    elif name == "lifetime_value":
        assert isinstance(answer, float) and answer >= 0.0 and math.isfinite(answer)
    elif name == "rfm":
        assert set(answer) == {"recency_score", "frequency_score", "monetary_score", "rfm_code", "segment",
                               "value_segment"}
    else:
        assert isinstance(answer, list) and answer
        assert all(set(r) == {"category", "score"} and isinstance(r["score"], float) for r in answer)


def trained(name: str) -> OnlineModel:
    model = ModelSuite().members()[name]
    for x, y in examples(name):
        model.learn_one(x, y)
    return model


def test_the_suite_has_the_ten_models():
    assert tuple(sorted(ModelSuite().members())) == tuple(sorted(MEMBERS))


@pytest.mark.parametrize("name", MEMBERS)
def test_is_an_online_model_with_a_docstring_and_a_version(name):
    model = ModelSuite().members()[name]
    assert isinstance(model, OnlineModel)
    assert type(model).__doc__ and type(model).__doc__.strip()
    assert isinstance(model.version, str) and model.version


@pytest.mark.parametrize("name", MEMBERS)
def test_learn_one_and_predict_one_leave_their_inputs_untouched(name):
    model = ModelSuite().members()[name]
    for x, y in examples(name):
        x_before, y_before = copy.deepcopy(x), copy.deepcopy(y)
        model.predict_one(x)
        model.learn_one(x, y)
        assert (x, y) == (x_before, y_before)


@pytest.mark.parametrize("name", MEMBERS)
def test_answers_in_the_shape_its_callers_read(name):
    model = trained(name)
    for x in probes(name):
        check_answer(name, model.predict_one(x))


@pytest.mark.parametrize("name", MEMBERS)
def test_pickles_and_comes_back_answering_the_same(name):
    model = trained(name)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.version == model.version
    assert [clone.predict_one(x) for x in probes(name)] == [model.predict_one(x) for x in probes(name)]
    # and learns on from there as the original does
    more = examples(name, 80)[60:]
    for x, y in more:
        model.learn_one(x, y)
        clone.learn_one(x, y)
    assert [clone.predict_one(x) for x in probes(name)] == [model.predict_one(x) for x in probes(name)]


def test_the_recommenders_customer_block_gives_their_parameters_back_and_keeps_none():
    model = trained("recommendation")
    with model.customer("c9", None) as profile:
        model.learn_one({"customer_id": "c9"}, {"cat2": 3.0})
        inside = model.predict_one({"customer_id": "c9"})
    assert profile.parameters is not None and "c9" not in model.customer_counts
    # Outside the block c9 is unknown to the model: the popular categories, not c9's own.
    assert model.predict_one({"customer_id": "c9"}) == model.predict_one({"customer_id": "nobody"}) != inside
    with model.customer("c9", profile.parameters) as again:
        assert model.customer_counts["c9"] == profile.parameters[2]
        back = model.predict_one({"customer_id": "c9"})  # from the parameters as stored (rounded)
        assert [r["category"] for r in back] == [r["category"] for r in inside]
        assert all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(back, inside))
    assert again.parameters == profile.parameters
