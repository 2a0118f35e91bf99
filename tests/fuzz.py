"""Random and mutated payloads for the purchase and engagement topics, from a seeded RNG.

Each payload is (key, value bytes). Some stay valid, most are broken in one of
the ways real producers break things: dropped or retyped fields, truncation,
bad UTF-8, deep nesting, huge numbers, absurd timestamps, unknown versions,
keys that are not the customer.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

WEIRD_VALUES = (
    None, "", " ", -1, -0.01, 0, 10**30, 1e308, True, [], {}, "x" * 5000, "\u0000", "\U0001F600" * 40,
    "2026-01-01", "1970-01-01T00:00:00Z", "2999-01-01T00:00:00Z", "not-a-date", [1, 2], {"nested": {"deep": 1}},
)


def valid_purchase(rng: random.Random, customer: str) -> dict:
    qty, price = rng.randint(1, 3), round(rng.uniform(1, 120), 2)
    return {
        "event_id": f"fz-{rng.getrandbits(40):x}",
        "customer_id": customer,
        "store_id": f"store-{rng.randint(1, 9)}",
        "occurred_at": f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T1{rng.randint(0, 9)}:00:00Z",
        "items": [{"sku": "SKU-F", "category": "grocery", "quantity": qty, "unit_price": price}],
        "total": round(qty * price, 2),
        "currency": rng.choice(["USD", "EUR", "GBP"]),
        "payment_method": rng.choice(["card", "cash"]),
    }


def valid_engagement(rng: random.Random, customer: str) -> dict:
    return {
        "event_id": f"fz-{rng.getrandbits(40):x}",
        "customer_id": customer,
        "occurred_at": f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T09:30:00+02:00",
        "type": rng.choice(["app_open", "email_click", "offer_viewed"]),
        "channel": rng.choice(["app", "email", "push"]),
    }


def _nested(depth: int, rng: random.Random) -> bytes:
    if rng.random() < 0.5:
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def mutate(rng: random.Random, body: dict) -> tuple[bytes | None, bytes]:
    """One payload derived from a valid body; returns (key, value)."""
    key = body["customer_id"].encode()
    kind = rng.randrange(14)
    body = dict(body)
    if kind == 0:
        pass  # stays valid
    elif kind == 1:
        body.pop(rng.choice(list(body)))
    elif kind == 2:
        body[rng.choice(list(body))] = rng.choice(WEIRD_VALUES)
    elif kind == 3:
        body[f"extra_{rng.randint(0, 99)}"] = rng.choice(WEIRD_VALUES)  # tolerated
    elif kind == 4:
        text = json.dumps(body).encode()
        return key, text[: rng.randrange(len(text))]
    elif kind == 5:
        text = bytearray(json.dumps(body).encode())
        text[rng.randrange(len(text))] = rng.choice([0xFF, 0xC3, 0x80, 0xFE])
        return key, bytes(text)
    elif kind == 6:
        return key, _nested(rng.choice([50, 300, 5000]), rng)
    elif kind == 7:
        text = json.dumps(body)
        return key, text.replace(f'"{body["customer_id"]}"', f'"{body["customer_id"]}", "huge": 1{"0" * 400}').encode()
    elif kind == 8:
        body["occurred_at"] = rng.choice(["2999-12-31T23:59:59Z", "1900-01-01T00:00:00Z", "0001-01-01T00:00:00Z"])
    elif kind == 9:
        body["schema_version"] = rng.choice([0, 2, 99, "1", None])
    elif kind == 10:
        key = rng.choice([None, b"", b"someone-else", bytes(rng.getrandbits(8) for _ in range(8))])
    elif kind == 11:
        return key, bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300)))
    elif kind == 12:
        return key, rng.choice([b"null", b"[]", b'"a string"', b"42", b"{}", b"", b"true"])
    else:
        body[rng.choice(list(body))] = rng.choice(WEIRD_VALUES)
        body.pop(rng.choice(list(body)), None)
    return key, json.dumps(body).encode()


def payloads(seed: int, count: int, kinds=("purchases", "engagements")) -> Iterator[tuple[str, bytes | None, bytes]]:
    """`count` (topic, key, value) triples, the same for the same seed."""
    rng = random.Random(seed)
    for _ in range(count):
        topic = rng.choice(kinds)
        customer = f"fz-{rng.randrange(500):03d}"
        body = valid_purchase(rng, customer) if topic == "purchases" else valid_engagement(rng, customer)
        key, value = mutate(rng, body)
        yield topic, key, value
