"""JSON bytes to validated models and back. Every failure is one `InvalidEvent`."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

MAX_EVENT_BYTES = 1_000_000


class InvalidEvent(ValueError):
    """An inbound record that cannot become a canonical event; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def check_record(raw: bytes | str | None) -> None:
    """Refuse a record without a value, or over the size any event may have."""
    if raw is None:
        raise InvalidEvent("empty record (no value)")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"record of {len(raw)} bytes exceeds {MAX_EVENT_BYTES}")


def decode(model: type[M], raw: bytes | str | None) -> M:
    """Parse and validate one record value, or raise `InvalidEvent` with a readable reason.

    >>> from schemas import PurchaseEvent
    >>> decode(PurchaseEvent, b'{"event_id": "e1"}')
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: customer_id: Field required; occurred_at: Field required; store_id: Field required; total: Field required
    """
    check_record(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            raise InvalidEvent(f"not JSON: {first['msg']}") from None
        raise InvalidEvent(_describe(error)) from None
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidEvent(f"undecodable: {error}") from None


def encode(model: BaseModel) -> bytes:
    """Compact JSON bytes, as sent on the wire."""
    return model.model_dump_json().encode()
