"""The per-customer score record: every model's answer for one customer, as of an event time.

The API serves it, replay writes it, and the model check validates every model's
output against it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

RiskBand = Literal["LOW", "MEDIUM", "HIGH"]
Segment = Literal[
    "champions", "loyal", "potential_loyalist", "new", "promising", "need_attention",
    "about_to_sleep", "at_risk", "cant_lose", "hibernating", "lost",
]
Probability = Field(ge=0, le=1, allow_inf_nan=False)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChurnFactor(Frozen):
    feature: str
    value: float = Field(allow_inf_nan=False)
    contribution: float = Field(allow_inf_nan=False)
    effect: Literal["raises", "lowers"]


class ChurnScore(Frozen):
    """LOW lists protective factors, HIGH critical risk factors, MEDIUM both."""

    probability: float = Probability
    risk_band: RiskBand
    view: Literal["protective factors", "critical risk factors", "balanced"]
    intercept: float = Field(allow_inf_nan=False)
    logit: float = Field(allow_inf_nan=False)
    factors: list[ChurnFactor] = Field(max_length=10)


class RFMScore(Frozen):
    recency_score: int = Field(ge=1, le=5)
    frequency_score: int = Field(ge=1, le=5)
    monetary_score: int = Field(ge=1, le=5)
    rfm_code: str = Field(pattern=r"^[1-5]{3}$")
    segment: Segment
    value_segment: Literal["high", "medium", "low"]


class Recommendation(Frozen):
    category: str = Field(min_length=1, max_length=64)
    score: float = Field(allow_inf_nan=False)


class RecentDecision(Frozen):
    decision_id: str
    trigger: Literal["purchase", "sweep"]
    decided_at: AwareDatetime
    chosen_campaign_id: str | None = None
    assignment_id: str | None = None
    held_out: list[str] = Field(default_factory=list)


class CustomerScores(Frozen):
    """Every model's latest answer for one customer; consumers ignore fields they do not know."""

    schema_version: Literal[1] = 1
    customer_id: str = Field(min_length=1, max_length=64)
    as_of: AwareDatetime
    churn: ChurnScore
    propensity_to_buy: float = Probability
    engagement_score: float = Field(ge=0, le=100, allow_inf_nan=False)
    campaign_response: dict[str, float] = Field(default_factory=dict)
    upsell_propensity: float = Probability
    payment_default_risk: float = Probability
    lifetime_value: float = Field(ge=0, allow_inf_nan=False)
    rfm: RFMScore
    recommendations: list[Recommendation] = Field(max_length=20)
    last_decisions: list[RecentDecision] = Field(default_factory=list, max_length=10)
    badges: list[str] = Field(default_factory=list, max_length=64, description="the badges the customer holds")
    model_versions: dict[str, str] = Field(default_factory=dict)
