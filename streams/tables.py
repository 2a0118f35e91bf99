"""Per-customer state, changelog-backed, co-partitioned with the customer-keyed topics."""

from __future__ import annotations

from core import CustomerState
from streams.app import app, settings

# Values are `CustomerState.to_dict()` as JSON: one changelog record per customer per event.
# No value_type: Faust's changelog recovery only rebuilds int/float/str/bytes or Faust
# models, and with `dict` it fails with a swallowed warning and never finishes.
customers = app.Table(
    "customers",
    default=None,
    key_type=str,
    partitions=settings.partitions,
    help="Per-customer purchase, engagement, payment, label and offer state.",
)


def load_state(customer_id: str) -> CustomerState | None:
    stored = customers.get(customer_id)
    return CustomerState.from_dict(stored) if stored else None


def save_state(state: CustomerState) -> None:
    """Must run while the event that changed the state is the current one (see FIELD-NOTES)."""
    customers[state.customer_id] = state.to_dict()
