"""The offer catalog and the campaigns that link to it.

The contracts live in `schemas.campaigns`; here they are put together into a
`Catalog` whose every campaign links to a known offer with a fitting config.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import PrivateAttr, model_validator

from schemas.campaigns import (
    OFFER_CONFIGS,
    Audience,
    Campaign,
    CashbackConfig,
    DiscountConfig,
    ExperienceConfig,
    FreeItemConfig,
    PointsConfig,
    TierUpgradeConfig,
    _Config,
    validate_offer_config,
)
from schemas.offers import OfferSnapshot

__all__ = ["OFFER_CONFIGS", "Audience", "Campaign", "Catalog", "campaign_problems", "check_campaign", "load_catalog",
           "offer_value",
           "validate_offer_config"]


def offer_value(category: str, config: _Config, avg_basket: float) -> float:
    """What an offer is worth to a customer, in currency, for ranking offers against each other."""
    basket = max(avg_basket, 10.0)
    match config:
        case PointsConfig():
            return config.points_bonus / 100 + (config.points_multiplier - 1) * basket / 100
        case DiscountConfig():
            return basket * config.discount_percent / 100
        case CashbackConfig():
            value = basket * config.cashback_percent / 100
            return min(value, config.max_cashback) if config.max_cashback is not None else value
        case FreeItemConfig():
            return config.item_value * config.quantity
        case TierUpgradeConfig():
            return {"silver": 3.0, "gold": 6.0, "platinum": 12.0}[config.tier] * config.duration_days / 30
        case ExperienceConfig():
            return config.experience_value
    raise ValueError(f"no value for category {category}")


class Catalog(_Config):
    """Offers and the campaigns that link to them; every link and offer_config is checked."""

    offers: list[OfferSnapshot]
    campaigns: list[Campaign]
    # Lookups a decision makes for every campaign, worked out once (a catalog is frozen).
    _offers: dict[str, OfferSnapshot] = PrivateAttr(default_factory=dict)
    _configs: dict[str, tuple[Campaign, _Config]] = PrivateAttr(default_factory=dict)
    _by_id: tuple[Campaign, ...] = PrivateAttr(default=())
    _shortest_days: float = PrivateAttr(default=float("inf"))

    @model_validator(mode="after")
    def _links_resolve(self) -> Catalog:
        offers = {offer.offer_id: offer for offer in self.offers}
        for campaign in self.campaigns:
            check_campaign(campaign, offers)
        self._offers = offers
        self._configs = {c.campaign_id: (c, validate_offer_config(offers[c.offer_id].category, c.offer_config))
                         for c in self.campaigns}
        self._by_id = tuple(sorted(self.campaigns, key=lambda c: c.campaign_id))
        self._shortest_days = min((d for c in self.campaigns for d in (c.expires_after_days, c.attribution_window_days)),
                                  default=float("inf"))
        return self

    def offer(self, offer_id: str) -> OfferSnapshot:
        return self._offers[offer_id]

    def campaign(self, campaign_id: str) -> Campaign:
        return self._configs[campaign_id][0]

    def by_id(self) -> tuple[Campaign, ...]:
        """The campaigns in campaign id order (the order decisions consider them in)."""
        return self._by_id

    def shortest_window_days(self) -> float:
        """The shortest offer expiry or comparison window of any campaign (inf with none): the soonest
        deadline a decision against this catalog can leave a customer with."""
        return self._shortest_days

    def active(self) -> list[Campaign]:
        return [c for c in self.campaigns if c.status == "active"]

    def config(self, campaign: Campaign) -> _Config:
        known = self._configs.get(campaign.campaign_id)
        if known is not None and known[0] is campaign:
            return known[1]
        return validate_offer_config(self.offer(campaign.offer_id).category, campaign.offer_config)


def campaign_problems(campaign: Campaign, offers: dict[str, OfferSnapshot]) -> list[tuple[str, str]]:
    """(field, message) for each way a campaign does not fit the catalog; empty when it fits."""
    offer = offers.get(campaign.offer_id)
    if offer is None:
        return [("offer_id", f"unknown offer {campaign.offer_id!r}")]
    try:
        validate_offer_config(offer.category, campaign.offer_config)
    except ValueError as error:
        return [tuple(part.split(": ", 1)) for part in str(error).split("; ")]
    return []


def check_campaign(campaign: Campaign, offers: dict[str, OfferSnapshot]) -> None:
    """Refuse a campaign whose offer is unknown or whose offer_config does not fit the offer's category."""
    problems = campaign_problems(campaign, offers)
    if problems:
        offer = offers.get(campaign.offer_id)
        kind = f" ({offer.category} offer)" if offer else ""
        raise ValueError(f"campaign {campaign.campaign_id}{kind}: " + "; ".join(f"{f}: {m}" for f, m in problems))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog in `path`, or the one shipped with the package."""
    if path is None:
        text = resources.files("core").joinpath("data/catalog.json").read_text()
    else:
        text = Path(path).read_text()
    return Catalog.model_validate(json.loads(text))
