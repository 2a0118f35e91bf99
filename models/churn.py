"""Churn: the probability that a customer makes no purchase within the churn window."""

from __future__ import annotations

from typing import Literal

from river import compose, linear_model, optim, preprocessing

RiskBand = Literal["LOW", "MEDIUM", "HIGH"]


class ChurnModel:
    """Online logistic regression on scaled features, learning one labeled example at a time.

    Parameters
    ----------
    learning_rate
        Step size of the SGD optimizer.
    medium_at, high_at
        Probability thresholds of the MEDIUM and HIGH risk bands.

    Examples
    --------
    >>> model = ChurnModel()
    >>> model.predict_proba({"days_since_purchase": 3.0})
    0.5
    >>> for _ in range(200):
    ...     model.learn({"days_since_purchase": 40.0}, churned=True)
    ...     model.learn({"days_since_purchase": 2.0}, churned=False)
    >>> model.predict_proba({"days_since_purchase": 40.0}) > 0.8 > 0.2 > model.predict_proba({"days_since_purchase": 2.0})
    True
    >>> model.risk_band(0.9), model.n_learned
    ('HIGH', 400)
    """

    def __init__(self, learning_rate: float = 0.05, medium_at: float = 0.35, high_at: float = 0.6) -> None:
        self.learning_rate = learning_rate
        self.medium_at = medium_at
        self.high_at = high_at
        self.pipeline = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate)),
        )
        self.n_learned = 0

    def predict_proba(self, features: dict[str, float]) -> float:
        return float(self.pipeline.predict_proba_one(features).get(True, 0.0))

    def learn(self, features: dict[str, float], churned: bool) -> None:
        # River's learn_one does not mutate `features`; pass a copy anyway so stored
        # pending features can never be changed by a model.
        self.pipeline.learn_one(dict(features), bool(churned))
        self.n_learned += 1

    def risk_band(self, probability: float) -> RiskBand:
        if probability >= self.high_at:
            return "HIGH"
        if probability >= self.medium_at:
            return "MEDIUM"
        return "LOW"

    @property
    def version(self) -> str:
        """Names the model and how much it has learned, for the assignments it drives."""
        return f"churn-logreg-v1+{self.n_learned}"
