"""Records that could not be processed, kept with their original bytes (topic `dead-letters`)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Original bytes beyond this are cut (and `value_truncated` set), so a dead letter
# always fits in a Kafka record even when the poison was an oversized one.
MAX_KEPT_BYTES = 256 * 1024

_NAMESPACE = uuid.UUID("0d3a4c8e-2b7f-4f55-9a61-646561646c74")

ErrorKind = Literal["invalid", "processing"]


class DeadLetter(BaseModel):
    """Why a record failed, where it came from, and its bytes (base64, plus text when UTF-8)."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    dead_letter_id: str
    source_topic: str
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    error_kind: ErrorKind
    error: str = Field(max_length=2000)
    key_base64: str | None = None
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
        try:
            text = kept.decode("utf-8") if value is not None else None
        except UnicodeDecodeError:
            text = None
        return cls(
            dead_letter_id=str(uuid.uuid5(_NAMESPACE, f"{topic}|{partition}|{offset}")),
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            error_kind=kind,
            error=error[:2000],
            key_base64=base64.b64encode(key).decode() if key is not None else None,
            value_base64=base64.b64encode(kept).decode() if value is not None else None,
            value_text=text,
            value_size=len(value or b""),
            value_truncated=len(value or b"") > MAX_KEPT_BYTES,
            record_timestamp=(
                datetime.fromtimestamp(record_timestamp, tz=timezone.utc) if record_timestamp is not None else None
            ),
            failed_at=now or datetime.now(timezone.utc),
        )
