"""Gamification badges: declarative rules over a customer's state, pure and replayable.

A rule looks at the customer's state *after* the event has been applied, at the event
itself and at a `BadgeContext` (derived facts `CustomerState` does not keep, today only
the purchase streak), and says whether the badge is earned. `award_badges` evaluates the
rules in order, skips badges the customer already has, and returns the new state plus
one `BadgeAward` per new badge. Award ids depend only on badge and customer, so a
replayed or redelivered event yields the same ids, and consumers dedupe on them.

>>> from datetime import datetime, timezone
>>> from schemas import PurchaseEvent
>>> at = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
>>> event = PurchaseEvent(event_id="p-1", customer_id="c-1", store_id="s-1", occurred_at=at, total=320.0)
>>> state = CustomerState("c-1").with_purchase(event.ts, event.total, {"grocery": 320.0})
>>> state, awards = award_badges(state, event)
>>> [(a.badge_id, a.badge_type) for a in awards]
[('first-purchase', 'achievement'), ('big-spender', 'tier')]
>>> state.badges
['first-purchase', 'big-spender']
>>> awards[0].award_id == badge_award_id("first-purchase", "c-1")
True
>>> award_badges(state, event)[1]  # the same event again: nothing new
[]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.ids import badge_award_id
from core.state import DAY, MAX_BADGES, CustomerState, iso_week_index, next_streak_weeks
from schemas.events import EngagementEvent, PaymentEvent, PurchaseEvent
from schemas.offers import BadgeAward, BadgeType

Event = PurchaseEvent | EngagementEvent | PaymentEvent

# Purchases with these statuses are counted as purchases (as the engine does); the rest
# are payment history and earn no purchase badge.
COUNTED_PAYMENT_STATUSES = frozenset({"paid", "pending"})


@dataclass(frozen=True)
class BadgeContext:
    """Facts a rule may need that `CustomerState` does not hold.

    `streak_weeks`: consecutive ISO weeks (UTC), ending with the current purchase's week,
    with at least one purchase in each; maintain it with `next_streak_weeks`. `None` means
    unknown, and streak rules then never fire.
    """

    streak_weeks: int | None = None


Predicate = Callable[[CustomerState, Event, BadgeContext], bool]


@dataclass(frozen=True)
class BadgeRule:
    """One badge and when it is earned: `earned(state_after_event, event, context)`."""

    badge_id: str
    name: str
    description: str
    earned: Predicate
    badge_type: BadgeType = "achievement"


# ---------------------------------------------------------------- predicate builders
def counted_purchase(event: Event) -> bool:
    """A purchase that counts (paid or pending), not a failed or refunded basket."""
    return isinstance(event, PurchaseEvent) and event.payment_status in COUNTED_PAYMENT_STATUSES


def on_purchase(condition: Callable[[CustomerState], bool]) -> Predicate:
    """Earned on a counted purchase when `condition(state)` holds."""
    return lambda state, event, context: counted_purchase(event) and condition(state)


def on_engagement(condition: Callable[[CustomerState], bool], kind: str | None = None) -> Predicate:
    """Earned on an engagement (of `kind`, if given) when `condition(state)` holds."""
    return lambda state, event, context: (
        isinstance(event, EngagementEvent) and (kind is None or event.type == kind) and condition(state)
    )


def purchases_at_least(n: int) -> Predicate:
    return on_purchase(lambda s: s.purchase_count >= n)


def categories_at_least(n: int) -> Predicate:
    return on_purchase(lambda s: len(s.category_spend) >= n)


def big_spender(basket: float, lifetime: float) -> Predicate:
    return on_purchase(lambda s: s.max_basket >= basket or s.total_spend >= lifetime)


def engagements_at_least(n: int) -> Predicate:
    return on_engagement(lambda s: s.engagement_count >= n)


def streak_at_least(weeks: int) -> Predicate:
    return lambda state, event, context: (
        counted_purchase(event) and context.streak_weeks is not None and context.streak_weeks >= weeks
    )


# ---------------------------------------------------------------- streaks
# ---------------------------------------------------------------- the rules
DEFAULT_RULES: tuple[BadgeRule, ...] = (
    BadgeRule("first-purchase", "First Purchase", "Made a first purchase.", purchases_at_least(1)),
    BadgeRule("purchases-5", "Five Purchases", "Made 5 purchases.", purchases_at_least(5), "milestone"),
    BadgeRule("purchases-10", "Ten Purchases", "Made 10 purchases.", purchases_at_least(10), "milestone"),
    BadgeRule("big-spender", "Big Spender", "A basket of 300 or more, or 1000 spent in all.",
              big_spender(basket=300.0, lifetime=1000.0), "tier"),
    BadgeRule("streak-4-weeks", "Four-Week Streak", "Purchased in 4 consecutive weeks.",
              streak_at_least(4), "streak"),
    BadgeRule("first-offer-redeemed", "First Offer Redeemed", "Redeemed a first offer.",
              on_engagement(lambda s: True, kind="offer_redeemed")),
    BadgeRule("explorer", "Explorer", "Purchased in 4 or more categories.", categories_at_least(4)),
    BadgeRule("early-engager", "Early Engager", "Engaged with us 10 times.", engagements_at_least(10), "challenge"),
)

# Badges beyond MAX_BADGES would fall off the state and could be awarded again.
if len(DEFAULT_RULES) > MAX_BADGES or len({r.badge_id for r in DEFAULT_RULES}) != len(DEFAULT_RULES):
    raise RuntimeError("DEFAULT_RULES must have distinct badge ids, at most MAX_BADGES of them")


def award_badges(
    state: CustomerState,
    event: Event,
    rules: Sequence[BadgeRule] = DEFAULT_RULES,
    *,
    streak_weeks: int | None = None,
) -> tuple[CustomerState, list[BadgeAward]]:
    """The badges `event` earns, given `state` with the event already applied.

    Each badge is awarded at most once per customer (ids already in `state.badges` are
    skipped), in rule order. Returns the state with the new badge ids and the awards.
    """
    if event.customer_id != state.customer_id:
        raise ValueError(f"event for {event.customer_id!r} applied to state of {state.customer_id!r}")
    context = BadgeContext(streak_weeks=streak_weeks)
    awards: list[BadgeAward] = []
    for rule in rules:
        if rule.badge_id in state.badges or not rule.earned(state, event, context):
            continue
        state = state.with_badge(rule.badge_id)
        awards.append(BadgeAward(
            award_id=badge_award_id(rule.badge_id, state.customer_id),
            badge_id=rule.badge_id,
            customer_id=state.customer_id,
            name=rule.name,
            description=rule.description,
            badge_type=rule.badge_type,
            awarded_at=event.occurred_at,
            trigger_event_id=event.event_id,
        ))
    return state, awards
