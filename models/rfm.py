"""RFM: recency, frequency and monetary scores against streaming quantiles of all customers."""

from __future__ import annotations

import math

from river import stats

SEGMENTS: tuple[str, ...] = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
)

VALUE_SEGMENTS: tuple[str, ...] = ("high", "medium", "low")


def segment_for(r: int, f: int, m: int) -> str:
    """The segment of an (R, F, M) score triple; each score is in 1..5, 5 best.

    The rule is the usual R x F grid (first matching line wins), M only splitting
    the two cells where it changes the action to take:

    ======  ========  =======================================
    R       F         segment
    ======  ========  =======================================
    5       4-5       champions
    3-4     4-5       loyal
    4-5     2-3       potential_loyalist
    5       1         new
    4       1         promising
    3       3         need_attention
    3       1-2       about_to_sleep
    1-2     5         cant_lose
    1-2     4         cant_lose if M >= 4, else at_risk
    1-2     3         at_risk
    1       1-2       lost if M <= 2, else hibernating
    2       1-2       hibernating
    ======  ========  =======================================

    >>> segment_for(5, 5, 5), segment_for(1, 1, 1), segment_for(1, 1, 4), segment_for(2, 4, 5)
    ('champions', 'lost', 'hibernating', 'cant_lose')
    """
    if r == 5 and f >= 4:
        return "champions"
    if r >= 3 and f >= 4:
        return "loyal"
    if r >= 4 and f >= 2:
        return "potential_loyalist"
    if r == 5:
        return "new"
    if r == 4:
        return "promising"
    if r == 3:
        return "need_attention" if f == 3 else "about_to_sleep"
    # r in 1..2 from here on
    if f == 5 or (f == 4 and m >= 4):
        return "cant_lose"
    if f >= 3:
        return "at_risk"
    if r == 1 and m <= 2:
        return "lost"
    return "hibernating"


def value_segment_for(m: int) -> str:
    """``high`` for M >= 4, ``medium`` for M in 2..3, ``low`` for M == 1."""
    if m >= 4:
        return "high"
    if m >= 2:
        return "medium"
    return "low"


class RFMModel:
    """RFM scoring against streaming quantiles, so scores are relative to the whole customer base.

    One set of `bins - 1` running quantiles (P² estimators, ``river.stats.Quantile``) is kept
    per dimension; with ``bins=5`` these are the 20/40/60/80% cut points. A value's score is
    1 plus the number of cut points it beats: a higher frequency or monetary value beats a
    cut point it is strictly above, a recency (days since the last purchase) beats one it is
    strictly below, because fewer days is better. Scores are therefore monotone in each
    input, and 5 is always best.

    Before any update every score is the middle one (3). Non-finite inputs are skipped by
    `learn_one` (``n_seen`` does not move) and score 1 in `predict_one`.

    Parameters
    ----------
    bins
        Number of score levels; 5 gives the classic 1..5 scores (and 3-character codes).

    Examples
    --------
    >>> model = RFMModel()
    >>> model.predict_one({"recency_days": 10.0, "frequency": 2.0, "monetary": 80.0})["rfm_code"]
    '333'
    >>> for i in range(100):
    ...     model.learn_one({"recency_days": float(i), "frequency": float(i % 20), "monetary": 10.0 * (i % 50)})
    >>> model.predict_one({"recency_days": 0.0, "frequency": 50.0, "monetary": 1000.0})
    {'recency_score': 5, 'frequency_score': 5, 'monetary_score': 5, 'rfm_code': '555', 'segment': 'champions', 'value_segment': 'high'}
    >>> model.predict_one({"recency_days": 365.0, "frequency": 0.0, "monetary": 0.0})["segment"], model.n_seen
    ('lost', 100)
    """

    def __init__(self, bins: int = 5) -> None:
        if not 2 <= bins <= 9:
            raise ValueError("bins must be between 2 and 9")
        self.bins = bins
        cut_points = [i / bins for i in range(1, bins)]
        self.recency_quantiles = [stats.Quantile(q) for q in cut_points]
        self.frequency_quantiles = [stats.Quantile(q) for q in cut_points]
        self.monetary_quantiles = [stats.Quantile(q) for q in cut_points]
        self.n_seen = 0

    def learn_one(self, x: dict[str, float], y: None = None) -> None:
        """Feeds one customer's current `recency_days`, `frequency` and `monetary` (once per purchase)."""
        values = (float(x["recency_days"]), float(x["frequency"]), float(x["monetary"]))
        if not all(math.isfinite(v) for v in values):
            return
        for quantiles, value in zip(
            (self.recency_quantiles, self.frequency_quantiles, self.monetary_quantiles), values
        ):
            for quantile in quantiles:
                quantile.update(value)
        self.n_seen += 1

    def predict_one(self, x: dict[str, float]) -> dict:
        """RFM scores, code, segment and value segment of one customer's current values."""
        if self.n_seen == 0:
            r = f = m = (self.bins + 1) // 2
        else:
            r = self._level(self.recency_quantiles, float(x["recency_days"]), lower_is_better=True)
            f = self._level(self.frequency_quantiles, float(x["frequency"]), lower_is_better=False)
            m = self._level(self.monetary_quantiles, float(x["monetary"]), lower_is_better=False)
        return {
            "recency_score": r,
            "frequency_score": f,
            "monetary_score": m,
            "rfm_code": f"{r}{f}{m}",
            "segment": segment_for(*self._as_five(r, f, m)),
            "value_segment": value_segment_for(self._as_five(m)[0]),
        }

    @property
    def version(self) -> str:
        return f"rfm-quantiles-v1+{self.n_seen}"

    @staticmethod
    def _level(quantiles: list[stats.Quantile], value: float, lower_is_better: bool) -> int:
        if not math.isfinite(value):
            return 1
        cuts = [q.get() for q in quantiles]
        if lower_is_better:
            return 1 + sum(value < cut for cut in cuts)
        return 1 + sum(value > cut for cut in cuts)

    def _as_five(self, *scores: int) -> tuple[int, ...]:
        """Maps scores on 1..bins onto 1..5, for the segment rules (identity when bins == 5)."""
        if self.bins == 5:
            return scores
        return tuple(1 + round(4 * (s - 1) / (self.bins - 1)) for s in scores)
