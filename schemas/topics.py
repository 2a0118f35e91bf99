"""Every topic's contract in one list: its name, key, value model and direction.

The worker declares its topics from this list, the JSON Schema export writes one
file per entry, and docs/contracts.md's topic table describes the same entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from schemas.campaigns import Campaign
from schemas.deadletter import DeadLetter
from schemas.decisions import DecisionTrace
from schemas.events import EngagementEvent, PaymentEvent, PurchaseEvent
from schemas.labels import LabeledExampleRecord
from schemas.models import ModelVersionRecord
from schemas.offers import BadgeAward, OfferAssignment, OfferSnapshot
from schemas.performance import CampaignPerformanceRecord
from schemas.scores import CustomerScores


@dataclass(frozen=True)
class Contract:
    name: str
    key: str
    model: type[BaseModel]
    direction: Literal["in", "out"]
    customer_keyed: bool
    description: str
    kafka: bool = True  # False: a record served by the API and Redis, not a topic
    compacted: bool = False  # a table on a topic: one partition, the latest record per key kept

    @property
    def event_type(self) -> str:
        """The `event-type` header value of this topic's records."""
        return self.name.removesuffix("s")


CONTRACTS: tuple[Contract, ...] = (
    Contract("purchases", "customer_id", PurchaseEvent, "in", True, "Baskets from point-of-sale systems."),
    Contract("engagements", "customer_id", EngagementEvent, "in", True, "App, message and offer interactions."),
    Contract("payments", "customer_id", PaymentEvent, "in", True, "Bills due, paid, failed or late."),
    Contract("offer-assignments", "campaign_id", OfferAssignment, "out", False, "Offers for messaging services."),
    Contract("decisions", "customer_id", DecisionTrace, "out", True, "Why each offer was or was not made."),
    Contract("badge-awards", "customer_id", BadgeAward, "out", True, "Gamification badges earned."),
    Contract("labels", "model", LabeledExampleRecord, "out", False, "Resolved predictions: the training set."),
    Contract("dead-letters", "source record key", DeadLetter, "out", False, "Records that could not be processed."),
    Contract("offers", "offer_id", OfferSnapshot, "in", False, "The offer catalog.", compacted=True),
    Contract("campaigns", "campaign_id", Campaign, "in", False, "Campaigns linking to offers.", compacted=True),
    Contract("models", "learner", ModelVersionRecord, "out", False, "Model versions a learner published.", compacted=True),
    Contract("performance", "campaign_id", CampaignPerformanceRecord, "out", False,
             "Each campaign's uplift against its holdout, with each model version.", compacted=True),
    Contract("customer-scores", "customer_id", CustomerScores, "out", True, "Per-customer scores (API, Redis).", kafka=False),
)

BY_NAME = {c.name: c for c in CONTRACTS}

# The canonical customer events and their topics: purchases, engagements, payments.
CUSTOMER_EVENTS: dict[str, type[BaseModel]] = {
    c.name: c.model for c in CONTRACTS if c.direction == "in" and c.customer_keyed
}
TOPIC_OF_EVENT: dict[type[BaseModel], str] = {model: name for name, model in CUSTOMER_EVENTS.items()}
