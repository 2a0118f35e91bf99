"""Churn: the probability that a customer makes no purchase within the churn window."""

from __future__ import annotations

from typing import Literal

from models.linear import LinearClassifier

RiskBand = Literal["LOW", "MEDIUM", "HIGH"]

# How many factors an explanation lists at most.
MAX_FACTORS = 5


class ChurnModel(LinearClassifier):
    """Online logistic regression with risk bands and explanations that match the band.

    A LOW prediction is explained by its protective factors (those lowering the
    risk), a HIGH one by its critical risk factors (those raising it), a MEDIUM one
    by both. Each factor's contribution is the model's weight times the scaled
    feature value, in log-odds.

    Parameters
    ----------
    learning_rate
        Step size of the SGD optimizer.
    medium_at, high_at
        Probability thresholds of the MEDIUM and HIGH risk bands.

    Examples
    --------
    >>> model = ChurnModel()
    >>> model.predict_one({"days_since_purchase": 3.0})
    0.5
    >>> for _ in range(1000):
    ...     model.learn_one({"days_since_purchase": 40.0}, True)
    ...     model.learn_one({"days_since_purchase": 2.0}, False)
    >>> model.predict_one({"days_since_purchase": 40.0}) > 0.8 > 0.2 > model.predict_one({"days_since_purchase": 2.0})
    True
    >>> e = model.explanation({"days_since_purchase": 40.0})
    >>> e["risk_band"], [f["feature"] for f in e["factors"]], e["factors"][0]["effect"]
    ('HIGH', ['days_since_purchase'], 'raises')
    """

    def __init__(self, learning_rate: float = 0.01, medium_at: float = 0.35, high_at: float = 0.6,
                 ignore: tuple[str, ...] = (), process=None, horizon_days: float = 30.0,
                 offset: str | None = None, score_horizon_days: float | None = None,
                 average_examples: int | None = None) -> None:
        super().__init__("churn", learning_rate=learning_rate, ignore=ignore, process=process,
                         horizon_days=horizon_days, offset=offset, score_horizon_days=score_horizon_days,
                         average_examples=average_examples)
        self.medium_at = medium_at
        self.high_at = high_at

    def risk_band(self, probability: float) -> RiskBand:
        if probability >= self.high_at:
            return "HIGH"
        if probability >= self.medium_at:
            return "MEDIUM"
        return "LOW"

    def explanation(self, features: dict[str, float]) -> dict:
        """The prediction, its band, and the factors that band calls for, from the model itself."""
        e = self.explain(features)
        band = self.risk_band(e.probability)
        if band == "HIGH":
            listed = e.raising()[:MAX_FACTORS]
        elif band == "LOW":
            listed = e.lowering()[:MAX_FACTORS]
        else:
            half = (MAX_FACTORS + 1) // 2
            listed = e.raising()[:half] + e.lowering()[: MAX_FACTORS - half]
        return {
            "probability": e.probability,
            "risk_band": band,
            "view": {"HIGH": "critical risk factors", "LOW": "protective factors", "MEDIUM": "balanced"}[band],
            "intercept": e.intercept,
            "logit": e.logit,
            "factors": [
                {"feature": k, "value": features.get(k, 0.0), "contribution": v, "effect": "raises" if v > 0 else "lowers"}
                for k, v in listed
            ],
            "contributions": e.contributions,
        }
