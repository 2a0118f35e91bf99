"""Kafka record headers on everything we produce, so tools can route without parsing."""

from __future__ import annotations

from schemas.codec import InvalidEvent, describe_versions, known_versions
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


def header_value(headers, name: str) -> bytes | None:
    """The last value of header `name` in Kafka/Faust headers (a list of pairs or a mapping), or None."""
    if not headers:
        return None
    pairs = headers.items() if hasattr(headers, "items") else headers
    found = None
    for key, value in pairs:
        if (key.decode("utf-8", "replace") if isinstance(key, bytes) else key) == name:
            found = value.encode() if isinstance(value, str) else value
    return found


def check_headers(model, headers) -> None:
    """Refuse a record whose `schema-version` header names a version `model` does not read.

    A record without the header passes (plain producers send none); the body's own
    `schema_version` is checked by `schemas.codec.check_version`.

    >>> from schemas import PurchaseEvent
    >>> check_headers(PurchaseEvent, [("schema-version", b"1")])
    >>> check_headers(PurchaseEvent, [("schema-version", b"2")])
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: unknown schema-version header 2 (this worker reads 1)
    """
    value = header_value(headers, "schema-version")
    known = known_versions(model)
    if value is None or not known:
        return
    text = value.decode("utf-8", "replace").strip()
    if text.isascii() and text.isdigit() and int(text) in known:
        return
    shown = text if len(text) <= 24 else text[:21] + "..."
    raise InvalidEvent(f"unknown schema-version header {shown} (this worker reads {describe_versions(known)})")
