"""Per-customer state, changelog-backed, co-partitioned with the customer-keyed topics."""

from __future__ import annotations

from streams.app import app, settings

# Values are `CustomerState.to_dict()` as JSON: one changelog record per customer per event.
# No value_type: Faust's changelog recovery only rebuilds int/float/str/bytes or Faust
# models, and with `dict` it fails with a swallowed warning and never finishes.
customers = app.Table(
    "customers",
    default=None,
    key_type=str,
    partitions=settings.partitions,
    help="Per-customer purchase, engagement, label and offer state.",
)
