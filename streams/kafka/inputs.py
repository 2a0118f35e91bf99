"""What the live agent reads off a Kafka record before the core sees it: its headers, its coordinates.

Replayed records carry no headers, so the header check is the live driver's alone.
"""

from __future__ import annotations

from core.outputs import Source
from core.processing import MODELS, Result
from schemas.codec import InvalidEvent
from schemas.headers import check_headers


def refuse_headers(kind: str, headers) -> Result | None:
    """A rejected `Result` for a record of topic `kind` whose `schema-version` header this worker
    does not read, or None.

    >>> refuse_headers("purchases", [("schema-version", b"1")]) is None
    True
    >>> refuse_headers("purchases", [("schema-version", b"2")]).invalid
    'unknown schema-version header 2 (this worker reads 1)'
    """
    try:
        check_headers(MODELS[kind], headers)
    except InvalidEvent as error:
        return Result(invalid=error.reason)
    return None


def source_of(message) -> Source:
    """A Faust message's coordinates, for its dead letter."""
    return Source(message.topic, message.partition, message.offset, message.key, message.value, message.timestamp)
