"""Contracts on the wire: pydantic v2 models, serialised as plain JSON."""

from schemas.codec import InvalidEvent, decode, encode
from schemas.events import (
    CURRENCIES,
    EngagementEvent,
    EngagementType,
    LineItem,
    PurchaseEvent,
)
from schemas.offers import OfferAssignment, OfferSnapshot

__all__ = [
    "CURRENCIES",
    "EngagementEvent",
    "EngagementType",
    "InvalidEvent",
    "LineItem",
    "OfferAssignment",
    "OfferSnapshot",
    "PurchaseEvent",
    "decode",
    "encode",
]
