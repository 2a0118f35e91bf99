"""Declarative vendor mappings: one YAML file per point-of-sale source, vendor JSON in, canonical event out.

A mapping file has `name`, `topic` (the vendor's Kafka topic), `event` (purchase, engagement or
payment), `fields` (canonical field -> field spec) and optional `constants` (canonical field -> value).
A field spec is a dotted `path` into the payload (integer segments index lists: `txn.lines.0.sku`;
a bare string is short for `{path: ...}`) or a `const`, with optional `default` (used when the path
is missing or null) and at most one conversion:

- `cents: true`           whole minor units (int or digit string) -> major units, 1999 -> 19.99
- `decimal_comma: true`   "1.234,50" -> 1234.5
- `timestamp: FORMAT`     iso8601, epoch_seconds, epoch_millis or a strptime pattern, plus
  `timezone` (IANA name) for naive times; gives an ISO 8601 string with offset
- `map: {CODE: value}`    vendor code -> our value; unmapped codes fail unless `default` is set
- `each: {field: spec}`   a list in the payload, each element mapped to a dict (basket lines)

Field names are checked against the canonical model when the file is loaded, so a typo fails early.
"""

from __future__ import annotations

import re
from copy import deepcopy
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.codec import MAX_SOURCE_BYTES, InvalidEvent, parse_json
from schemas.events import EngagementEvent, PaymentEvent, PurchaseEvent

