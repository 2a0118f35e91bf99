"""Per-customer state: what the table keeps for one customer, bounded in size."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# How many campaign decision windows a customer remembers (oldest dropped first).
MAX_REMEMBERED_CAMPAIGNS = 32
# How many categories a customer's affinity keeps (the smallest dropped first).
MAX_CATEGORIES = 12
# How many offers can wait for a response at once (the oldest resolves as expired).
MAX_PENDING_OFFERS = 8
# How many badges are kept.
MAX_BADGES = 32
# How many recent decisions a customer's state remembers (for the scores API).
MAX_RECENT_DECISIONS = 5

PAYMENT_ISSUES = frozenset({"payment_failed", "payment_late", "purchase_failed"})

DAY = 86_400.0
# A customer is first shown to the purchase process's pooled prior this long after their first
# purchase, then at doubling ages (`models.btyd.MILESTONE_DAYS`).
FIRST_MILESTONE_DAYS = 7.0


def decayed(value: float, at: float | None, now: float, half_life_days: float) -> float:
    """`value` recorded at `at`, decayed to `now` with the given half-life.

    >>> decayed(8.0, 0.0, 2 * DAY, half_life_days=1)
    2.0
    """
    if at is None or value == 0.0:
        return 0.0
    return value * 0.5 ** (max(0.0, now - at) / (half_life_days * DAY))


def next_streak_weeks(streak: int, last_purchase_at: float | None, at: float) -> int:
    """The purchase streak after a purchase at `at`: same ISO week keeps it, the next adds one, a gap restarts.

    >>> next_streak_weeks(0, None, 0.0), next_streak_weeks(2, 0.0, 8 * DAY), next_streak_weeks(3, 0.0, 30 * DAY)
    (1, 3, 1)
    """
    if last_purchase_at is None:
        return 1
    if at < last_purchase_at:
        return streak  # a late event changes nothing
    weeks = iso_week_index(at) - iso_week_index(last_purchase_at)
    return streak if weeks == 0 else streak + 1 if weeks == 1 else 1


def iso_week_index(at: float) -> int:
    """Index of the ISO week (Monday to Sunday, UTC) holding `at`; consecutive weeks, consecutive indices.

    >>> iso_week_index(0.0), iso_week_index(4 * DAY)  # Thu 1970-01-01, Mon 1970-01-05
    (0, 1)
    """
    return int((at + 3 * DAY) // (7 * DAY))


@dataclass(frozen=True)
class PendingLabel:
    """A prediction waiting for its label.

    `features` are those the prediction used, `prediction` what the model said
    then (for prequential quality), `baseline` a heuristic's score at the same
    moment, `deadline` when the label resolves by itself as event time passes,
    `extra` a task's own running value (spend so far for lifetime value, the
    basket to beat for upsell) and `ref` what it is about (a campaign id).
    """

    at: float
    features: dict[str, float]
    prediction: float = 0.0
    deadline: float | None = None
    baseline: float | None = None
    extra: float = 0.0
    ref: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> PendingLabel:
        return cls(**{**data, "features": dict(data["features"])})


@dataclass(frozen=True)
class CustomerState:
    """Aggregates for one customer. Times are event-time epoch seconds."""

    customer_id: str
    # purchases
    purchase_count: int = 0
    total_spend: float = 0.0
    max_basket: float = 0.0
    first_purchase_at: float | None = None
    last_purchase_at: float | None = None
    gap_days_mean: float = 0.0
    gap_days_last: float = 0.0
    purchase_rate: float = 0.0  # purchases, decayed with a 30-day half-life, as of last_purchase_at
    spend_rate: float = 0.0  # spend, decayed likewise
    purchase_streak_weeks: int = 0  # consecutive ISO weeks with a purchase, up to the last one
    # the purchase process as BG/NBD and Gamma-Gamma count it (`models.btyd`): days with a purchase,
    # the spend of the first such day, and when the customer is next shown to the pooled prior
    purchase_days: int = 0
    first_day_spend: float = 0.0
    next_milestone_at: float | None = None
    # what Gamma-Gamma's prior was last shown of this customer (repeat days, mean repeat spend): a
    # milestone shows only the change since, so the prior counts each customer once (`models.btyd`)
    shown_repeat_days: int = 0
    shown_repeat_spend: float = 0.0
    last_basket: float = 0.0  # the total of the purchase at last_purchase_at: a redemption's basket (`core.trials`)
    category_spend: dict[str, float] = field(default_factory=dict)
    # engagement
    engagement_count: int = 0
    last_engagement_at: float | None = None
    engagement_rate: float = 0.0  # engagements, decayed with a 14-day half-life, as of last_engagement_at
    # payments
    payment_counts: dict[str, int] = field(default_factory=dict)
    last_payment_issue_at: float | None = None
    # offers and badges
    offers_received: int = 0
    offer_outcomes: dict[str, int] = field(default_factory=dict)
    campaign_windows: dict[str, str] = field(default_factory=dict)
    badges: list[str] = field(default_factory=list)
    # predictions waiting for labels: task -> pending; offers: assignment id -> pending
    pending: dict[str, PendingLabel] = field(default_factory=dict)
    pending_offers: dict[str, PendingLabel] = field(default_factory=dict)
    # when the event-time sweep next reviews this customer if they stay silent
    next_review_at: float | None = None
    # the latest decisions, newest last: decision_id, trigger, at, chosen campaign, assignment id
    recent_decisions: list[dict] = field(default_factory=list)
    # the recommender's parameters of this customer: [MF bias, MF latent vector, decayed category counts]
    reco: list | None = None
    # input topic -> offset of the last record applied (a customer's records of one topic are
    # all in one partition): a redelivered record at or below it is recognised and skipped
    applied: dict[str, int] = field(default_factory=dict)
    # the attribution windows open for campaigns' comparisons (`core.trials`), and the campaigns
    # whose window has closed: a customer enters each campaign's comparison once
    trials: dict[str, list] = field(default_factory=dict)
    tried: list[str] = field(default_factory=list)

    def evolve(self, **changes: Any) -> CustomerState:
        """A copy with `changes`: `dataclasses.replace` without re-running `__init__`, which
        took about a tenth of each event's time (states change a dozen times per event)."""
        assert changes.keys() <= _FIELDS, f"not fields of CustomerState: {set(changes) - _FIELDS}"
        new = object.__new__(CustomerState)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    @property
    def avg_basket(self) -> float:
        return self.total_spend / self.purchase_count if self.purchase_count else 0.0

    def with_purchase(self, at: float, total: float, categories: dict[str, float] | None = None) -> CustomerState:
        """The state after one purchase at event time `at`."""
        count = self.purchase_count + 1
        gap_mean, gap_last = self.gap_days_mean, self.gap_days_last
        last = self.last_purchase_at
        if last is not None:
            gap_last = max(0.0, at - last) / DAY
            gap_mean += (gap_last - gap_mean) / (count - 1)
        anchor = max(at, last) if last is not None else at
        affinity = dict(self.category_spend)
        for category, spend in (categories or {}).items():
            affinity[category] = round(affinity.get(category, 0.0) + spend, 2)
        if len(affinity) > MAX_CATEGORIES:
            affinity = dict(sorted(affinity.items(), key=lambda kv: -kv[1])[:MAX_CATEGORIES])
        new_day = last is None or int(at // DAY) != int(last // DAY)
        first = self.first_purchase_at is None
        return self.evolve(
            purchase_count=count,
            purchase_days=self.purchase_days + (1 if new_day else 0),
            first_day_spend=round(self.first_day_spend + total, 2) if first or (self.purchase_days == 1 and not new_day)
            else self.first_day_spend,
            next_milestone_at=at + FIRST_MILESTONE_DAYS * DAY if first else self.next_milestone_at,
            total_spend=round(self.total_spend + total, 2),
            max_basket=max(self.max_basket, total),
            first_purchase_at=self.first_purchase_at if self.first_purchase_at is not None else at,
            last_purchase_at=anchor,
            last_basket=total if last is None or at >= last else self.last_basket,
            # Rates and gaps to 6 decimals (features use 4 to 6): shorter state records.
            gap_days_mean=round(gap_mean, 6),
            gap_days_last=round(gap_last, 6),
            purchase_rate=round(decayed(self.purchase_rate, last, anchor, 30) + 1.0, 6),
            purchase_streak_weeks=next_streak_weeks(self.purchase_streak_weeks, last, at),
            spend_rate=round(decayed(self.spend_rate, last, anchor, 30) + total, 6),
            category_spend=affinity,
        )

    def with_engagement(self, at: float) -> CustomerState:
        last = self.last_engagement_at
        anchor = max(at, last) if last is not None else at
        return self.evolve(
            engagement_count=self.engagement_count + 1,
            last_engagement_at=anchor,
            engagement_rate=round(decayed(self.engagement_rate, last, anchor, 14) + 1.0, 6),
        )

    def with_payment(self, kind: str, at: float) -> CustomerState:
        """Count one payment-history event; failures and late payments are issues."""
        counts = dict(self.payment_counts)
        counts[kind] = counts.get(kind, 0) + 1
        issue = kind in PAYMENT_ISSUES
        last_issue = max(at, self.last_payment_issue_at or at) if issue else self.last_payment_issue_at
        return self.evolve(payment_counts=counts, last_payment_issue_at=last_issue)

    def with_offer_outcome(self, outcome: str) -> CustomerState:
        outcomes = dict(self.offer_outcomes)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return self.evolve(offer_outcomes=outcomes)

    def with_assignment(self, campaign_id: str, window: str) -> CustomerState:
        windows = {k: v for k, v in self.campaign_windows.items() if k != campaign_id}
        windows[campaign_id] = window
        while len(windows) > MAX_REMEMBERED_CAMPAIGNS:
            windows.pop(next(iter(windows)))
        return self.evolve(campaign_windows=windows, offers_received=self.offers_received + 1)

    def with_badge(self, badge_id: str) -> CustomerState:
        if badge_id in self.badges:
            return self
        return self.evolve(badges=[*self.badges, badge_id][-MAX_BADGES:])

    def with_decision(self, summary: dict) -> CustomerState:
        return self.evolve(recent_decisions=[*self.recent_decisions, summary][-MAX_RECENT_DECISIONS:])

    def with_pending(self, task: str, label: PendingLabel | None) -> CustomerState:
        pending = {k: v for k, v in self.pending.items() if k != task}
        if label is not None:
            pending[task] = label
        return self.evolve(pending=pending)

    def with_pending_offer(self, assignment_id: str, label: PendingLabel | None) -> CustomerState:
        offers = {k: v for k, v in self.pending_offers.items() if k != assignment_id}
        if label is not None:
            offers[assignment_id] = label
        return self.evolve(pending_offers=offers)

    def due_at(self) -> float | None:
        """The earliest time the watermark should bring this customer up: a label's deadline, a review, a milestone."""
        deadlines = [p.deadline for p in (*self.pending.values(), *self.pending_offers.values()) if p.deadline]
        if self.next_review_at is not None:
            deadlines.append(self.next_review_at)
        if self.next_milestone_at is not None:
            deadlines.append(self.next_milestone_at)
        deadlines.extend(w[2] for w in self.trials.values())
        return min(deadlines) if deadlines else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomerState:
        known = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in known}
        values["pending"] = {k: PendingLabel.from_dict(v) for k, v in (data.get("pending") or {}).items()}
        values["pending_offers"] = {k: PendingLabel.from_dict(v) for k, v in (data.get("pending_offers") or {}).items()}
        return cls(**values)


_FIELDS = frozenset(CustomerState.__dataclass_fields__)
