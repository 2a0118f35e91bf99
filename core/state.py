"""Per-customer state: what the table keeps for one customer, bounded in size."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

PAYMENT_ISSUES = frozenset({"payment_failed", "payment_late", "purchase_failed"})

# How many campaign decision windows a customer remembers (oldest dropped first).
MAX_REMEMBERED_CAMPAIGNS = 32


@dataclass(frozen=True)
class PendingLabel:
    """A churn prediction waiting for its label: the features it used and when it was made."""

    at: float
    features: dict[str, float]


@dataclass(frozen=True)
class CustomerState:
    """Aggregates for one customer. Times are event-time epoch seconds."""

    customer_id: str
    purchase_count: int = 0
    total_spend: float = 0.0
    max_basket: float = 0.0
    first_purchase_at: float | None = None
    last_purchase_at: float | None = None
    gap_days_mean: float = 0.0
    engagement_count: int = 0
    last_engagement_at: float | None = None
    pending_churn: PendingLabel | None = None
    offers_received: int = 0
    # payment history: bill_due, bill_paid, payment_failed, payment_late, purchase_failed, purchase_refunded
    payment_counts: dict[str, int] = field(default_factory=dict)
    last_payment_issue_at: float | None = None
    # campaign id -> last decision window in which it assigned an offer to this customer
    campaign_windows: dict[str, str] = field(default_factory=dict)

    def with_purchase(self, at: float, total: float) -> CustomerState:
        """The state after one purchase at event time `at`."""
        count = self.purchase_count + 1
        gap_mean = self.gap_days_mean
        if self.last_purchase_at is not None:
            gap = max(0.0, at - self.last_purchase_at) / 86_400
            gaps = count - 1  # number of gaps including this one
            gap_mean += (gap - gap_mean) / gaps
        return replace(
            self,
            purchase_count=count,
            total_spend=self.total_spend + total,
            max_basket=max(self.max_basket, total),
            first_purchase_at=self.first_purchase_at if self.first_purchase_at is not None else at,
            last_purchase_at=max(at, self.last_purchase_at or at),
            gap_days_mean=gap_mean,
        )

    def with_engagement(self, at: float) -> CustomerState:
        return replace(
            self,
            engagement_count=self.engagement_count + 1,
            last_engagement_at=max(at, self.last_engagement_at or at),
        )

    def with_payment(self, kind: str, at: float) -> CustomerState:
        """Count one payment-history event; failures and late payments are issues."""
        counts = dict(self.payment_counts)
        counts[kind] = counts.get(kind, 0) + 1
        issue = kind in PAYMENT_ISSUES
        last_issue = max(at, self.last_payment_issue_at or at) if issue else self.last_payment_issue_at
        return replace(self, payment_counts=counts, last_payment_issue_at=last_issue)

    def with_assignment(self, campaign_id: str, window: str) -> CustomerState:
        windows = {k: v for k, v in self.campaign_windows.items() if k != campaign_id}
        windows[campaign_id] = window
        while len(windows) > MAX_REMEMBERED_CAMPAIGNS:
            windows.pop(next(iter(windows)))
        return replace(self, campaign_windows=windows, offers_received=self.offers_received + 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomerState:
        data = dict(data)
        pending = data.pop("pending_churn", None)
        known = {f for f in cls.__dataclass_fields__}
        state = cls(**{k: v for k, v in data.items() if k in known})
        if pending is not None:
            state = replace(state, pending_churn=PendingLabel(at=pending["at"], features=dict(pending["features"])))
        return state
