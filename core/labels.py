"""Turning stored predictions into labeled examples, by event time only.

Resolving a label ("did the customer come back within the window?") is kept apart
from learning from it, so learning can later move to a process of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.features import DAY
from core.state import PendingLabel


@dataclass(frozen=True)
class LabeledExample:
    features: dict[str, float]
    label: bool
    predicted_at: float
    resolved_at: float


def resolve_churn_on_purchase(pending: PendingLabel | None, purchase_at: float, window_days: float) -> LabeledExample | None:
    """The customer bought at `purchase_at`: the pending prediction gets its label.

    Churned (True) if the purchase came later than the window after the prediction.
    A purchase stamped before the prediction (a late event) resolves nothing.

    >>> p = PendingLabel(at=0.0, features={"x": 1.0})
    >>> resolve_churn_on_purchase(p, 10 * DAY, 30).label
    False
    >>> resolve_churn_on_purchase(p, 45 * DAY, 30).label
    True
    >>> resolve_churn_on_purchase(p, -1.0, 30) is None
    True
    """
    if pending is None or purchase_at < pending.at:
        return None
    churned = purchase_at - pending.at > window_days * DAY
    return LabeledExample(pending.features, churned, pending.at, purchase_at)
