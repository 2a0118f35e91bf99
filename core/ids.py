"""Deterministic ids for everything we emit, so redelivery never looks like a new offer."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone

# Fixed namespace: changing it would change every assignment id ever issued.
_NAMESPACE = uuid.UUID("5b0f3c52-8a35-4f0e-9d61-6f6c6f79616c")


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`, without building the UUID object (a label id per resolved prediction).

    >>> name = "label|c-1|churn|1.5|9.0||a=1.0"
    >>> uuid5_text(_NAMESPACE, name) == str(uuid.uuid5(_NAMESPACE, name))
    True
    """
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])  # noqa: S324 - RFC 4122 v5
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def decision_window(at: float, days: int = 1) -> str:
    """The decision window an event-time instant falls in, named by its first UTC day.

    Windows are `days` long and aligned on the Unix epoch, so every worker and
    every replay cuts time the same way.

    >>> decision_window(0.0)
    '1970-01-01'
    >>> decision_window(10 * 86_400 + 5, days=7)
    '1970-01-08'
    """
    day = int(at // 86_400)
    start = day - day % days
    return datetime.fromtimestamp(start * 86_400, tz=timezone.utc).date().isoformat()


def assignment_id(campaign_id: str, customer_id: str, window: str) -> str:
    """Same campaign, customer and window give the same id, on any worker, on replay.

    >>> assignment_id("c1", "cust-1", "2026-01-01") == assignment_id("c1", "cust-1", "2026-01-01")
    True
    """
    return uuid5_text(_NAMESPACE, f"assignment|{campaign_id}|{customer_id}|{window}")


def badge_award_id(badge_id: str, customer_id: str) -> str:
    """Same badge and customer give the same id, on any worker, on replay.

    >>> badge_award_id("explorer", "c-1") == badge_award_id("explorer", "c-1")
    True
    >>> badge_award_id("explorer", "c-1") == badge_award_id("explorer", "c-2")
    False
    """
    return uuid5_text(_NAMESPACE, f"badge|{badge_id}|{customer_id}")


def example_id(customer_id: str, task: str, predicted_at: float, resolved_at: float, features: dict[str, float],
               ref: str | None = None) -> str:
    """One id per resolved prediction: a label sent again carries the same id.

    Two predictions of one task can share their time (a purchase and an engagement at the
    same instant both predict engagement); the features they used differ, since the
    first event is applied before the second predicts, and so do their ids.

    >>> example_id("c-1", "churn", 1.5, 9.0, {"a": 1.0}) == example_id("c-1", "churn", 1.5, 9.0, {"a": 1.0})
    True
    >>> example_id("c-1", "churn", 1.5, 9.0, {"a": 1.0}) == example_id("c-1", "churn", 1.5, 9.0, {"a": 2.0})
    False
    """
    inputs = ",".join(f"{name}={value!r}" for name, value in sorted(features.items()))
    return uuid5_text(_NAMESPACE, f"label|{customer_id}|{task}|{predicted_at!r}|{resolved_at!r}|{ref or ''}|{inputs}")
