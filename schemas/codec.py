"""JSON bytes to validated models and back. Every failure is one `InvalidEvent`.

What an inbound record must be before a model even looks at it (`parse_json`):

- a value (not a tombstone) of at most `MAX_EVENT_BYTES` (128 KiB; vendor payloads
  `MAX_SOURCE_BYTES`, 256 KiB), refused before it is parsed. Real events are under
  1 KiB, a realistic 500-line basket (the most the contract allows) about 40 KB, and
  the largest event the contract allows at all (500 lines, every string at its limit)
  97 KB of compact JSON: 128 KiB refuses no valid event, and is an eighth of the
  1 MB a record may have on the broker;
- UTF-8 without a byte order mark, and strict JSON (RFC 8259): no `NaN`,
  `Infinity` or `-Infinity` literals, no lone surrogate escapes, nesting at most
  `MAX_JSON_DEPTH` levels (pydantic-core's parser limit; deeper input is refused
  by the parser as it reads, with no Python recursion);
- every number, read or ignored, holdable by any consumer: finite (`1e400` is not)
  and, for integers, within +-2**53 (the parser itself refuses more than 4300 digits);
- a `schema_version`, when present, that this worker reads (`check_version`).

Then the model validates it (`decode`); the Kafka headers have their own check
(`schemas.headers.check_headers`).
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

M = TypeVar("M", bound=BaseModel)

# Largest record value an inbound event may have. See the module docstring for why 128 KiB.
MAX_EVENT_BYTES = 128 * 1024
# Largest vendor payload (POS source topics, `sources.mapping`): vendors carry their own fields
# (taxes, tenders, line detail) that we do not control or read, so they get twice as much.
MAX_SOURCE_BYTES = 256 * 1024
# Deepest JSON nesting read; pydantic-core's JSON parser stops there by itself.
MAX_JSON_DEPTH = 200
# Largest integer magnitude accepted anywhere in a record: what a JSON number holds exactly everywhere.
MAX_JSON_INT = 2**53
# Reasons are cut here: they go into logs, counters and dead letters, whatever the input was.
MAX_REASON_CHARS = 500

_BOM = b"\xef\xbb\xbf"
_POSITION = re.compile(r"line (\d+) column (\d+)")
_NON_FINITE = re.compile(rb"NaN|Infinity")


class InvalidEvent(ValueError):
    """An inbound record that cannot become a canonical event; `reason` says why (at most 500 characters)."""

    def __init__(self, reason: str) -> None:
        if len(reason) > MAX_REASON_CHARS:  # the middle goes: a reason ends with what it is about
            half = (MAX_REASON_CHARS - 5) // 2
            reason = f"{reason[:half]} ... {reason[-half:]}"
        super().__init__(reason)
        self.reason = reason


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def check_record(raw: bytes | str | None, max_bytes: int = MAX_EVENT_BYTES) -> None:
    """Refuse a record without a value, or over the size any event may have (`max_bytes`).

    >>> check_record(b" " * 200_000)
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: too large: record of 200,000 bytes exceeds the 131,072-byte limit of an event
    """
    if raw is None:
        raise InvalidEvent("empty record (no value)")
    if len(raw) > max_bytes:
        raise InvalidEvent(f"too large: record of {len(raw):,} bytes exceeds the {max_bytes:,}-byte limit of an event")


def parse_json(raw: bytes | str | None, max_int: int | None = MAX_JSON_INT, max_bytes: int = MAX_EVENT_BYTES) -> Any:
    """The record's value as Python data, or `InvalidEvent`: size, UTF-8, strict JSON, depth, numbers.

    `max_int=None` leaves integers to the parser's own 4300-digit limit, and `max_bytes` sets
    the size limit (vendor payloads: their ignored fields may hold 64-bit serial numbers).

    >>> parse_json(b'{"total": 12.5, "items": []}')
    {'total': 12.5, 'items': []}
    >>> parse_json(b'{"total": NaN}')
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: not JSON: NaN and Infinity are not JSON numbers (at line 1 column 11)
    >>> parse_json(b"[" * 30_000 + b"]" * 30_000)
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: not JSON: nested more than 200 levels deep (at line 1 column 202)
    >>> parse_json(b'{"items": [{"unit_price": 1e400}]}')
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: number out of range at items.0.unit_price: beyond the 64-bit float range (+-1.8e308)
    """
    check_record(raw, max_bytes)
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InvalidEvent(f"not JSON: invalid UTF-8 (a lone surrogate at character {error.start})") from None
    if raw.startswith(_BOM):
        raise InvalidEvent("not JSON: starts with a UTF-8 byte order mark")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidEvent(f"not JSON: invalid UTF-8 at byte {error.start} (0x{raw[error.start]:02x}: {error.reason})") from None
    try:
        document = from_json(raw, allow_inf_nan=False)
    except ValueError as error:
        raise InvalidEvent(_json_reason(raw, str(error))) from None
    check_numbers(document, max_int)
    return document


def _json_reason(raw: bytes, message: str) -> str:
    """A readable reason for pydantic-core's JSON error `message` ("... at line L column C")."""
    found = _POSITION.search(message)
    where = f"at line {found[1]} column {found[2]}" if found else message
    if "recursion limit" in message:
        return f"not JSON: nested more than {MAX_JSON_DEPTH} levels deep ({where})"
    if "number out of range" in message:
        return f"number out of range: a number with too many digits to read ({where})"
    if found is not None:
        # Columns count bytes from 1 and point at the N or I of a NaN, Infinity or -Infinity.
        lines = raw.split(b"\n")
        line, column = int(found[1]), int(found[2])
        if line <= len(lines) and _NON_FINITE.match(lines[line - 1], max(0, column - 1)) is not None:
            return f"not JSON: NaN and Infinity are not JSON numbers ({where})"
    return f"not JSON: {message}"


