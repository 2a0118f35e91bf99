"""A model version's scores for many customers at once, equal to the per-record ones.

`LoyaltyEngine._scores` asks each model for one customer at a time (`predict_one`): a dozen
dict walks and the purchase process's closed forms per scoring. With the models fixed between
version swaps (a scorer, `ModelSuite.frozen`), the scorings of a batch can be computed together:
the closed forms as numpy columns, each linear model's logit as a sum of columns, term by term.

The answers are the per-record ones, to the last bit, not approximately:
- the logits add the same terms in the same order, elementwise, so they are the same floats;
- numpy's exp and log can differ from `math`'s in the last bit, so the process's features (which
  are rounded to 6 decimals before any model reads them) are rounded here as `round` does, and a
  value within reach of a rounding boundary is computed again the per-record way;
- the links (sigmoid, expm1) and the final rounding are the per-record ones, per value.
`tests/unit/test_columns.py` holds the two paths equal over a replayed population.
"""

from __future__ import annotations

import math

import numpy as np
from river.utils.math import sigmoid
from scipy.special import hyp2f1

from models.linear import CLIP

PROCESS_FEATURES = ("logit_p_alive", "logit_none_in_horizon", "log_expected_purchases", "log_expected_spend")
CLASSIFIERS = ("churn", "propensity", "engagement", "upsell", "payment_default")
# Fewer rows than this are scored one by one: numpy's fixed cost per call outweighs what it saves
# (per row, 2026-12-07: 559 us for one row, 74 for 8, 20 for 64, 12 for 512, against 55 one by one).
FEWEST = 16
# Where a value's 7th decimal is this close to a half, numpy's last bit could round it the other way.
_NEAR_HALF = 1e-3


