"""An online logistic classifier whose explanations come from its own weights."""

from __future__ import annotations

from dataclasses import dataclass

from river import compose, linear_model, optim, preprocessing
from river.utils.math import sigmoid


CLIP = 5.0


def _clip(z: float) -> float:
    return CLIP if z > CLIP else -CLIP if z < -CLIP else z


def clip_scaled(x: dict[str, float]) -> dict[str, float]:
    """Bound standardised features to +-5: a rare value must not dominate a linear model."""
    return {k: _clip(v) for k, v in x.items()}


class _Offset:
    """A River GLM whose linear predictor adds `offset`, a number given with each example, not learned.

    With the purchase process's log-odds as the offset, a model starts as that process's prediction
    and its weights learn only what the process misses.
    """

    offset = 0.0

    def _raw_dot_one(self, x: dict) -> float:
        return super()._raw_dot_one(x) + self.offset


class OffsetLogisticRegression(_Offset, linear_model.LogisticRegression):
    pass


class OffsetLinearRegression(_Offset, linear_model.LinearRegression):
    pass


# The name an explanation gives the offset's share of the logit.
OFFSET = "purchase_process"


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
    ignore
        Features the model never reads (River's `compose.Discard` before the scaler): the
        system's own actions, for a model of what the customer does.

    Examples
    --------
    >>> model = LinearClassifier("demo")
    >>> model.predict_one({"x": 1.0})
    0.5
    >>> for _ in range(1000):
    ...     model.learn_one({"x": 5.0}, True)
    ...     model.learn_one({"x": 1.0}, False)
    >>> model.predict_one({"x": 5.0}) > 0.8 > 0.2 > model.predict_one({"x": 1.0})
    True
    >>> e = model.explain({"x": 5.0})
    >>> abs(e.intercept + sum(e.contributions.values()) - e.logit) < 1e-9
    True
    """

    def __init__(self, name: str, learning_rate: float = 0.01, l2: float = 0.0, ignore: tuple[str, ...] = (),
                 process=None, horizon_days: float = 30.0, offset: str | None = None, offset_sign: float = 1.0) -> None:
        self.name = name
        # A `models.btyd.PurchaseProcess` shared with other models: its features over `horizon_days`
        # (probability alive, of no purchase in the horizon, ...) are added to every input.
        self.process = process
        self.horizon_days = horizon_days
        # One of those features (times `offset_sign`) as the logit's starting point (`_Offset`).
        self.offset = offset
        self.offset_sign = offset_sign
        self.learning_rate = learning_rate
        self.l2 = l2
        self.ignore = tuple(ignore)
        self.pipeline = compose.Pipeline(
            *([compose.Discard(*ignore)] if ignore else []),
            preprocessing.StandardScaler(),
            # Scaled values bounded to +-5: early on the scaler's variances are tiny, and one
            # new customer's value many deviations out must not decide their score alone.
            compose.FuncTransformer(clip_scaled),
            OffsetLogisticRegression(optimizer=optim.SGD(learning_rate), l2=l2),
        )
        self.n_learned = 0
        self._params: tuple | None = None

    def _offset(self, x: dict[str, float]) -> float:
        return self.offset_sign * x.get(self.offset, 0.0) if self.offset is not None else 0.0

    def _parameters(self) -> tuple:
        """(terms, intercept) as the pipeline holds them after its last `learn_one`.

        `terms` maps each feature with a non-zero variance to (mean, standard deviation,
        weight); a feature without one contributes nothing, as in River's scaler.
        Predicting through River's pipeline builds a scaled dict and a Rust vector per call;
        the same arithmetic over the learned parameters, looked up once per `learn_one`, costs
        a fraction, and a purchase asks for a dozen predictions. Learning stays River's own.
        """
        if self._params is None:
            scaler = self.pipeline["StandardScaler"]
            regression = self.pipeline["OffsetLogisticRegression"]
            weights = regression.weights
            terms = {name: (scaler.means[name], variance**0.5, weights.get(name, 0.0))
                     for name, variance in scaler.vars.items() if variance}
            self._params = (terms, float(regression.intercept))
        return self._params

    def _terms(self, features: dict[str, float]):
        """Each feature's contribution to the logit: weight times the standard-scaled value."""
        terms = self._parameters()[0]
        for name, value in features.items():
            term = terms.get(name)
            yield name, term[2] * _clip((value - term[0]) / term[1]) if term is not None else 0.0

    def predict_one(self, x: dict[str, float]) -> float:
        """The probability of the positive class."""
        terms, logit = self._parameters()
        if self.process is not None:
            x = self.process.augment(x, self.horizon_days)
            logit += self._offset(x)
        for name, value in x.items():  # `_terms`, inlined: this is the hot path
            term = terms.get(name)
            if term is not None:
                z = (value - term[0]) / term[1]
                logit += term[2] * (CLIP if z > CLIP else -CLIP if z < -CLIP else z)
        return float(sigmoid(logit))

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        x = self.process.augment(x, self.horizon_days) if self.process is not None else dict(x)
        regression = self.pipeline["OffsetLogisticRegression"]
        regression.offset = self._offset(x)
        try:
            self.pipeline.learn_one(x, bool(y))
        finally:
            regression.offset = 0.0
        self._params = None
        self.n_learned += 1

    def explain(self, features: dict[str, float]) -> Explanation:
        intercept = self._parameters()[1]
        if self.process is not None:
            features = self.process.augment(features, self.horizon_days)
        contributions = dict(self._terms(features))
        if self.offset is not None:
            contributions[OFFSET] = self._offset(features)
        logit = intercept
        for contribution in contributions.values():  # summed as `predict_one` sums them
            logit += contribution
        return Explanation(
            probability=float(sigmoid(logit)),  # River's link on the same sum: it equals `predict_one`
            logit=logit,
            intercept=intercept,
            contributions=contributions,
        )

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_params": None}  # snapshots carry the pipeline, not this view of it

    @property
    def version(self) -> str:
        return f"{self.name}-logreg-v1+{self.n_learned}"
