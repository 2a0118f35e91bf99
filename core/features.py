"""Features as pure functions of a customer's state and the current event time."""

from __future__ import annotations

import math

from core.state import CustomerState

DAY = 86_400.0


def churn_features(state: CustomerState, now: float) -> dict[str, float]:
    """Features for the churn model as of event time `now` (not the last event's time).

    >>> s = CustomerState("c1").with_purchase(0.0, 40.0).with_purchase(10 * DAY, 60.0)
    >>> f = churn_features(s, now=15 * DAY)
    >>> f["days_since_purchase"], f["gap_days_mean"], f["avg_basket"]
    (5.0, 10.0, 50.0)
    """
    last = state.last_purchase_at if state.last_purchase_at is not None else now
    first = state.first_purchase_at if state.first_purchase_at is not None else now
    count = state.purchase_count
    return {
        "days_since_purchase": max(0.0, now - last) / DAY,
        "tenure_days": max(0.0, now - first) / DAY,
        "log_purchases": math.log1p(count),
        "avg_basket": state.total_spend / count if count else 0.0,
        "gap_days_mean": state.gap_days_mean,
        "log_engagements": math.log1p(state.engagement_count),
    }
