"""Our own offers are treatment, not evidence: churn, propensity and lifetime value do not read the
features that count them; the campaign response model does."""

from core import LoyaltyEngine, load_catalog
from core.features import FEATURE_NAMES, TREATMENT_FEATURES
from models.suite import OUTCOME_MODELS


def test_outcome_models_ignore_the_offer_features_and_campaign_response_reads_them():
    assert set(TREATMENT_FEATURES) <= set(FEATURE_NAMES)
    models = LoyaltyEngine(load_catalog()).models
    # Examples whose label follows the offers received alone.
    for i in range(400):
        offers = float(i % 2)
        x = {"days_since_purchase": float(i % 30), "log_offers_received": offers, "offer_response_rate": offers / 2}
        for task in (*OUTCOME_MODELS, "campaign_response"):
            models[task].learn_one(x, 50.0 * offers if task == "lifetime_value" else bool(offers))

    def answers(task):
        return [models[task].predict_one({"days_since_purchase": 10.0, "log_offers_received": o,
                                          "offer_response_rate": o / 2}) for o in (0.0, 1.0)]

    for task in OUTCOME_MODELS:
        low, high = answers(task)
        assert low == high, task
    low, high = answers("campaign_response")
    assert high > low + 0.2
