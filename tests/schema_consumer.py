"""A consumer that knows our topics only from the exported JSON Schema files.

It imports nothing from the project: the files in docs/schemas are its whole contract.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "schemas"


@lru_cache(maxsize=None)
def validator(topic: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{topic}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def validate(topic: str, value: bytes) -> dict:
    """Parse a record value and validate it against the topic's schema file; raises on any mismatch."""
    document = json.loads(value.decode("utf-8"))
    errors = sorted(validator(topic).iter_errors(document), key=lambda e: list(e.path))
    if errors:
        raise AssertionError(f"{topic} record breaks its schema: " + "; ".join(
            f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5]))
    return document
