import json

import pytest
from pydantic import ValidationError

from core import Catalog, load_catalog
from core.campaigns import Campaign, offer_value, validate_offer_config


def catalog_data() -> dict:
    return json.loads(load_catalog().model_dump_json())


def test_packaged_catalog_has_eight_offers_and_active_campaigns():
    catalog = load_catalog()
    assert len(catalog.offers) == 8
    double = catalog.offer("double-points-weekend")
    assert (double.name, double.category, double.lifecycle_stage, double.target_value_segment) == (
        "Double Points Weekend", "points", "retention", "all")
    assert double.description == "Earn double points on all purchases this weekend."
    assert {c.campaign_id for c in catalog.active()} >= {"welcome-2026", "retain-at-risk", "big-basket"}
    assert "double-points-draft" not in {c.campaign_id for c in catalog.active()}


def test_a_campaign_linking_to_an_unknown_offer_is_refused_naming_the_field():
    data = catalog_data()
    data["campaigns"][0]["offer_id"] = "no-such-offer"
    with pytest.raises(ValidationError, match="offer_id: unknown offer 'no-such-offer'"):
        Catalog.model_validate(data)


@pytest.mark.parametrize(
    ("offer_id", "config", "message"),
    [
        ("we-miss-you-20", {"discount_percent": 120}, "offer_config.discount_percent: Input should be less than or equal to 100"),
        ("we-miss-you-20", {"discount_percent": 20, "points_bonus": 5}, "offer_config.points_bonus: Extra inputs are not permitted"),
        ("welcome-bonus", {"points_bonus": -1}, "offer_config.points_bonus: Input should be greater than or equal to 0"),
        ("we-miss-you-20", {}, "offer_config.discount_percent: Field required"),
        ("gold-upgrade", {"tier": "diamond"}, "offer_config.tier"),
    ],
)
def test_offer_config_is_checked_against_the_offers_category(offer_id, config, message):
    data = catalog_data()
    data["campaigns"][0].update(offer_id=offer_id, offer_config=config)
    with pytest.raises(ValidationError) as caught:
        Catalog.model_validate(data)
    assert message in str(caught.value)


def test_unknown_campaign_and_audience_keys_are_refused():
    data = catalog_data()
    data["campaigns"][0]["audience"] = {"min_spend_typo": 3}
    with pytest.raises(ValidationError, match="min_spend_typo"):
        Catalog.model_validate(data)


def test_offer_values_follow_the_config():
    assert offer_value("discount", validate_offer_config("discount", {"discount_percent": 20}), 50) == 10
    assert offer_value("points", validate_offer_config("points", {"points_bonus": 200}), 50) == 2
    assert offer_value("cashback", validate_offer_config("cashback", {"cashback_percent": 10, "max_cashback": 3}), 50) == 3


def test_catalog_file_overrides_the_packaged_one(tmp_path):
    path = tmp_path / "catalog.json"
    data = catalog_data()
    data["campaigns"] = data["campaigns"][:1]
    path.write_text(json.dumps(data))
    assert [c.campaign_id for c in load_catalog(path).campaigns] == ["welcome-2026"]


class _Echo:
    """A campaigns-topic record as the follower's consumer hands it over."""

    def __init__(self, settings, campaign: Campaign) -> None:
        self._topic, self._campaign = settings.topic("campaigns"), campaign

    def topic(self):
        return self._topic

    def key(self):
        return self._campaign.campaign_id.encode()

    def value(self):
        return self._campaign.model_dump_json().encode()


def test_a_campaign_created_here_survives_the_echo_of_older_records():
    from core import LoyaltyEngine
    from streams.kafka.catalog import CatalogFollower
    from streams.settings import Settings

    settings, fallback = Settings(), load_catalog()
    engine = LoyaltyEngine(fallback)
    follower = CatalogFollower(settings, engine, fallback)
    follower.offers = {o.offer_id: o for o in fallback.offers}
    follower.campaigns = {c.campaign_id: c for c in fallback.campaigns}
    new = Campaign(campaign_id="flash", name="Flash", status="active", offer_id="free-coffee",
                   offer_config={"sku": "SKU-COFFEE"})
    follower.accept(new)
    follower._apply(_Echo(settings, fallback.campaigns[0]))  # an older record still coming back
    follower._rebuild()
    assert new in engine.catalog.campaigns
