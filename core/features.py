"""Features as pure functions of a customer's state and the current event time."""

from __future__ import annotations

import math

from core.state import DAY, CustomerState, decayed


def customer_features(state: CustomerState, now: float) -> dict[str, float]:
    """Features of one customer as of event time `now` (not the time of their last event).

    A silent customer's recency grows and decayed rates shrink as `now` moves on.

    >>> s = CustomerState("c1").with_purchase(0.0, 40.0).with_purchase(10 * DAY, 60.0)
    >>> f = customer_features(s, now=15 * DAY)
    >>> f["days_since_purchase"], f["gap_days_mean"], round(f["log_avg_basket"], 3)
    (5.0, 10.0, 3.932)
    """
    last = state.last_purchase_at if state.last_purchase_at is not None else now
    first = state.first_purchase_at if state.first_purchase_at is not None else now
    outcomes = state.offer_outcomes
    responded = outcomes.get("accepted", 0) + outcomes.get("redeemed", 0)
    issues = sum(n for k, n in state.payment_counts.items() if k in ("payment_failed", "payment_late", "purchase_failed"))
    repeat_days, _, mean_repeat_spend = process_counts(state)
    since_engagement = (now - state.last_engagement_at) / DAY if state.last_engagement_at is not None else 365.0
    return {
        "days_since_purchase": round(max(0.0, now - last) / DAY, 4),
        "tenure_days": round(max(0.0, now - first) / DAY, 4),
        "log_purchases": round(math.log1p(state.purchase_count), 6),
        "log_avg_basket": round(math.log1p(state.avg_basket), 6),
        "gap_days_mean": round(state.gap_days_mean, 4),
        "gap_days_last": round(state.gap_days_last, 4),
        "log_gap_days_mean": round(math.log1p(state.gap_days_mean), 6),
        "log_gap_days_last": round(math.log1p(state.gap_days_last), 6),
        "log_days_since_purchase": round(math.log1p(max(0.0, now - last) / DAY), 6),
        "purchase_rate_30d": round(decayed(state.purchase_rate, state.last_purchase_at, now, 30), 6),
        "log_spend_rate_30d": round(math.log1p(decayed(state.spend_rate, state.last_purchase_at, now, 30)), 6),
        "engagement_rate_14d": round(decayed(state.engagement_rate, state.last_engagement_at, now, 14), 6),
        "days_since_engagement": round(min(365.0, max(0.0, since_engagement)), 4),
        "log_payment_issues": round(math.log1p(issues), 6),
        "log_offers_received": round(math.log1p(state.offers_received), 6),
        "offer_response_rate": round((responded + 1) / (state.offers_received + 2), 6),
        "categories": float(len(state.category_spend)),
        # BG/NBD's and Gamma-Gamma's counts (`models.btyd`): repeat purchase days, mean spend of those days
        "repeat_days": float(repeat_days),
        "mean_repeat_spend": round(mean_repeat_spend, 4),
    }


def process_counts(state: CustomerState) -> tuple[float, float, float]:
    """BG/NBD's and Gamma-Gamma's counts of a customer: repeat purchase days x, the age of the last purchase
    t_x in days, and the mean spend m of the repeat days (0 without any).

    >>> s = CustomerState("c1").with_purchase(0.0, 40.0).with_purchase(3600.0, 5.0).with_purchase(10 * DAY, 60.0)
    >>> process_counts(s)
    (1, 10.0, 60.0)
    """
    # States written before days were counted: each purchase a day, the first one's spend the average.
    days = state.purchase_days or state.purchase_count
    first_day_spend = state.first_day_spend if state.purchase_days else state.avg_basket
    x = max(0, days - 1)
    t_x = (state.last_purchase_at - state.first_purchase_at) / DAY if state.first_purchase_at is not None else 0.0
    return x, t_x, (state.total_spend - first_day_spend) / x if x else 0.0


# The names `customer_features` returns, in its order (the state codec writes vectors in it).
FEATURE_NAMES = (
    "days_since_purchase", "tenure_days", "log_purchases", "log_avg_basket", "gap_days_mean", "gap_days_last",
    "log_gap_days_mean", "log_gap_days_last", "log_days_since_purchase", "purchase_rate_30d", "log_spend_rate_30d",
    "engagement_rate_14d", "days_since_engagement", "log_payment_issues", "log_offers_received",
    "offer_response_rate", "categories", "repeat_days", "mean_repeat_spend",
)

# Features that count the system's own actions: inputs to the campaign response model and the
# bandit, not to the models of what the customer does on their own (`models.suite.OUTCOME_MODELS`).
TREATMENT_FEATURES = ("log_offers_received", "offer_response_rate")

# Customer features the campaign response model crosses with the offer's kind, so a
# linear model can learn that an offer suits some customers and not others.
CROSSED = ("log_purchases", "log_avg_basket", "purchase_rate_30d", "days_since_purchase", "offer_response_rate")


def offer_features(base: dict[str, float], category: str, lifecycle_stage: str,
                   category_shares: dict[str, float] | None = None) -> dict[str, float]:
    """Customer features, the offer's kind, and their crosses, for the campaign response model.

    >>> f = offer_features({"log_purchases": 2.0}, "discount", "growth", {"grocery": 0.75})
    >>> f["offer_category_discount"], f["discount_x_log_purchases"], f["discount_x_share_grocery"]
    (1.0, 2.0, 0.75)
    """
    out = {**base, f"offer_category_{category}": 1.0, f"offer_stage_{lifecycle_stage}": 1.0}
    for name in CROSSED:
        if name in base:
            out[f"{category}_x_{name}"] = base[name]
            out[f"{lifecycle_stage}_x_{name}"] = base[name]
    for shop_category, share in (category_shares or {}).items():
        out[f"{category}_x_share_{shop_category}"] = share
    return out


def category_shares(state: CustomerState) -> dict[str, float]:
    """Each category's share of the customer's spend."""
    total = sum(state.category_spend.values())
    return {k: round(v / total, 4) for k, v in state.category_spend.items()} if total else {}


def rfm_inputs(recency_days: float, state: CustomerState) -> dict[str, float]:
    """What the RFM model reads: days since the last purchase, purchases and spend so far."""
    return {"recency_days": recency_days, "frequency": state.purchase_count, "monetary": state.total_spend}
