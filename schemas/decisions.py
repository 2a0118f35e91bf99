"""Why a customer got an offer, or did not (topic `decisions`, keyed by customer id)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ConsideredOffer(BaseModel):
    """An eligible campaign and the numbers that ranked it."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    assignment_id: str
    offer_id: str
    response_propensity: float = Field(ge=0, le=1)
    sampled_redemption: float = Field(ge=0, le=1)
    offer_value: float = Field(ge=0)
    priority: float = Field(gt=0)
    expected_value: float = Field(ge=0)


class DecisionTrace(BaseModel):
    """One decision: every campaign considered, which rule or limit blocked which, what was chosen.

    `decision_id` is derived from the customer and what triggered the decision
    (an event id, or the sweep's watermark), so a replayed decision has the same id.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    decision_id: str
    customer_id: str
    trigger: Literal["purchase", "sweep"]
    trigger_event_id: str | None = None
    decided_at: AwareDatetime
    eligible: list[ConsideredOffer] = Field(default_factory=list)
    blocked: dict[str, str] = Field(default_factory=dict, description="campaign id -> the rule or limit that blocked it")
    held_out: list[str] = Field(default_factory=list, description="campaigns whose control group holds this customer")
    held_out_for: str | None = Field(
        default=None, description="the top pick's campaign, when its control group holds the customer: no offer went out")
    choice_probability: float | None = Field(
        default=None, ge=0, le=1,
        description="the policy's probability of choosing its top pick among the ranked campaigns (Monte Carlo "
                    "over the Thompson posterior, seeded by the decision); for off-policy evaluation")
    chosen_campaign_id: str | None = None
    assignment_id: str | None = None
    redelivery: bool = Field(default=False, description="the chosen assignment had been reserved before")
    scores: dict[str, float] = Field(default_factory=dict)
    profile: dict[str, str | float | int | None] = Field(default_factory=dict)
    model_versions: dict[str, str] = Field(
        default_factory=dict, description="the versions of the models that ranked the eligible offers")
