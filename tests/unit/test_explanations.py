"""Churn explanations match their prediction, and add up to the model's own score."""

from __future__ import annotations

import math
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from river.utils.math import sigmoid

from core import LoyaltyEngine, customer_features, load_catalog
from sim.population import generate, topic_of
from core.replay import Replay
from core.state import DAY
from schemas import encode
from schemas.scores import ChurnScore


@lru_cache(maxsize=1)
def trained():
    engine = LoyaltyEngine(load_catalog())
    replay = Replay(engine)
    replay.run((topic_of(e), e.customer_id.encode(), encode(e)) for e in generate(customers=150, days=365, seed=3)[1])
    return engine, sorted(replay.states.values(), key=lambda s: s.customer_id)


@st.composite
def customer_moments(draw):
    """A real customer's features at some moment after their last purchase, some values nudged."""
    engine, states = trained()
    state = draw(st.sampled_from([s for s in states if s.last_purchase_at is not None]))
    now = state.last_purchase_at + draw(st.floats(min_value=0, max_value=200)) * DAY
    features = customer_features(state, now)
    for name in draw(st.lists(st.sampled_from(sorted(features)), max_size=3, unique=True)):
        features[name] = draw(st.floats(min_value=0, max_value=500, allow_nan=False))
    return engine.churn, features


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customer_moments())
def test_explanation_matches_the_band_and_adds_up(moment):
    model, features = moment
    e = model.explanation(features)
    ChurnScore.model_validate({k: v for k, v in e.items() if k != "contributions"})
    # The decomposition is the model's own: intercept plus every contribution is its logit.
    assert math.isclose(e["intercept"] + sum(e["contributions"].values()), e["logit"], abs_tol=1e-9)
    assert math.isclose(e["probability"], model.predict_one(features), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(e["probability"], sigmoid(e["logit"]), rel_tol=1e-9, abs_tol=1e-12)
    listed = {f["feature"]: f["contribution"] for f in e["factors"]}
    assert all(e["contributions"][k] == v for k, v in listed.items())
    raising = [k for k, v in e["contributions"].items() if v > 0]
    lowering = [k for k, v in e["contributions"].items() if v < 0]
    if e["risk_band"] == "HIGH":
        assert e["view"] == "critical risk factors"
        assert all(v > 0 for v in listed.values())
        assert len(listed) == min(5, len(raising))
    elif e["risk_band"] == "LOW":
        assert e["view"] == "protective factors"
        assert all(v < 0 for v in listed.values())
        assert len(listed) == min(5, len(lowering))
    else:
        assert e["view"] == "balanced"
        if raising and lowering:
            assert any(v > 0 for v in listed.values()) and any(v < 0 for v in listed.values())
    for f in e["factors"]:
        assert f["effect"] == ("raises" if f["contribution"] > 0 else "lowers")


def test_all_three_bands_occur_on_real_customers():
    engine, states = trained()
    bands = set()
    for state in states:
        for days in (0, 20, 60, 150):
            now = state.last_purchase_at + days * DAY if state.last_purchase_at else 0.0
            bands.add(engine.churn.explanation(customer_features(state, now))["risk_band"])
    assert bands == {"LOW", "MEDIUM", "HIGH"}


def test_silence_raises_the_churn_risk_of_a_regular_customer():
    engine, states = trained()
    regular = max((s for s in states if s.purchase_count >= 10), key=lambda s: s.purchase_count)
    risks = [engine.churn.predict_one(customer_features(regular, regular.last_purchase_at + d * DAY)) for d in (0, 30, 90)]
    assert risks[0] < risks[1] < risks[2]