EVENT_MODELS: dict[str, type[BaseModel]] = {"purchase": PurchaseEvent, "engagement": EngagementEvent, "payment": PaymentEvent}
EPOCHS = {"epoch_seconds": 1, "epoch_millis": 1000}
_MISSING = object()
_AMOUNT_COMMA = re.compile(r"-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


class FieldSpec(BaseModel):
    """Where one canonical field comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(default=None, pattern=r"^[^.\s]+(\.[^.\s]+)*$")
    const: Any = None
    default: Any = None
    cents: bool = False
    decimal_comma: bool = False
    timestamp: str | None = None
    timezone: str | None = None
    map: dict[str, Any] | None = None
    each: dict[str, FieldSpec] | None = None

    @model_validator(mode="before")
    @classmethod
    def _path_shorthand(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    @field_validator("map", mode="before")
    @classmethod
    def _code_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if any(isinstance(key, bool) for key in value):
            raise ValueError("a code was read as a boolean (yes/no/on/off); quote it")
        return {str(key): target for key, target in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        given = self.model_fields_set
        if (self.path is None) == ("const" not in given):
            raise ValueError("set exactly one of `path` or `const`")
        if "const" in given and len(given) > 1:
            raise ValueError("`const` takes no other keys")
        conversions = [k for k in ("cents", "decimal_comma", "timestamp", "map", "each") if getattr(self, k)]
        if len(conversions) > 1:
            raise ValueError(f"choose one of {', '.join(conversions)}")
        if self.timestamp and self.timestamp not in ("iso8601", *EPOCHS) and "%" not in self.timestamp:
            raise ValueError(f"timestamp {self.timestamp!r} is not iso8601, epoch_seconds, epoch_millis or a strptime pattern")
        if self.timezone is not None:
            if not self.timestamp:
                raise ValueError("`timezone` needs `timestamp`")
            try:
                ZoneInfo(self.timezone)
            except (KeyError, ValueError):
                raise ValueError(f"unknown time zone {self.timezone!r}") from None
        return self


class SourceMapping(BaseModel):
    """How one vendor's payloads on one topic become canonical events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9._:\-]{1,64}$")
    topic: str = Field(pattern=r"^[A-Za-z0-9._\-]{1,249}$")
    event: Literal["purchase", "engagement", "payment"]
    fields: dict[str, FieldSpec]
    constants: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _canonical_names(self) -> SourceMapping:
        model = EVENT_MODELS[self.event]
        if both := sorted(self.fields.keys() & self.constants.keys()):
            raise ValueError(f"in both fields and constants: {', '.join(both)}")
        _check_names(model, self.fields.keys() | self.constants.keys(), self.event)
        for name, spec in self.fields.items():
            if spec.each is not None:
                args = get_args(model.model_fields[name].annotation)
                item = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
                if item is None:
                    raise ValueError(f"`each` on {name}, which is not a list of records")
                _check_names(item, spec.each.keys(), f"{name} item")
        return self


def _check_names(model: type[BaseModel], names: set[str], what: str) -> None:
    if unknown := sorted(names - model.model_fields.keys()):
        raise ValueError(f"unknown {what} fields: {', '.join(unknown)}")
    if missing := sorted(k for k, f in model.model_fields.items() if f.is_required() and k not in names):
        raise ValueError(f"required {what} fields not mapped: {', '.join(missing)}")


def load_mappings(path: str | Path) -> list[SourceMapping]:
    """Load a mapping file, or every *.yaml / *.yml in a directory (by name); `ValueError` names the bad file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise ValueError(f"{path}: no *.yaml or *.yml mapping files")
    elif path.is_file():
        files = [path]
    else:
        raise ValueError(f"{path}: no such file or directory")
    mappings: list[SourceMapping] = []
    seen: dict[tuple[str, str], Path] = {}
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise ValueError(f"{file}: invalid YAML: {error}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{file}: expected a YAML mapping with name, topic, event and fields")
        try:
            mapping = SourceMapping.model_validate(data)
        except ValidationError as error:
            raise ValueError(f"{file}: invalid mapping: {_describe(error)}") from None
        for key in ("name", "topic"):
            value = getattr(mapping, key)
            if (key, value) in seen:
                raise ValueError(f"{file}: {key} {value!r} is already used in {seen[key, value]}")
            seen[key, value] = file
        mappings.append(mapping)
    return mappings


def apply_mapping(mapping: SourceMapping, payload: dict) -> dict:
    """Build the canonical dict from one vendor payload, or raise `InvalidEvent` naming field and path.

    >>> m = SourceMapping(name="demo", topic="demo-sales", event="purchase", constants={"store_id": "web"},
    ...     fields={"event_id": "id", "customer_id": "member.no", "total": {"path": "totalCents", "cents": True},
    ...             "occurred_at": {"path": "ts", "timestamp": "epoch_seconds"}})
    >>> apply_mapping(m, {"id": "A-1", "member": {"no": "c-7"}, "totalCents": 1999, "ts": 1767225600})
    {'store_id': 'web', 'event_id': 'A-1', 'customer_id': 'c-7', 'total': 19.99, 'occurred_at': '2026-01-01T00:00:00+00:00'}
    >>> apply_mapping(m, {"id": "A-1", "member": {}})
    Traceback (most recent call last):
    ...
    schemas.codec.InvalidEvent: customer_id (from member.no): missing
    """
    out = deepcopy(mapping.constants)
    for name, spec in mapping.fields.items():
        out[name] = _resolve(spec, payload, name, "")
    return out


def to_canonical(mapping: SourceMapping, raw: bytes) -> PurchaseEvent | EngagementEvent | PaymentEvent:
    """Vendor JSON bytes -> validated canonical event; every failure is an `InvalidEvent`."""
    # The checks every inbound record gets (size, UTF-8, strict JSON, depth, finite numbers), with
    # integers left to the parser's limit: vendors' ignored fields may hold 64-bit serial numbers.
    payload = parse_json(raw, max_int=None, max_bytes=MAX_SOURCE_BYTES)
    if not isinstance(payload, dict):
        raise InvalidEvent(f"not a JSON object (got {_kind(payload)})")
    data = apply_mapping(mapping, payload)
    try:
        return EVENT_MODELS[mapping.event].model_validate(data)
    except ValidationError as error:
        raise InvalidEvent(_describe(error, mapping)) from None


def _lookup(data: Any, path: str) -> Any:
    for segment in path.split("."):
        if isinstance(data, dict):
            data = data.get(segment, _MISSING)
        elif isinstance(data, list) and segment.isascii() and segment.isdecimal() and int(segment) < len(data):
            data = data[int(segment)]
        else:
            return _MISSING
    return data


def _resolve(spec: FieldSpec, data: Any, label: str, prefix: str) -> Any:
    if "const" in spec.model_fields_set:
        return deepcopy(spec.const)
    where = prefix + spec.path
    value = _lookup(data, spec.path)

    def fail(problem: str) -> InvalidEvent:
        return InvalidEvent(f"{label} (from {where}): {_short(problem, 160)}")

    if value is _MISSING or value is None:
        if "default" in spec.model_fields_set:
            return deepcopy(spec.default)
        raise fail("missing" if value is _MISSING else "null")
    if spec.each is not None:
        if not isinstance(value, list):
            raise fail(f"expected an array, got {_kind(value)}")
        return [{k: _resolve(sub, element, f"{label}.{i}.{k}", f"{where}.{i}.") for k, sub in spec.each.items()}
                for i, element in enumerate(value)]
    if spec.map is not None:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise fail(f"expected a code, got {_kind(value)}")
        if str(value) in spec.map:
            return spec.map[str(value)]
        if "default" in spec.model_fields_set:
            return deepcopy(spec.default)
        raise fail(f"unmapped code {_short(repr(value))}")
    try:
        if spec.cents:
            if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"expected whole cents, got {_kind(value)} {_short(repr(value))}")
            return value / 100
        if spec.decimal_comma:
            if isinstance(value, str) and _AMOUNT_COMMA.fullmatch(value.strip()):
                return float(value.strip().replace(".", "").replace(",", "."))
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"expected an amount like 12,50, got {_short(repr(value))}")
            return float(value)
        if spec.timestamp:
            return _timestamp(spec, value)
    except (ValueError, TypeError, OverflowError, OSError) as error:
        raise fail(str(error)) from None
    return value


def _timestamp(spec: FieldSpec, value: Any) -> str:
    if spec.timestamp in EPOCHS:
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"expected epoch {spec.timestamp[6:]}, got {_kind(value)}")
        return datetime.fromtimestamp(value / EPOCHS[spec.timestamp], tz=timezone.utc).isoformat()
    if not isinstance(value, str):
        raise ValueError(f"expected a timestamp string, got {_kind(value)}")
    moment = datetime.fromisoformat(value) if spec.timestamp == "iso8601" else datetime.strptime(value, spec.timestamp)
    if moment.tzinfo is None:
        if spec.timezone is None:
            raise ValueError(f"timestamp {_short(repr(value))} has no offset and the mapping sets no timezone")
        moment = moment.replace(tzinfo=ZoneInfo(spec.timezone))
    return moment.isoformat()


def _describe(error: ValidationError, mapping: SourceMapping | None = None) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        loc = item["loc"]
        where = ".".join(str(p) for p in loc) or "<root>"
        spec = mapping.fields.get(loc[0]) if mapping and loc else None
        if spec is not None and spec.path is not None:
            source = spec.path
            if spec.each and len(loc) > 2 and isinstance(loc[1], int) and spec.each.get(loc[2]) and spec.each[loc[2]].path:
                source = f"{spec.path}.{loc[1]}.{spec.each[loc[2]].path}"
            where += f" (from {source})"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
