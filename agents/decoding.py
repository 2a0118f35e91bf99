"""Record to canonical event, or a counted, logged invalid record. Never raises."""

from __future__ import annotations

from typing import TypeVar

from faust.types import EventT
from pydantic import BaseModel

from schemas import InvalidEvent, decode
from streams.counters import InvalidRecord
from streams.runtime import counters, invalid_events

M = TypeVar("M", bound=BaseModel)


def decode_record(event: EventT, model: type[M]) -> M | None:
    message = event.message
    counters.events_in[message.topic] += 1
    raw, key = message.value, message.key
    try:
        decoded = decode(model, raw)
        customer_id = getattr(decoded, "customer_id", None)
        if customer_id is not None and key != customer_id.encode():
            # A record under another key lives on another partition than the
            # customer's state: processing it would split that state.
            raise InvalidEvent(f"record key {key!r} is not the customer_id {customer_id!r}")
        return decoded
    except InvalidEvent as error:
        invalid_events.record(InvalidRecord(message.topic, message.partition, message.offset, error.reason, raw, key))
    except Exception as error:  # noqa: BLE001 - whatever the bytes, the stream goes on
        invalid_events.record(
            InvalidRecord(message.topic, message.partition, message.offset, f"unexpected {type(error).__name__}: {error}", raw, key)
        )
    return None
