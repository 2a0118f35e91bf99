"""Kafka record headers on everything we produce, so tools can route without parsing."""

from __future__ import annotations

from schemas.topics import BY_NAME


def headers_for(topic: str, **extra: str) -> list[tuple[str, bytes]]:
    """
    >>> headers_for("offer-assignments")
    [('event-type', b'offer-assignment'), ('schema-version', b'1'), ('content-type', b'application/json')]
    """
    contract = BY_NAME[topic]
    version = contract.model.model_fields["schema_version"].default
    base = [
        ("event-type", contract.event_type.encode()),
        ("schema-version", str(version).encode()),
        ("content-type", b"application/json"),
    ]
    return base + [(k, v.encode()) for k, v in extra.items()]
