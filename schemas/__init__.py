"""Contracts on the wire: pydantic v2 models, serialised as plain JSON."""

from schemas.codec import InvalidEvent, decode, encode
from schemas.deadletter import DeadLetter
from schemas.decisions import DecisionTrace
from schemas.events import (
    CURRENCIES,
    EngagementEvent,
    EngagementType,
    LineItem,
    PaymentEvent,
    PurchaseEvent,
)
from schemas.offers import BadgeAward, OfferAssignment, OfferSnapshot
from schemas.scores import CustomerScores
from schemas.topics import BY_NAME, CONTRACTS, Contract

__all__ = [
    "BY_NAME",
    "CONTRACTS",
    "CURRENCIES",
    "BadgeAward",
    "Contract",
    "CustomerScores",
    "DeadLetter",
    "DecisionTrace",
    "EngagementEvent",
    "EngagementType",
    "InvalidEvent",
    "LineItem",
    "OfferAssignment",
    "OfferSnapshot",
    "PaymentEvent",
    "PurchaseEvent",
    "decode",
    "encode",
]
