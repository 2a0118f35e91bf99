"""Lifetime value: expected spend over a horizon, learned by online regression."""

from __future__ import annotations

import math

from river import compose, linear_model, optim, preprocessing

from models.linear import clip_scaled




# Predictions are capped at about 1.6 million: no loyalty customer spends more in a horizon.
MAX_LOG_SPEND = 14.3


class LifetimeValueModel:
    """Predicts spend over the next `horizon_days` from the customer's features.

    It learns on log1p(spend) so a few big spenders do not dominate the squared
    error, and answers in currency units, never below zero: the log model's answer
    turned back, times the ratio of the spend seen to the spend so predicted, so
    that the mean prediction is the mean spend (the log model alone predicts about
    the median, near zero for most customers).

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

    def __init__(self, horizon_days: float = 90.0, learning_rate: float = 0.01, ignore: tuple[str, ...] = (),
                 process=None) -> None:
        self.name = "lifetime_value"
        self.process = process  # a `models.btyd.PurchaseProcess`: its expected spend is an input
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
        # Spend seen and spend predicted (the log model's answer turned back) over every example: their
        # ratio scales predictions so their mean is the mean spend, which the log model's is not.
        self.spend_seen = 0.0
        self.spend_predicted = 0.0

    def predict_one(self, x: dict[str, float]) -> float:
        """Spend over the next `horizon_days`."""
        if self.process is not None:
            x = self.process.augment(x, self.horizon_days)
        return self._spend(x) * self.scale

    @property
    def scale(self) -> float:
        """Spend seen over spend the log model predicted, within [0.1, 100] (1 before 100 examples)."""
        if self.n_learned < 100 or self.spend_predicted <= 0:
            return 1.0
        return max(0.1, min(100.0, self.spend_seen / self.spend_predicted))

    def _spend(self, x: dict[str, float]) -> float:
        return max(0.0, math.expm1(max(-20.0, min(MAX_LOG_SPEND, self.pipeline.predict_one(x)))))

    def learn_one(self, x: dict[str, float], y: float) -> None:
        """`y` is the spend seen over the horizon."""
        x = self.process.augment(x, self.horizon_days) if self.process is not None else dict(x)
        self.spend_seen += max(0.0, y)
        self.spend_predicted += self._spend(x)
        self.pipeline.learn_one(x, math.log1p(max(0.0, y)))
        self.n_learned += 1

    @property
    def version(self) -> str:
        return f"ltv-linreg-v1+{self.n_learned}"
