"""Small factories for canonical events, so each test states only what it cares about."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schemas import EngagementEvent, LineItem, PurchaseEvent

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def purchase(customer: str = "cust-1", *, day: float = 0.0, total: float = 40.0, n: int = 0, **extra) -> PurchaseEvent:
    return PurchaseEvent(
        event_id=f"p-{customer}-{n}-{day}",
        customer_id=customer,
        store_id="store-1",
        occurred_at=T0 + timedelta(days=day),
        items=[LineItem(sku="SKU-1", category="grocery", quantity=1, unit_price=total)],
        total=total,
        **extra,
    )


def engagement(customer: str = "cust-1", *, day: float = 0.0, kind: str = "app_open") -> EngagementEvent:
    return EngagementEvent(event_id=f"e-{customer}-{day}", customer_id=customer, occurred_at=T0 + timedelta(days=day), type=kind)


def purchase_json(**overrides) -> dict:
    body = {
        "event_id": "evt-1",
        "customer_id": "cust-1",
        "store_id": "store-9",
        "occurred_at": "2026-03-02T12:00:00Z",
        "items": [{"sku": "SKU-1", "category": "grocery", "quantity": 2, "unit_price": 10.0}],
        "total": 20.0,
        "currency": "EUR",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def drive_in_batches(processor, records, batch: int) -> list:
    """Records through `processor` as the live agent takes them: per record, process it, then sweep its
    partition; every `batch` records, settle what is held, after which every result so far is complete.
    Returns the results in order."""
    import asyncio

    from core.partitioning import partition_of

    results = []

    async def run():
        for i, (topic, key, value) in enumerate(records):
            results.append(await processor.process(topic, key, value, offset=i))
            results.append(await processor.sweep(partition_of(key, processor.partitions)))
            if (i + 1) % batch == 0:
                await processor.settle()
                assert all(result.waiting == 0 for result in results)
        await processor.settle()
        assert all(result.waiting == 0 for result in results)

    asyncio.run(run())
    return results
