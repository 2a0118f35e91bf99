"""Campaigns and the offer configs they carry (topic `campaigns`, keyed by campaign id).

A campaign's `offer_config` is checked against its offer's category (a discount
takes `discount_percent` from 0 to 100, points take `points_bonus` of at least 0,
...); unknown keys are refused, and every error names the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.scores import RiskBand, Segment

LifecycleStage = Literal["acquisition", "growth", "retention", "win_back"]
ValueSegment = Literal["high", "medium", "low"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PointsConfig(_Config):
    points_bonus: int = Field(default=0, ge=0, le=1_000_000)
    points_multiplier: float = Field(default=1.0, ge=1, le=10)


class DiscountConfig(_Config):
    discount_percent: float = Field(gt=0, le=100)
    min_basket: float = Field(default=0, ge=0)
    category: str | None = Field(default=None, max_length=64)


class CashbackConfig(_Config):
    cashback_percent: float = Field(gt=0, le=100)
    max_cashback: float | None = Field(default=None, ge=0)


class FreeItemConfig(_Config):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=100)
    item_value: float = Field(default=4.0, ge=0)


class TierUpgradeConfig(_Config):
    tier: Literal["silver", "gold", "platinum"] = "gold"
    duration_days: int = Field(default=30, ge=1, le=365)


class ExperienceConfig(_Config):
    experience: str = Field(min_length=1, max_length=120)
    experience_value: float = Field(default=20.0, ge=0)


OFFER_CONFIGS: dict[str, type[_Config]] = {
    "points": PointsConfig,
    "discount": DiscountConfig,
    "cashback": CashbackConfig,
    "free_item": FreeItemConfig,
    "tier_upgrade": TierUpgradeConfig,
    "experience": ExperienceConfig,
}


def validate_offer_config(category: str, config: dict) -> _Config:
    """The config as its category's model, or `ValueError` naming each bad field.

    >>> validate_offer_config("discount", {"discount_percent": 20}).discount_percent
    20.0
    >>> validate_offer_config("discount", {"discount_percent": 120, "colour": "red"})
    Traceback (most recent call last):
    ...
    ValueError: offer_config.discount_percent: Input should be less than or equal to 100; offer_config.colour: Extra inputs are not permitted
    """
    try:
        return OFFER_CONFIGS[category].model_validate(config)
    except ValidationError as error:
        parts = [
            f"offer_config.{'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        ]
        raise ValueError("; ".join(parts)) from None


class Audience(_Config):
    """Who a campaign is for; every bound that is set must hold, empty lists allow all."""

    lifecycle_stages: list[LifecycleStage] = Field(default_factory=list)
    value_segments: list[ValueSegment] = Field(default_factory=list)
    rfm_segments: list[Segment] = Field(default_factory=list)
    churn_risk: list[RiskBand] = Field(default_factory=list)
    min_purchase_count: int | None = Field(default=None, ge=0)
    max_purchase_count: int | None = Field(default=None, ge=0)
    min_churn_probability: float | None = Field(default=None, ge=0, le=1)
    min_basket_total: float | None = Field(default=None, ge=0, description="Only on a purchase of at least this.")

    def refusal(self, profile: dict) -> str | None:
        """Why a customer is not in this audience, or None if they are.

        `profile` has lifecycle_stage, value_segment, rfm_segment, churn_risk,
        purchase_count, churn_probability and basket_total (None outside a purchase).

        >>> Audience(churn_risk=["HIGH"]).refusal({"churn_risk": "LOW"})
        "churn_risk LOW not in ['HIGH']"
        """
        for name in ("lifecycle_stages", "value_segments", "rfm_segments", "churn_risk"):
            allowed = getattr(self, name)
            key = {"lifecycle_stages": "lifecycle_stage", "value_segments": "value_segment",
                   "rfm_segments": "rfm_segment"}.get(name, name)
            if allowed and profile.get(key) not in allowed:
                return f"{key} {profile.get(key)} not in {allowed}"
        count = profile.get("purchase_count", 0)
        if self.min_purchase_count is not None and count < self.min_purchase_count:
            return f"purchase_count {count} < {self.min_purchase_count}"
        if self.max_purchase_count is not None and count > self.max_purchase_count:
            return f"purchase_count {count} > {self.max_purchase_count}"
        p = profile.get("churn_probability", 0.0)
        if self.min_churn_probability is not None and p < self.min_churn_probability:
            return f"churn_probability {p:.3f} < {self.min_churn_probability}"
        if self.min_basket_total is not None:
            basket = profile.get("basket_total")
            if basket is None or basket < self.min_basket_total:
                return f"basket_total {basket} < {self.min_basket_total}"
        return None

    def describe(self) -> str:
        bounds = [f"{k}={v}" for k, v in self.model_dump(exclude_none=True).items() if v not in ([], None)]
        return ", ".join(bounds) or "everyone"


class Campaign(_Config):
    schema_version: Literal[1] = 1
    campaign_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=500)
    status: Literal["draft", "active", "paused", "ended"] = "draft"
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    offer_id: str = Field(min_length=1, max_length=64)
    offer_config: dict[str, float | int | str | bool] = Field(default_factory=dict)
    audience: Audience = Field(default_factory=Audience)
    trigger: Literal["purchase", "sweep", "any"] = Field(
        default="purchase", description="Decide on purchases, on the event-time sweep of silent customers, or both."
    )
    priority: float = Field(default=1.0, gt=0, le=10)
    total_budget: int | None = Field(default=None, ge=0, description="Assignments in all.")
    daily_budget: int | None = Field(default=None, ge=0, description="Assignments per event-time UTC day.")
    customer_cap: int | None = Field(default=None, ge=1, description="Assignments per customer, ever.")
    cooldown_days: float | None = Field(default=None, gt=0, description="Event time between two to one customer.")
    control_share: float = Field(
        default=0.0, ge=0, le=0.5,
        description="Share of the customers held out when this campaign is the next best offer's pick.")
    expires_after_days: float = Field(default=7, gt=0, le=365)
    attribution_days: float | None = Field(
        default=None, gt=0, le=365,
        description="How long after a decision purchases count towards the campaign's uplift "
                    "(default: expires_after_days).")
    window_days: int = Field(default=1, ge=1, le=365, description="The decision window that names assignment ids.")

    @model_validator(mode="after")
    def _schedule(self) -> Campaign:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def live_at(self, at: datetime) -> bool:
        return self.status == "active" and (self.starts_at is None or at >= self.starts_at) and (
            self.ends_at is None or at < self.ends_at)

    @property
    def attribution_window_days(self) -> float:
        return self.attribution_days if self.attribution_days is not None else self.expires_after_days

    def runs_on(self, trigger: str) -> bool:
        return self.trigger == "any" or self.trigger == trigger
