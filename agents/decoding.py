"""The two places a record can fail, each ending in a dead letter instead of a crash."""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from faust.types import EventT
from pydantic import BaseModel

from schemas import InvalidEvent, decode
from streams.runtime import counters, dead_letters

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("loyalty.agents")


async def decode_or_dead_letter(event: EventT, model: type[M]) -> M | None:
    """The record as a canonical event, or None after dead-lettering it with the reason."""
    message = event.message
    counters.events_in[message.topic] += 1
    try:
        decoded = decode(model, message.value)
        customer_id = getattr(decoded, "customer_id", None)
        if customer_id is not None and message.key != customer_id.encode():
            # Under another key the record sits on another partition than the
            # customer's state: processing it would split that state.
            raise InvalidEvent(f"record key {message.key!r} is not the customer_id {customer_id!r}")
        return decoded
    except InvalidEvent as error:
        await dead_letters.send(message, error.reason)
    except Exception as error:  # noqa: BLE001 - whatever the bytes, the stream goes on
        await dead_letters.send(message, f"undecodable ({type(error).__name__}): {error}")
    return None


async def run_core(event: EventT, step: Callable[..., Any], *args: Any) -> Any | None:
    """Call a pure core step; a failure dead-letters the record as a processing error."""
    try:
        return step(*args)
    except Exception as error:  # noqa: BLE001 - one bad event must not stop the partition
        log.exception("processing failed at %s:%s@%s", event.message.topic, event.message.partition, event.message.offset)
        await dead_letters.send(event.message, f"{type(error).__name__}: {error}", kind="processing")
        return None
