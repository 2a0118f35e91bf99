"""What a campaign's offers did (topic `performance`, compacted, keyed by campaign id).

Each record is one campaign's comparison as of an event time: the customers the next
best offer picked the campaign for, treated and held out (its control group), what
they did within the attribution window, and the treated-minus-held-out difference
with its 95% interval (`models.uplift`). The learner publishes one per campaign with
each model version; the API's `/campaigns/{id}/performance/` answers the same record.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ArmFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    customers: int = Field(description="customers whose attribution window closed")
    buyers: int = Field(description="of them, those who bought within it")
    purchase_rate: float | None = None
    spend_per_customer: float | None = None
    redemptions: int = Field(description="of the campaign's offer (treated customers only)")


class Difference(BaseModel):
    model_config = ConfigDict(frozen=True)

    difference: float | None = Field(description="treated minus held out; None until both arms have customers")
    low: float | None
    high: float | None
    significant: bool = Field(description="the interval excludes zero and each arm has at least 30 customers")


class CampaignPerformanceRecord(BaseModel):
    """Treated against held out for one campaign, with intervals."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    campaign_id: str
    as_of: AwareDatetime | None = Field(description="the event time the figures are as of (the watermark)")
    model_version: str = Field(description="the fold of trials these figures come from, and its model version")
    confidence: float
    treated: ArmFigures
    held_out: ArmFigures
    purchase_rate: Difference = Field(description="share who bought in the window (Newcombe's interval)")
    spend_per_customer: Difference = Field(description="spend in the window per customer (Welch's interval)")
    significant: bool = Field(description="either interval excludes zero")
