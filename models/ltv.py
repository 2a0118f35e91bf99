"""Lifetime value: expected spend over a horizon, learned by online regression."""

from __future__ import annotations

import math

from river import compose, linear_model, optim, preprocessing


def clip_scaled(x: dict[str, float]) -> dict[str, float]:
    """Bound standardised features to +-5: a rare feature must not dominate a regression."""
    return {k: max(-5.0, min(5.0, v)) for k, v in x.items()}


# Predictions are capped at about 1.6 million: no loyalty customer spends more in a horizon.
MAX_LOG_SPEND = 14.3


class LifetimeValueModel:
    """Predicts spend over the next `horizon_days` from the customer's features.

    It learns on log1p(spend) so a few big spenders do not dominate the squared
    error, and answers in currency units, never below zero.

    Examples
    --------
    >>> model = LifetimeValueModel()
    >>> model.predict_one({"rate": 1.0})
    0.0
    >>> for _ in range(500):
    ...     model.learn_one({"rate": 4.0}, 400.0)
    ...     model.learn_one({"rate": 1.0}, 20.0)
    >>> model.predict_one({"rate": 4.0}) > 150 > 40 > model.predict_one({"rate": 1.0})
    True
    """

    def __init__(self, horizon_days: float = 90.0, learning_rate: float = 0.01, ignore: tuple[str, ...] = ()) -> None:
        self.name = "lifetime_value"
        self.horizon_days = horizon_days
        self.learning_rate = learning_rate
        self.ignore = tuple(ignore)  # features never read (see `LinearClassifier`)
        self.pipeline = compose.Pipeline(
            *([compose.Discard(*ignore)] if ignore else []),
            preprocessing.StandardScaler(),
            compose.FuncTransformer(clip_scaled),
            # Clipped gradients: early on the scaler's statistics are shaky, and one
            # wild scaled value must not throw the weights off for good.
            linear_model.LinearRegression(optimizer=optim.SGD(learning_rate), intercept_lr=0.05, clip_gradient=1.0),
        )
        self.n_learned = 0

    def predict_one(self, x: dict[str, float]) -> float:
        """Spend over the next `horizon_days`."""
        return max(0.0, math.expm1(max(-20.0, min(MAX_LOG_SPEND, self.pipeline.predict_one(x)))))

    def learn_one(self, x: dict[str, float], y: float) -> None:
        """`y` is the spend seen over the horizon."""
        self.pipeline.learn_one(dict(x), math.log1p(max(0.0, y)))
        self.n_learned += 1

    @property
    def version(self) -> str:
        return f"ltv-linreg-v1+{self.n_learned}"