def _rounded(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`round(v, 6)` for each value, and where that is not certain for a value off by a few ulps."""
    scaled = values * 1e6
    fraction = scaled - np.floor(scaled)
    unsure = (np.abs(fraction - 0.5) < _NEAR_HALF) | ~np.isfinite(values)
    return np.rint(scaled) / 1e6, unsure


def process_columns(process, x, t_x, T, m, h: float) -> dict[str, np.ndarray]:
    """`PurchaseProcess.features` for arrays of customers over `h` days: the same four rounded values."""
    params = process.parameters
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(all="ignore"):
        log_odds = np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        p_alive = np.where(x <= 0, 1.0, 1.0 / (1.0 + np.exp(np.minimum(700.0, log_odds))))
        ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + h)))
        none = (1.0 - p_alive) + p_alive * ratio
        a1 = a
        if abs(a1 - 1.0) < 1e-6:
            a1 = 1.0 + 1e-6 if a1 >= 1.0 else 1.0 - 1e-6
        head = (a1 + b + x - 1) / (a1 - 1) * (1.0 - ratio * hyp2f1(r + x, b + x, a1 + b + x - 1, h / (alpha + T + h)))
        purchases = np.maximum(0.0, np.where(x > 0, head * p_alive, head))
        p, q, gamma = params.p, max(params.q, 1.0 + 1e-6), params.gamma
        per = np.where((x <= 0) | (m <= 0), p * gamma / (q - 1), (gamma + m * x) * p / (p * x + q - 1))
        alive = np.minimum(1 - 1e-9, np.maximum(1e-9, p_alive))
        none = np.minimum(1 - 1e-9, np.maximum(1e-9, none))
        raw = (np.log(alive / (1 - alive)), np.log(none / (1 - none)), np.log1p(purchases), np.log1p(purchases * per))
    columns, unsure = {}, np.zeros(len(x), dtype=bool)
    for name, values in zip(PROCESS_FEATURES, raw):
        columns[name], doubt = _rounded(values)
        unsure |= doubt
    for i in np.flatnonzero(unsure):  # the per-record way, for the few a last bit could tip
        exact = process._features(float(x[i]), float(t_x[i]), float(T[i]), float(m[i]), h)
        for name in PROCESS_FEATURES:
            columns[name][i] = exact[name]
    return columns


def served_scores(suite, row: dict[str, float]) -> dict[str, float]:
    """The six scores a customer is served, from the models one at a time, rounded as served."""
    return {
        "churn_probability": round(suite["churn"].predict_one(row), 6),
        "propensity_to_buy": round(suite["propensity"].predict_one(row), 6),
        "engagement_score": round(100 * suite["engagement"].predict_one(row), 4),
        "upsell_propensity": round(suite["upsell"].predict_one(row), 6),
        "payment_default_risk": round(suite["payment_default"].predict_one(row), 6),
        "lifetime_value": round(suite["lifetime_value"].predict_one(row), 2),
    }


def label_prediction(model, row: dict[str, float], served: float) -> float:
    """What `model` says over the horizon its labels resolve over: the served score when that is its horizon."""
    return served if model.score_horizon_days is None else model.predict_label_one(row)


class ColumnScorer:
    """The scores `LoyaltyEngine._scores` gives, and the label predictions, for rows of customer features.

    For a suite whose models do not move while it scores (`ModelSuite.frozen`): build one per
    model version. Rows must share their feature names in one order (`core.features.customer_features`
    gives that); rows that do not are scored one by one.
    """

    def __init__(self, suite) -> None:
        self.suite = suite

    def score(self, rows: list[dict[str, float]]) -> list[tuple[dict[str, float], dict[str, float]]]:
        """For each row: (the six served scores, rounded as served; churn's, propensity's and lifetime
        value's predictions over their label windows, unrounded as `predict_label_one` gives them)."""
        if len(rows) < FEWEST:
            return [self._one(row) for row in rows]
        names = tuple(rows[0])
        suite = self.suite
        if ("repeat_days" not in rows[0] or suite.process is None or suite["lifetime_value"].process is None
                or any(k in rows[0] for k in PROCESS_FEATURES) or any(tuple(row) != names for row in rows)):
            return [self._one(row) for row in rows]
        n = len(rows)
        matrix = np.array([list(row.values()) for row in rows], dtype=float).reshape(n, len(names))
        columns = {name: matrix[:, j] for j, name in enumerate(names)}
        T = columns["tenure_days"]
        t_x = np.maximum(0.0, T - columns["days_since_purchase"])
        x, m = columns["repeat_days"], columns["mean_repeat_spend"]
        process = suite.process
        at: dict[float, tuple[dict[str, np.ndarray], np.ndarray]] = {}

        def over(h: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
            """The process's features over `h` days, and the rows' features with them appended."""
            found = at.get(h)
            if found is None:
                process_at = process_columns(process, x, t_x, T, m, h)
                found = at[h] = (process_at, np.column_stack([matrix, *(process_at[k] for k in PROCESS_FEATURES)]))
            return found

        logits = {}
        for name in CLASSIFIERS:
            model = suite[name]
            logits[name] = self._logits(model, columns, names, over, model.score_horizon_days)
            if name in ("churn", "propensity"):
                logits[name + "@label"] = (logits[name] if model.score_horizon_days is None
                                           else self._logits(model, columns, names, over, None))
        value = suite["lifetime_value"]
        spend = self._spend(value, columns, names, over, value.score_horizon_days or value.horizon_days)
        spend_label = None if value.score_horizon_days is None else self._spend(value, columns, names, over,
                                                                                 value.horizon_days)
        lists = {k: v.tolist() for k, v in logits.items()}
        out = []
        for i in range(n):
            c = sigmoid(lists["churn"][i])
            p = sigmoid(lists["propensity"][i])
            scores = {
                "churn_probability": round(float(c), 6),
                "propensity_to_buy": round(float(p), 6),
                "engagement_score": round(100 * float(sigmoid(lists["engagement"][i])), 4),
                "upsell_propensity": round(float(sigmoid(lists["upsell"][i])), 6),
                "payment_default_risk": round(float(sigmoid(lists["payment_default"][i])), 6),
                "lifetime_value": round(spend[i], 2),
            }
            # As `label_prediction`: the served score where the model answers over its labels' window.
            labels = {
                "churn": scores["churn_probability"] if suite["churn"].score_horizon_days is None
                else float(sigmoid(lists["churn@label"][i])),
                "propensity": scores["propensity_to_buy"] if suite["propensity"].score_horizon_days is None
                else float(sigmoid(lists["propensity@label"][i])),
                "lifetime_value": scores["lifetime_value"] if spend_label is None else spend_label[i],
            }
            out.append((scores, labels))
        return out

    def _one(self, row: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
        m = self.suite
        scores = served_scores(m, row)
        served = {"churn": "churn_probability", "propensity": "propensity_to_buy", "lifetime_value": "lifetime_value"}
        return scores, {name: label_prediction(m[name], row, scores[key]) for name, key in served.items()}

    @staticmethod
    def _logits(model, columns, names, over, horizon: float | None, offset: bool = True) -> np.ndarray:
        """`LinearClassifier._logit` for every row: the same terms, added one after another in the same order
        (a running sum along each row, which `np.cumsum` is; `sum` would pair them up otherwise)."""
        terms, intercept = model._parameters()
        n = len(columns[names[0]])
        base = np.full(n, float(model._level(intercept, horizon) if offset else intercept))
        if model.process is not None:
            augmented, matrix = over(model.horizon_days)
            if offset and model.offset is not None:
                at = augmented if horizon is None or horizon == model.horizon_days else over(horizon)[0]
                base = base + model.offset_sign * at[model.offset]
            elif offset:
                base = base + 0.0
            order = names + PROCESS_FEATURES
        else:
            matrix = np.column_stack([columns[k] for k in names])
            order = names
        used = [(j, terms[name]) for j, name in enumerate(order) if name in terms]
        if not used:
            return base
        index = [j for j, _ in used]
        mean, sd, weight, low, high = (np.array([term[i] for _, term in used]) for i in range(5))
        value = matrix[:, index]
        value = np.where(value < low, low, np.where(value > high, high, value))
        z = (value - mean) / sd
        parts = np.empty((n, len(used) + 1))
        parts[:, 0] = base
        parts[:, 1:] = weight * np.where(z > CLIP, CLIP, np.where(z < -CLIP, -CLIP, z))
        return np.cumsum(parts, axis=1)[:, -1]

    def _spend(self, value, columns, names, over, horizon: float) -> list[float]:
        """`LifetimeValueModel.predict_one` (or `predict_label_one`) over `horizon`, per row, unrounded."""
        augmented = over(horizon)[0]
        log_spend = augmented["log_expected_spend"].tolist()
        none = augmented["logit_none_in_horizon"].tolist()
        churn = value.churn
        factor = churn is not None and churn.offset is not None
        correction = self._logits(churn, columns, names, over, None, offset=False).tolist() if factor else None
        scale = value.process_scale
        out = []
        for i, log_value in enumerate(log_spend):
            expected = max(0.0, math.expm1(log_value))
            if expected > 0 and factor:
                expected = expected * ((1.0 - sigmoid(none[i] + correction[i])) / max(1e-9, 1.0 - sigmoid(none[i])))
            out.append(expected * scale)
        return out
