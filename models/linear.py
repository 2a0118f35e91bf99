"""An online logistic classifier whose explanations come from its own weights."""

from __future__ import annotations

from dataclasses import dataclass

from river import compose, linear_model, optim, preprocessing
from river.utils.math import sigmoid


@dataclass(frozen=True)
class Explanation:
    """How each feature moved the score, in log-odds.

    `contributions` holds every feature (weight times scaled value), so
    `intercept + sum(contributions.values()) == logit` and `sigmoid(logit)` is the
    model's own probability.
    """

    probability: float
    logit: float
    intercept: float
    contributions: dict[str, float]

    def raising(self) -> list[tuple[str, float]]:
        """Features that push the probability up, strongest first."""
        return sorted(((k, v) for k, v in self.contributions.items() if v > 0), key=lambda kv: -kv[1])

    def lowering(self) -> list[tuple[str, float]]:
        """Features that push the probability down, strongest first."""
        return sorted(((k, v) for k, v in self.contributions.items() if v < 0), key=lambda kv: kv[1])


class LinearClassifier:
    """Standard scaling then logistic regression, both learned one example at a time.

    Parameters
    ----------
    name
        What the model predicts (used in versions and reports).
    learning_rate
        Step size of the SGD optimizer.
    l2
        L2 regularisation of the weights.

    Examples
    --------
    >>> model = LinearClassifier("demo")
    >>> model.predict({"x": 1.0})
    0.5
    >>> for _ in range(1000):
    ...     model.learn({"x": 5.0}, True)
    ...     model.learn({"x": 1.0}, False)
    >>> model.predict({"x": 5.0}) > 0.8 > 0.2 > model.predict({"x": 1.0})
    True
    >>> e = model.explain({"x": 5.0})
    >>> abs(e.intercept + sum(e.contributions.values()) - e.logit) < 1e-9
    True
    """

    def __init__(self, name: str, learning_rate: float = 0.01, l2: float = 0.0) -> None:
        self.name = name
        self.learning_rate = learning_rate
        self.l2 = l2
        self.pipeline = compose.Pipeline(
            preprocessing.StandardScaler(),
            linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate), l2=l2),
        )
        self.n_learned = 0

    def predict(self, features: dict[str, float]) -> float:
        return float(self.pipeline.predict_proba_one(features).get(True, 0.0))

    def learn(self, features: dict[str, float], label: bool) -> None:
        self.pipeline.learn_one(dict(features), bool(label))
        self.n_learned += 1

    def explain(self, features: dict[str, float]) -> Explanation:
        scaled = self.pipeline["StandardScaler"].transform_one(dict(features))
        regression = self.pipeline["LogisticRegression"]
        weights = regression.weights
        contributions = {k: weights.get(k, 0.0) * v for k, v in scaled.items()}
        intercept = float(regression.intercept)
        logit = intercept + sum(contributions.values())
        return Explanation(
            probability=float(sigmoid(logit)),  # River's own link, so it equals `predict`
            logit=logit,
            intercept=intercept,
            contributions=contributions,
        )

    @property
    def version(self) -> str:
        return f"{self.name}-logreg-v1+{self.n_learned}"
