"""The offer catalog and the campaigns, kept by every worker from their compacted topics.

Each worker reads `offers` and `campaigns` in full (no consumer group: every worker
needs all of them, a global table), first to their end before any record is
processed, then follows them in a background thread. When both topics are empty,
the catalog file (`LOYALTY_CATALOG_FILE`, or the packaged one) is published to them
first. A campaign that does not fit the catalog (unknown offer, bad offer_config) is
refused and logged; the worker keeps the catalog it had.
"""

from __future__ import annotations

import logging
import threading
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from pydantic import ValidationError

from core import Catalog, LoyaltyEngine
from schemas.campaigns import Campaign
from schemas.headers import headers_for
from schemas.offers import OfferSnapshot
from streams.kafka.follow import FOLLOWER_FETCH, Follower
from streams.settings import Settings

log = logging.getLogger("loyalty.catalog")


def publish_catalog(settings: Settings, catalog: Catalog) -> int:
    """Write every offer and campaign to its topic, keyed by id (the latest per id wins)."""
    producer = Producer({**settings.kafka_client_config(), "enable.idempotence": True})
    for offer in catalog.offers:
        producer.produce(settings.topic("offers"), key=offer.offer_id.encode(), value=offer.model_dump_json().encode(),
                         headers=headers_for("offers"))
    for campaign in catalog.campaigns:
        publish_campaign(settings, campaign, producer)
    left = producer.flush(30)
    if left:
        raise RuntimeError(f"{left} catalog records not delivered")
    return len(catalog.offers) + len(catalog.campaigns)


def publish_campaign(settings: Settings, campaign: Campaign, producer: Producer | None = None) -> None:
    own = producer is None
    producer = producer or Producer(settings.kafka_client_config())
    producer.produce(settings.topic("campaigns"), key=campaign.campaign_id.encode(),
                     value=campaign.model_dump_json().encode(), headers=headers_for("campaigns"))
    if own and producer.flush(30):
        raise RuntimeError("campaign not delivered")


class CatalogFollower(Follower):
    thread_name, what = "catalog-follower", "catalog topics"

    def __init__(self, settings: Settings, engine: LoyaltyEngine, fallback: Catalog) -> None:
        super().__init__()
        self.settings = settings
        self.engine = engine
        self.fallback = fallback
        self.offers: dict[str, OfferSnapshot] = {}
        self.campaigns: dict[str, Campaign] = {}
        self.refused = 0
        self.last_error: str | None = None
        self.source = "none"
        self._lock = threading.Lock()  # the follower thread and the API both rebuild

    def status(self) -> dict:
        return {"source": self.source, "offers": len(self.engine.catalog.offers),
                "campaigns": len(self.engine.catalog.campaigns), "refused": self.refused, "last_error": self.last_error}

    def bootstrap(self) -> None:
        """Read both topics to their end; publish the fallback catalog if they are empty."""
        consumer = self._consumer = Consumer({
            **self.settings.kafka_client_config(),
            "group.id": f"catalog-{uuid.uuid4().hex[:8]}",  # never committed: every worker reads everything
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            **FOLLOWER_FETCH,
        })
        partitions = [TopicPartition(self.settings.topic(t), 0, OFFSET_BEGINNING) for t in ("offers", "campaigns")]
        consumer.assign(partitions)
        at_end: set[str] = set()
        while len(at_end) < 2:
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.topic())
                    continue
                raise RuntimeError(f"catalog topics: {message.error()}")
            self._apply(message)
        if not self.offers:
            count = publish_catalog(self.settings, self.fallback)
            log.info("catalog topics were empty: published %d offers and campaigns from the catalog file", count)
            self.engine.catalog = self.fallback
            self.offers = {o.offer_id: o for o in self.fallback.offers}
            self.campaigns = {c.campaign_id: c for c in self.fallback.campaigns}
            self.source = "file, published to the topics"
        else:
            self._rebuild()
            self.source = "topics"

    def _take(self, message) -> None:
        with self._lock:
            self._apply(message)
            self._rebuild()

    def accept(self, campaign: Campaign) -> None:
        """Use a campaign this worker just published, before its record comes back from the topic.

        It goes into the follower's own set, so a rebuild for an older record that is
        still on its way back (the fallback catalog's, another worker's) keeps it.
        """
        with self._lock:
            self.campaigns[campaign.campaign_id] = campaign
            self._rebuild()

    def _apply(self, message) -> None:
        key = message.key().decode(errors="replace") if message.key() else None
        is_offer = message.topic() == self.settings.topic("offers")
        store = self.offers if is_offer else self.campaigns
        if message.value() is None:
            store.pop(key, None)  # a tombstone deletes
            return
        try:
            record = (OfferSnapshot if is_offer else Campaign).model_validate_json(message.value())
        except ValidationError as error:
            self._refuse(f"{message.topic()} {key}: {error.errors(include_url=False)[0]['msg']}")
            return
        store[key] = record

    def _rebuild(self) -> None:
        """Swap in a new catalog; campaigns that do not fit it are left out, loudly."""
        campaigns = []
        offers = list(self.offers.values())
        for campaign in self.campaigns.values():
            try:
                Catalog(offers=offers, campaigns=[campaign])
                campaigns.append(campaign)
            except ValidationError as error:
                self._refuse(str(error.errors(include_url=False)[0]["msg"]))
        self.engine.catalog = Catalog(offers=offers, campaigns=sorted(campaigns, key=lambda c: c.campaign_id))

    def _refuse(self, reason: str) -> None:
        self.refused += 1
        self.last_error = reason
        log.error("catalog record refused: %s", reason)
