"""Prequential quality of a model on its resolved labels, with a drift flag on the error."""

from __future__ import annotations

from typing import Literal

from river import drift, metrics, stats


class BinnedAUC:
    """ROC AUC of scores in [0, 1], from per-bin counts: O(1) per update, O(bins) per read.

    Scores in the same bin count as ties (half a win), so with 1,000 bins the value
    is exact to that resolution. River's `ROCAUC(n_thresholds=50)` updates 50
    confusion matrices per label, which made quality the costliest step per event.

    >>> auc = BinnedAUC()
    >>> for y, p in [(True, 0.9), (False, 0.2), (True, 0.6), (False, 0.7)]:
    ...     auc.update(y, p)
    >>> auc.get()
    0.75
    """

    def __init__(self, bins: int = 1000) -> None:
        self.bins = bins
        self.positives = [0] * bins
        self.negatives = [0] * bins

    def update(self, y_true, y_pred: float) -> None:
        b = min(self.bins - 1, max(0, int(y_pred * self.bins)))
        if y_true:
            self.positives[b] += 1
        else:
            self.negatives[b] += 1

    def get(self) -> float | None:
        """None until both classes were seen: one class ranks nothing (it is not 0)."""
        wins, below = 0.0, 0
        for pos, neg in zip(self.positives, self.negatives):
            wins += pos * (below + 0.5 * neg)
            below += neg
        pairs = sum(self.positives) * below
        return wins / pairs if pairs else None


def _rounded(value) -> float | None:
    return None if value is None else round(float(value), 6) + 0.0


class Quality:
    """Each resolved label is scored against the prediction made when it was pending.

    Classifiers get ROC AUC and log loss, regressors MAE; both get an ADWIN drift
    detector on the absolute error. Where a heuristic's score is given, the model
    and the heuristic are also scored side by side on exactly those labels.

    Examples
    --------
    >>> q = Quality("classifier")
    >>> for p, y in [(0.9, True), (0.2, False), (0.7, True), (0.4, False)]:
    ...     q.update(y, p, baseline=1 - p)
    >>> q.update(True, 0.1)
    >>> r = q.report()
    >>> r["roc_auc"] < 1.0, r["vs_baseline"], r["samples"]
    (True, {'model_roc_auc': 1.0, 'baseline_roc_auc': 0.0, 'samples': 4, 'beats_baseline': True}, 5)
    >>> one_class = Quality("classifier")
    >>> one_class.update(True, 0.8, baseline=0.5)
    >>> one_class.report()["roc_auc"], one_class.report()["vs_baseline"]["beats_baseline"]
    (None, None)
    """

    def __init__(self, kind: Literal["classifier", "regressor"]) -> None:
        self.kind = kind
        if kind == "classifier":
            self.metrics = {"roc_auc": BinnedAUC(), "log_loss": metrics.LogLoss()}
        else:
            self.metrics = {"mae": metrics.MAE()}
        self.baseline = BinnedAUC()
        self.paired = BinnedAUC()
        self.baseline_seen = 0
        # Regressors are compared with predicting the mean of the labels seen so far.
        self.label_mean = stats.Mean()
        self.mean_mae = metrics.MAE()
        self.detector = drift.ADWIN(delta=0.001)
        self.samples = 0
        self.drifts = 0
        self.last_drift_at: int | None = None

    def update(self, y_true, y_pred: float, baseline: float | None = None) -> None:
        for metric in self.metrics.values():
            metric.update(y_true, y_pred)
        if baseline is not None and self.kind == "classifier":
            self.baseline.update(y_true, baseline)
            self.paired.update(y_true, y_pred)
            self.baseline_seen += 1
        if self.kind == "regressor":
            self.mean_mae.update(y_true, self.label_mean.get())
            self.label_mean.update(y_true)
        error = abs(float(y_true) - y_pred)
        if self.kind == "regressor":
            error = error / (abs(float(y_true)) + 1.0)
        self.detector.update(error)
        self.samples += 1
        if self.detector.drift_detected:
            self.drifts += 1
            self.last_drift_at = self.samples

    @property
    def drifting(self) -> bool:
        """A drift was detected within the last 500 resolved labels."""
        return self.last_drift_at is not None and self.samples - self.last_drift_at < 500

    def report(self) -> dict:
        out = {name: _rounded(metric.get()) for name, metric in self.metrics.items()}
        if self.kind == "regressor" and self.samples:
            out["vs_baseline"] = {"model_mae": out["mae"], "running_mean_mae": round(float(self.mean_mae.get()), 6)}
        if self.baseline_seen:
            model, heuristic = _rounded(self.paired.get()), _rounded(self.baseline.get())
            out["vs_baseline"] = {
                "model_roc_auc": model,
                "baseline_roc_auc": heuristic,
                "samples": self.baseline_seen,
                # The flag an operator reads: None until both classes were seen.
                "beats_baseline": None if model is None or heuristic is None else model > heuristic,
            }
        return {**out, "samples": self.samples, "drift": self.drifting, "drifts": self.drifts}
