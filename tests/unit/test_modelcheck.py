from functools import lru_cache

from core import LoyaltyEngine, load_catalog
from sim.modelcheck import check_models, sample_customer

NINE = {"churn", "propensity", "engagement", "campaign_response", "upsell", "payment_default",
        "lifetime_value", "rfm", "recommendation"}


@lru_cache(maxsize=1)
def warmed():
    engine = LoyaltyEngine(load_catalog())
    return engine, sample_customer(engine)


def test_all_nine_models_pass_on_a_sample_customer():
    engine, state = warmed()
    results = check_models(engine, state)
    assert {r.model for r in results} == NINE | {"score_record"}
    assert all(r.ok for r in results), [r for r in results if not r.ok]


def test_a_malformed_output_fails_loudly_and_by_name(monkeypatch):
    engine, state = warmed()
    monkeypatch.setattr(engine.models.rfm, "predict_one", lambda x: {"recency_score": 9, "segment": "champions"})
    monkeypatch.setattr(engine.models["upsell"], "predict_one", lambda x: 1.7)
    failed = {r.model: r.detail for r in check_models(engine, state) if not r.ok}
    assert set(failed) == {"rfm", "upsell", "score_record"}
    assert "malformed output" in failed["rfm"] and "recency_score" in failed["rfm"]
    assert "less than or equal to 1" in failed["upsell"]


def test_a_raising_model_fails_its_check_only(monkeypatch):
    engine, state = warmed()

    def broken(x, k=None):
        raise RuntimeError("index corrupt")

    monkeypatch.setattr(engine.models.recommendation, "predict_one", broken)
    failed = {r.model: r.detail for r in check_models(engine, state) if not r.ok}
    assert failed["recommendation"] == "raised RuntimeError: index corrupt"
    assert set(failed) == {"recommendation", "score_record"}
