"""Outbound offer assignments (topic `offer-assignments`, keyed by campaign id)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Category = Literal["points", "discount", "cashback", "free_item", "tier_upgrade", "experience"]
LifecycleStage = Literal["acquisition", "growth", "retention", "win_back"]
ValueSegment = Literal["high", "medium", "low", "all"]


class OfferSnapshot(BaseModel):
    """The catalog offer as it was when assigned, so senders need no catalog lookup."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    offer_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(max_length=500)
    category: Category
    lifecycle_stage: LifecycleStage
    target_value_segment: ValueSegment = "all"


class OfferAssignment(BaseModel):
    """One offer for one customer from one campaign.

    `assignment_id` is derived from campaign, customer and decision window, so a
    redelivered or replayed assignment carries the same id: consumers dedupe on it.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    assignment_id: str
    campaign_id: str
    customer_id: str
    decision_window: str
    offer: OfferSnapshot
    offer_config: dict[str, float | int | str | bool] = Field(default_factory=dict)
    scores: dict[str, float] = Field(default_factory=dict)
    model_versions: dict[str, str] = Field(default_factory=dict)
    choice_probability: float | None = Field(
        default=None, ge=0, le=1,
        description="the policy's probability of choosing this offer among the eligible ones (None: the top pick "
                    "was refused by the limits and this is the next)")
    reason: str
    trigger_event_id: str
    issued_at: AwareDatetime
    expires_at: AwareDatetime


BadgeType = Literal["achievement", "milestone", "tier", "streak", "challenge"]


class BadgeAward(BaseModel):
    """A gamification badge earned by a customer (topic `badge-awards`, keyed by customer id).

    `award_id` is derived from badge and customer (and the period for repeatable
    badges), so a replayed award carries the same id.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    award_id: str
    badge_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=500)
    badge_type: BadgeType = "achievement"
    awarded_at: AwareDatetime
    trigger_event_id: str
