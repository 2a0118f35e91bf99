"""Campaigns, the offers they link to, and the rule that says who qualifies.

This is the first, rule-based decision step; the ranked next-best-offer engine
with budgets and caps replaces `Catalog.matching` in a later step.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.offers import OfferSnapshot


class CampaignRule(BaseModel):
    """Every bound that is set must hold; an empty rule matches every purchase."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_purchase_count: int | None = Field(default=None, ge=0)
    max_purchase_count: int | None = Field(default=None, ge=0)
    min_churn_probability: float | None = Field(default=None, ge=0, le=1)
    min_basket_total: float | None = Field(default=None, ge=0)

    def matches(self, *, purchase_count: int, churn_probability: float, basket_total: float) -> bool:
        """
        >>> CampaignRule(min_basket_total=100).matches(purchase_count=1, churn_probability=0.1, basket_total=120)
        True
        >>> CampaignRule(max_purchase_count=1).matches(purchase_count=2, churn_probability=0.1, basket_total=5)
        False
        """
        checks = (
            self.min_purchase_count is None or purchase_count >= self.min_purchase_count,
            self.max_purchase_count is None or purchase_count <= self.max_purchase_count,
            self.min_churn_probability is None or churn_probability >= self.min_churn_probability,
            self.min_basket_total is None or basket_total >= self.min_basket_total,
        )
        return all(checks)

    def describe(self) -> str:
        """
        >>> CampaignRule(min_purchase_count=2, min_churn_probability=0.6).describe()
        'min_purchase_count=2, min_churn_probability=0.6'
        >>> CampaignRule().describe()
        'every purchase'
        """
        bounds = [f"{k}={v}" for k, v in self.model_dump(exclude_none=True).items()]
        return ", ".join(bounds) or "every purchase"


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=120)
    status: Literal["draft", "active", "paused", "ended"] = "draft"
    offer_id: str
    offer_config: dict[str, float | int | str | bool] = Field(default_factory=dict)
    rule: CampaignRule = Field(default_factory=CampaignRule)
    expires_after_days: float = Field(default=7, gt=0, le=365)
    # At most one assignment per customer per window of this many days (the cooldown).
    window_days: int = Field(default=1, ge=1, le=365)


class Catalog(BaseModel):
    """Offers and the campaigns that link to them; every campaign's offer must exist."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offers: list[OfferSnapshot]
    campaigns: list[Campaign]

    @model_validator(mode="after")
    def _links_resolve(self) -> Catalog:
        ids = {offer.offer_id for offer in self.offers}
        missing = sorted({c.offer_id for c in self.campaigns} - ids)
        if missing:
            raise ValueError(f"campaigns link to unknown offers: {', '.join(missing)}")
        return self

    def offer(self, offer_id: str) -> OfferSnapshot:
        return next(o for o in self.offers if o.offer_id == offer_id)

    def active(self) -> list[Campaign]:
        return [c for c in self.campaigns if c.status == "active"]


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog in `path`, or the one shipped with the package."""
    if path is None:
        text = resources.files("core").joinpath("data/catalog.json").read_text()
    else:
        text = Path(path).read_text()
    return Catalog.model_validate(json.loads(text))
