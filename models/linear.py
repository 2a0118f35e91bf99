"""An online logistic classifier whose explanations come from its own weights."""

from __future__ import annotations

import math
from dataclasses import dataclass

from river import compose, linear_model, optim, preprocessing
from river.utils.math import sigmoid


CLIP = 5.0


def _clip(z: float) -> float:
    return CLIP if z > CLIP else -CLIP if z < -CLIP else z


def check_horizon(days: float) -> None:
    """ValueError unless `days` is a horizon a model can answer over: a positive, finite number of days."""
    if not days > 0 or math.isinf(days):  # NaN fails the first test
        raise ValueError(f"a horizon is a positive number of days, not {days!r}")


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

    # Defaults for models pickled before these existed.
    score_horizon_days: float | None = None
    bounds: dict = {}
    average_examples: int | None = None
    average: tuple | None = None

    def __init__(self, name: str, learning_rate: float = 0.01, l2: float = 0.0, ignore: tuple[str, ...] = (),
                 process=None, horizon_days: float = 30.0, offset: str | None = None, offset_sign: float = 1.0,
                 score_horizon_days: float | None = None, average_examples: int | None = None) -> None:
        self.name = name
        # A `models.btyd.PurchaseProcess` shared with other models: its features over `horizon_days`
        # (probability alive, of no purchase in the horizon, ...) are added to every input.
        self.process = process
        # The horizon the labels resolve over: what the weights learn, and what the quality grades.
        self.horizon_days = horizon_days
        # The horizon `predict_one` answers for, when longer: the weights (learned over
        # `horizon_days`) stay, and the offset is the process's answer over this horizon. Labels of a
        # short window resolve for customers of every age; a long window's have resolved, at any
        # moment, only for predictions made at least that long ago (see docs/models.md).
        self.score_horizon_days = score_horizon_days if score_horizon_days != horizon_days else None
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
        # Predict with an exponential average of the weights over about this many examples (from the
        # start, a plain average), not the last SGD step's: a constant step keeps the weights
        # wandering around their optimum, and on a history the offset already explains (a BG/NBD
        # population) that noise alone cost churn 0.003 of Brier score at 30 days.
        self.average_examples = average_examples
        self.average: tuple[dict[str, float], float] | None = None
        # Each feature's range over the examples learned: a value outside it is read as its nearest
        # bound, so the weights never extrapolate beyond what they learned from and the offset (the
        # purchase process) speaks for the rest.
        self.bounds: dict[str, tuple[float, float]] = {}
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
            average = self.average
            if average is not None:
                weights = average[0]
            bounds = self.bounds
            terms = {name: (scaler.means[name], variance**0.5, weights.get(name, 0.0),
                            *bounds.get(name, (-math.inf, math.inf)))
                     for name, variance in scaler.vars.items() if variance}
            intercept = average[1] if average is not None else float(regression.intercept)
            self._params = (terms, intercept)
        return self._params

    def _terms(self, features: dict[str, float]):
        """Each feature's contribution to the logit: weight times the standard-scaled value."""
        terms = self._parameters()[0]
        for name, value in features.items():
            term = terms.get(name)
            if term is None:
                yield name, 0.0
                continue
            value = term[3] if value < term[3] else term[4] if value > term[4] else value
            yield name, term[2] * _clip((value - term[0]) / term[1])

    def _level(self, intercept: float, horizon: float | None) -> float:
        """The intercept's share of the logit over `horizon` (None: the labels' own).

        With an offset, the intercept is how far the labels of the last `horizon_days` windows fell from
        the purchase process: a deviation of the recent past (a season, a drift), while the process
        answers from every customer's whole history. Over a longer horizon it is taken to last
        `horizon_days` and the process's level to hold for the rest, so it counts `horizon_days /
        horizon` of itself. Held whole over 182 days, a late-summer lull on CDNOW cost churn 0.004 of
        Brier score (docs/models.md).
        """
        if self.offset is None or horizon is None or horizon <= self.horizon_days:
            return intercept
        return intercept * self.horizon_days / horizon

    def _logit(self, x: dict[str, float], horizon: float | None, offset: bool = True) -> float:
        """The logit: intercept, the weights on the features over `horizon_days`, and the offset over `horizon`
        (the intercept scaled to `horizon` as `_level` says; whole without the offset)."""
        terms, logit = self._parameters()
        if offset:
            logit = self._level(logit, horizon)
        if self.process is not None:
            augmented = self.process.augment(x, self.horizon_days)
            if offset:
                at = augmented if horizon is None or horizon == self.horizon_days else self.process.augment(x, horizon)
                logit += self._offset(at)
            x = augmented
        for name, value in x.items():  # `_terms`, inlined: this is the hot path
            term = terms.get(name)
            if term is not None:
                value = term[3] if value < term[3] else term[4] if value > term[4] else value
                z = (value - term[0]) / term[1]
                logit += term[2] * (CLIP if z > CLIP else -CLIP if z < -CLIP else z)
        return logit

    def predict_one(self, x: dict[str, float]) -> float:
        """The probability of the positive class over the horizon it answers for (`score_horizon_days`)."""
        return float(sigmoid(self._logit(x, self.score_horizon_days)))

    def predict_label_one(self, x: dict[str, float]) -> float:
        """The probability over the horizon its labels resolve over: what its quality grades."""
        return float(sigmoid(self._logit(x, None)))

    def predict_at(self, x: dict[str, float], days: float) -> float:
        """The probability over any horizon of `days`: the weights learned over `horizon_days` on top of the
        purchase process's log-odds over `days` (what `predict_one` does for `score_horizon_days`).

        A model without a purchase process or an offset answers only over its own horizon (ValueError).
        """
        check_horizon(days)
        own = self.score_horizon_days or self.horizon_days
        if days != own and (self.process is None or self.offset is None):
            raise ValueError(f"{self.name} answers only over {own:g} days")
        return float(sigmoid(self._logit(x, days)))

    def correction(self, x: dict[str, float]) -> float:
        """What the weights add to the offset's logit over the labels' horizon (the whole intercept included)."""
        return self._logit(x, None, offset=False)

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        x = self.process.augment(x, self.horizon_days) if self.process is not None else dict(x)
        bounds = self.__dict__.setdefault("bounds", {})
        for name, value in x.items():
            seen = bounds.get(name)
            if seen is None:
                bounds[name] = (value, value)
            elif value < seen[0]:
                bounds[name] = (value, seen[1])
            elif value > seen[1]:
                bounds[name] = (seen[0], value)
        regression = self.pipeline["OffsetLogisticRegression"]
        regression.offset = self._offset(x)
        try:
            self.pipeline.learn_one(x, bool(y))
        finally:
            regression.offset = 0.0
        self._params = None
        self.n_learned += 1
        if self.average_examples:
            self._average(regression)

    def _average(self, regression) -> None:
        """Move the averaged weights and intercept towards the ones just learned."""
        weights, intercept = regression.weights, float(regression.intercept)
        if self.average is None:
            self.average = (dict(weights), intercept)
            return
        step = max(1.0 / self.n_learned, 1.0 / self.average_examples)
        averaged, averaged_intercept = self.average
        for name, weight in weights.items():
            previous = averaged.get(name, weight)
            averaged[name] = previous + (weight - previous) * step
        self.average = (averaged, averaged_intercept + (intercept - averaged_intercept) * step)

    def explain(self, features: dict[str, float]) -> Explanation:
        intercept = self._level(self._parameters()[1], self.score_horizon_days)
        raw = features
        if self.process is not None:
            features = self.process.augment(features, self.horizon_days)
        contributions = dict(self._terms(features))
        if self.offset is not None:
            horizon = self.score_horizon_days
            contributions[OFFSET] = self._offset(features if self.process is None or horizon is None
                                                 else self.process.augment(raw, horizon))
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
