"""The catalog on its compacted topics: loaded from the file at first start, followed by every worker."""

from __future__ import annotations

import time

import pytest

from schemas import OfferAssignment
from schemas.campaigns import Campaign
from streams.kafka.catalog import publish_campaign
from streams.kafka.publisher import EventPublisher
from tests.integration.conftest import read_topic
from tests.unit.factories import purchase

pytestmark = pytest.mark.integration


def test_catalog_topics_bootstrap_and_a_new_campaign_takes_effect_live(settings, start_worker):
    worker = start_worker()
    health = worker.health()
    assert health["redis"] == {"reachable": True, "error": None}
    status = health["catalog"]
    assert status["source"] == "file, published to the topics"
    assert (status["offers"], status["campaigns"]) == (8, 6)
    offers = read_topic(settings, "offers", expect=8, idle=0.5)
    assert {r.key().decode() for r in offers} >= {"double-points-weekend", "welcome-bonus"}
    assert len(read_topic(settings, "campaigns", expect=6, idle=0.5)) == 6

    flash = Campaign(campaign_id="flash-coffee", name="Flash: free coffee for everyone", status="active",
                     offer_id="free-coffee", offer_config={"sku": "SKU-COFFEE"}, priority=10)
    publish_campaign(settings, flash)
    bad = flash.model_copy(update={"campaign_id": "broken", "offer_config": {"sku": "SKU-COFFEE", "colour": "red"}})
    publish_campaign(settings, bad)
    deadline = time.monotonic() + 20
    # Both records must be read: the good one can be in while the broken one is still on its way.
    while time.monotonic() < deadline:
        status = worker.health()["catalog"]
        if status["campaigns"] == 7 and status["refused"] >= 1:
            break
        time.sleep(0.2)
    assert status["campaigns"] == 7 and status["refused"] >= 1
    assert "offer_config.colour: Extra inputs are not permitted" in status["last_error"]

    publisher = EventPublisher(settings)
    publisher.publish(purchase("c-flash", day=0, total=12, n=1))
    assert publisher.flush() == 0
    (record,) = read_topic(settings, "offer-assignments", expect=1, idle=1.0)
    assert OfferAssignment.model_validate_json(record.value()).campaign_id == "flash-coffee"

    second = start_worker()  # a worker started later reads the catalog from the topics
    assert second.health()["catalog"]["source"] == "topics"
    assert second.health()["catalog"]["campaigns"] == 7
