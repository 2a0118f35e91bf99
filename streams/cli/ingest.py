"""Reading POS files (JSONL or CSV) into canonical events, line by line, naming every bad line."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from schemas import EngagementEvent, InvalidEvent, PaymentEvent, PurchaseEvent, decode
from schemas.topics import CUSTOMER_EVENTS

MODELS = CUSTOMER_EVENTS
# CSV cells are text; these columns are numbers on the wire (the models are strict about it).
NUMBERS = {"total": float, "amount": float, "schema_version": int}


@dataclass(frozen=True)
class Line:
    number: int
    topic: str | None
    event: PurchaseEvent | EngagementEvent | PaymentEvent | None
    error: str | None


def read_jsonl(lines: Iterator[str], topic: str | None) -> Iterator[Line]:
    """Each line is a canonical event (for `topic`) or an envelope {"topic", "key", "value"}."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        line_topic, body = topic, text
        try:
            document = json.loads(text)
            if isinstance(document, dict) and "value" in document and isinstance(document.get("topic"), str):
                line_topic, body = document["topic"], json.dumps(document["value"])
        except (ValueError, RecursionError):
            pass  # decode() below names the JSON error (deep nesting, huge numbers included)
        yield _decode(number, line_topic, body)


def read_csv(lines: Iterator[str], topic: str) -> Iterator[Line]:
    """A header row, then one event per row; `items` (purchases) is a JSON array in its cell."""
    reader = csv.DictReader(lines)
    for row in reader:
        number = reader.line_num
        record: dict = {}
        try:
            for column, cell in row.items():
                if column is None or cell is None or cell == "":
                    continue
                if column == "items":
                    record[column] = json.loads(cell)
                elif column in NUMBERS:
                    record[column] = NUMBERS[column](cell)
                else:
                    record[column] = cell
        except ValueError as error:
            yield Line(number, topic, None, f"{column}: {error}")
            continue
        yield _decode(number, topic, json.dumps(record))


def _decode(number: int, topic: str | None, body: str) -> Line:
    if topic not in MODELS:
        return Line(number, topic, None, f"unknown topic {topic!r} (give --topic, or envelopes with a topic)")
    try:
        return Line(number, topic, decode(MODELS[topic], body), None)  # str: decode names bad UTF-8
    except InvalidEvent as error:
        return Line(number, topic, None, error.reason)


def open_lines(path: str) -> tuple[Iterator[str], int | None]:
    """The file's lines (or stdin's for '-') and, for a file, how many there are."""
    import sys

    if path == "-":
        return iter(sys.stdin), None
    with open(path, encoding="utf-8") as handle:
        total = sum(1 for _ in handle)
    return iter(io.open(path, encoding="utf-8")), total