def check_numbers(document: Any, max_int: int | None = MAX_JSON_INT) -> None:
    """Refuse any number, in a known field or an ignored one, that is not finite or beyond +-`max_int`.

    >>> check_numbers({"a": [1, 2.5, {"b": -2**53}]})
    >>> check_numbers({"a": [{"b": 10**30}]})
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: number out of range at a.0.b: an integer of 31 digits, beyond +-2**53 (not exact in JSON)
    """
    if not isinstance(document, (dict, list)):
        _check_number(document, (), max_int)
        return
    stack: list[tuple[dict | list, tuple]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        for key, value in node.items() if isinstance(node, dict) else enumerate(node):
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, (*path, key)))
            elif kind is float or kind is int:
                _check_number(value, (*path, key), max_int)


def _check_number(value: Any, path: tuple, max_int: int | None) -> None:
    if type(value) is float and not math.isfinite(value):
        where = ".".join(str(p) for p in path) or "<root>"
        raise InvalidEvent(f"number out of range at {where}: beyond the 64-bit float range (+-1.8e308)")
    if type(value) is int and max_int is not None and not -max_int <= value <= max_int:
        where = ".".join(str(p) for p in path) or "<root>"
        bound = "2**53" if max_int == MAX_JSON_INT else f"{max_int:,}"
        raise InvalidEvent(
            f"number out of range at {where}: an integer of {len(str(abs(value)))} digits, beyond +-{bound} (not exact in JSON)"
        )


def known_versions(model: type[BaseModel]) -> tuple[int, ...]:
    """The `schema_version` values `model` reads (its field is a `Literal`), or () if it has none."""
    field = model.model_fields.get("schema_version")
    return tuple(v for v in get_args(field.annotation) if isinstance(v, int)) if field is not None else ()


def describe_versions(versions: tuple[int, ...]) -> str:
    return " or ".join(str(v) for v in versions)


def check_version(model: type[BaseModel], document: Any) -> None:
    """Refuse a `schema_version` number this worker does not read: a newer producer's event is not guessed at.

    >>> from schemas import PurchaseEvent
    >>> check_version(PurchaseEvent, {"schema_version": 2})
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: unknown schema_version 2 (this worker reads 1); schema_version: Input should be 1
    """
    if not isinstance(document, dict) or "schema_version" not in document:
        return
    version, known = document["schema_version"], known_versions(model)
    if not known or type(version) not in (int, float) or version in known:
        return  # no versions to check, or not a number: the model names the wrong type
    shown = repr(version) if type(version) is float else str(version)
    if len(shown) > 24:
        shown = shown[:21] + "..."
    readable = describe_versions(known)
    raise InvalidEvent(
        f"unknown schema_version {shown} (this worker reads {readable}); schema_version: Input should be {readable}"
    )


def decode(model: type[M], raw: bytes | str | None) -> M:
    """Parse and validate one record value, or raise `InvalidEvent` with a readable reason.

    >>> from schemas import PurchaseEvent
    >>> decode(PurchaseEvent, b'{"event_id": "e1"}')
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: customer_id: Field required; occurred_at: Field required; store_id: Field required; total: Field required
    """
    document = parse_json(raw)
    check_version(model, document)
    try:
        # Validated from the bytes (JSON mode), not from `document`: JSON-mode rules, such as
        # strict numbers refusing strings, are what the published JSON Schemas describe.
        return model.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            raise InvalidEvent(f"not JSON: {first['msg']}") from None
        raise InvalidEvent(_describe(error)) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InvalidEvent(f"undecodable: {type(error).__name__}: {error}") from None


def encode(model: BaseModel) -> bytes:
    """Compact JSON bytes, as sent on the wire."""
    return model.model_dump_json().encode()
