"""Inbound events published by point-of-sale systems and apps, keyed by customer id."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

# ISO 4217 codes accepted on purchases and payments.
Currency = Literal["USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "BRL", "MXN", "INR"]
CURRENCIES = frozenset(get_args(Currency))

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")
HALF_CENT = Decimal("0.005")


class EventBase(BaseModel):
    """Fields every inbound event has. Unknown extra fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = 1
    event_id: str = Id
    customer_id: str = Id
    occurred_at: AwareDatetime

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # Which times are believed is the core's rule (`core.admission`): a floor that is a setting,
        # and bounds relative to the event-time watermark.
        return value.astimezone(timezone.utc)

    @property
    def ts(self) -> float:
        """Event time as epoch seconds."""
        return self.occurred_at.timestamp()


class LineItem(BaseModel):
    """One line of a basket. Amounts and quantities are strict: a JSON string is refused, not coerced."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sku: str = Field(min_length=1, max_length=64)
    category: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=10_000, strict=True)
    unit_price: float = Field(ge=0, le=1_000_000, allow_inf_nan=False, strict=True)


PaymentMethod = Literal["card", "cash", "mobile_wallet", "gift_card", "points", "bank_transfer", "other"]
PaymentStatus = Literal["paid", "pending", "failed", "refunded"]


class PurchaseEvent(EventBase):
    """A basket at a store or POS terminal (topic `purchases`).

    Only `paid` and `pending` baskets count as purchases; `failed` and `refunded`
    ones are kept as payment history.
    """

    store_id: str = Id
    items: list[LineItem] = Field(default_factory=list, max_length=500)
    total: float = Field(ge=0, le=10_000_000, allow_inf_nan=False, strict=True)
    currency: Currency = "USD"
    payment_method: PaymentMethod = "other"
    payment_status: PaymentStatus = "paid"

    @model_validator(mode="after")
    def _total_covers_items(self) -> PurchaseEvent:
        # Discounts may make the total smaller than the lines, never larger by more than rounding.
        # Compared as decimal money, not floats, with half a cent for each unit price's rounding:
        # a total of 39.31 for 3 x 13.10 is a price of 13.1033 rounded on the receipt.
        if not self.items:
            return self
        lines = sum((Decimal(repr(item.unit_price)) * item.quantity for item in self.items), Decimal(0))
        units = sum(item.quantity for item in self.items)
        if Decimal(repr(self.total)) > lines + HALF_CENT * units:
            raise ValueError(f"total {self.total} exceeds the sum of line items {lines:.2f}")
        return self


EngagementType = Literal[
    "app_open",
    "email_open",
    "email_click",
    "push_open",
    "offer_viewed",
    "offer_accepted",
    "offer_redeemed",
    "offer_dismissed",
    "points_redeemed",
    "review",
    "support_contact",
]


Channel = Literal["app", "email", "push", "sms", "web", "store", "call_center", "social"]


class EngagementEvent(EventBase):
    """A touch point outside a purchase (topic `engagements`)."""

    type: EngagementType
    channel: Channel = "app"
    campaign_id: str | None = Field(default=None, max_length=64)
    offer_id: str | None = Field(default=None, max_length=64)
    assignment_id: str | None = Field(default=None, max_length=64)


PaymentType = Literal["bill_due", "bill_paid", "payment_failed", "payment_late"]


class PaymentEvent(EventBase):
    """A bill or instalment event from billing (topic `payments`), for payment default risk.

    Kept apart from purchases: a bill is due, paid, failed or late independently of
    any basket, and billing systems publish it, not the POS.
    """

    type: PaymentType
    bill_id: str = Id
    amount: float = Field(ge=0, le=10_000_000, allow_inf_nan=False, strict=True)
    currency: Currency = "USD"
    due_at: AwareDatetime | None = None
