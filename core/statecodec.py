"""The bytes a customer's state is stored as: compact JSON, about a third of `to_dict`'s.

Most of a state is the features its pending predictions were made with, and those
repeat: the five predictions of a purchase and the offer decided with it share one
customer feature vector. So feature vectors are written once, as plain lists in
`FEATURE_NAMES` order, and pending labels point at them by index; an offer's
features are written as the inputs `offer_features` rebuilds them from. Anything
that does not fit that shape is written as it is, so decoding always gives back
exactly the state that was encoded (`decode(encode(s)) == s`).

    {"v": 3, "c": customer id, "s": [scalar fields in SCALARS order],
     "f": [feature vectors], "p": {task: pending}, "o": {assignment id: pending offer},
     "r": the recommender's parameters of the customer,
     plus the dict and list fields under short names, left out when empty}

Version 4 keeps the redeemed basket in trial windows (`core.trials.upgrade` reads older
windows) and the scalar `last_basket`. Version 3 writes the ids we mint (decision and assignment ids, canonical UUIDs) as "~" and
their 16 bytes in unpadded base64url, 23 characters instead of 36; the offsets of the
records applied as a list in `APPLIED_TOPICS` order rather than a dict keyed by topic name;
and whole floats (times, counts kept as floats, zeros) without their ".0", made floats again
on decoding, at the places that hold floats: scalar fields typed float, feature vectors, the
times and extra of pending rows, and the times, spend, propensity and value of trial windows
(whose decision windows' keys, "@" + an assignment id, shorten the id too). Versions 2 and 3
still decode.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from core import trials
from core.features import FEATURE_NAMES, offer_features
from core.state import CustomerState, PendingLabel

try:  # noqa: SIM105 - orjson when installed (the worker has it); the same JSON either way
    import orjson

    _dumps, _loads = orjson.dumps, orjson.loads
except ImportError:  # pragma: no cover - the peer benchmark's venv, say
    import json

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    _loads = json.loads

VERSION = 4
READS = (2, 3, 4)  # the versions `decode` reads as this layout; anything else is a plain `to_dict` payload
SCALARS = (
    "purchase_count", "total_spend", "max_basket", "first_purchase_at", "last_purchase_at", "gap_days_mean",
    "gap_days_last", "purchase_rate", "spend_rate", "purchase_streak_weeks", "engagement_count",
    "last_engagement_at", "engagement_rate", "last_payment_issue_at", "offers_received", "next_review_at",
    # appended, so states written before they existed decode with their defaults
    "purchase_days", "first_day_spend", "next_milestone_at", "shown_repeat_days", "shown_repeat_spend",
    "last_basket",
)
# The places of the scalars typed float: written without ".0" when whole, made floats again on decoding.
_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(CustomerState)}
_FLOAT_INDEX = tuple(i for i, name in enumerate(SCALARS) if "float" in _FIELD_TYPES[name])
# Dict and list fields, by their short name on the wire.
COLLECTIONS = {
    "cat": "category_spend", "pay": "payment_counts", "out": "offer_outcomes", "win": "campaign_windows",
    "b": "badges", "pos": "applied", "tri": "trials", "td": "tried",
}
_LISTS = frozenset({"badges", "tried"})
# `applied` (input topic -> offset of the last record applied) as a list in this order, null where absent.
APPLIED_TOPICS = ("purchases", "engagements", "payments")
_APPLIED_SET = frozenset(APPLIED_TOPICS)
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ID_MARK = "~"
DECISION_KEYS = ("decision_id", "trigger", "decided_at", "chosen_campaign_id", "assignment_id", "held_out")
_DECISION_SET, _DECIDED_AT = frozenset(DECISION_KEYS), DECISION_KEYS.index("decided_at")
_DECISION_ID, _ASSIGNMENT_ID = DECISION_KEYS.index("decision_id"), DECISION_KEYS.index("assignment_id")
_FEATURE_SET = frozenset(FEATURE_NAMES)
_OFFER_CATEGORY, _OFFER_STAGE = "offer_category_", "offer_stage_"


def _whole(value: Any) -> Any:
    """A whole float as an int (JSON without the ".0"); -0.0, inf and nan stay floats."""
    if value.__class__ is float and value.is_integer() and (value or str(value)[0] != "-"):
        return int(value)
    return value


def _compact(row: list, places: tuple[int, ...]) -> list:
    """`row` with its whole floats at `places` as ints (`_whole`), in place."""
    for i in places:
        if i < len(row):
            row[i] = _whole(row[i])
    return row


def _restore(row: list, places: tuple[int, ...]) -> list:
    """The inverse of `_compact`, in place: the ints at `places` as floats again."""
    for i in places:
        if i < len(row) and row[i].__class__ is int:
            row[i] = float(row[i])
    return row


@functools.lru_cache(maxsize=65_536)
def _whole_row(row: tuple) -> list:
    """A feature vector as written (cached: a pending prediction's vector is written with every change)."""
    return [_whole(v) for v in row]


class _Vectors:
    """Feature vectors (as rows) written once each, by value."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, ...]] = []
        self._index: dict[tuple, int] = {}

    def index(self, row: tuple[float, ...]) -> int:
        found = self._index.get(row)
        if found is None:
            found = self._index[row] = len(self.rows)
            self.rows.append(row)
        return found


def _offer_inputs(features: dict[str, float]) -> tuple[str, str, dict[str, float]] | None:
    """The (category, stage, shares) `offer_features` made these features from, if it did."""
    category = stage = None
    for name in features:
        if name.startswith(_OFFER_CATEGORY):
            category = name[len(_OFFER_CATEGORY):]
        elif name.startswith(_OFFER_STAGE):
            stage = name[len(_OFFER_STAGE):]
    if category is None or stage is None:
        return None
    prefix = f"{category}_x_share_"
    shares = {name[len(prefix):]: value for name, value in features.items() if name.startswith(prefix)}
    return category, stage, shares


def _shape(label: PendingLabel) -> tuple[tuple | None, list]:
    """(customer feature vector as a row, the label's wire row) or (None, the row with its features as they are).

    Worked out once per label object and kept on it (labels are immutable, and a customer's
    pending labels outlive many batches), so re-encoding a state does not re-check them;
    the vector's index in the state's `f` is filled in per encode.
    """
    shape = label.__dict__.get("_wire")
    if shape is not None:
        return shape
    features = label.features
    vector, inputs = None, ()
    if features.keys() == _FEATURE_SET:
        vector = tuple([features[name] for name in FEATURE_NAMES])
    elif _FEATURE_SET <= features.keys():
        offer_inputs = _offer_inputs(features)
        if offer_inputs is not None:
            base = {name: features[name] for name in FEATURE_NAMES}
            if offer_features(base, *offer_inputs) == features:
                vector, inputs = tuple(base.values()), offer_inputs
    row = [_whole(label.at), features if vector is None else None, label.prediction, _whole(label.deadline),
           label.baseline, _whole(label.extra), label.ref, *inputs]
    shape = (vector, row)
    object.__setattr__(label, "_wire", shape)
    return shape


def _pending(label: PendingLabel, vectors: _Vectors) -> list:
    vector, row = _shape(label)
    if vector is None:
        return row  # not a shape we know: its features as they are
    row = row.copy()
    row[1] = vectors.index(vector)
    return row


def _unpending(row: list, vectors: list[dict[str, float]], rows: list[tuple]) -> PendingLabel:
    at, features, prediction, deadline, baseline, extra, ref = row[:7]
    shape = None
    if isinstance(features, int):
        inputs = tuple(row[7:10])
        shape = (rows[features], [at, None, prediction, deadline, baseline, extra, ref, *inputs])  # as it came
        base = vectors[features]
        features = offer_features(base, *inputs) if inputs else base
    label = PendingLabel(at=float(at), features=features, prediction=prediction,
                         deadline=None if deadline is None else float(deadline), baseline=baseline, extra=float(extra),
                         ref=ref)
    if shape is not None:
        object.__setattr__(label, "_wire", shape)
    return label


def _decision(summary: dict) -> list | dict:
    """A decision summary as a list; its ISO time as epoch seconds when that gives it back exactly."""
    if summary.keys() != _DECISION_SET:
        return summary
    row = [summary[k] for k in DECISION_KEYS]
    row[_DECISION_ID], row[_ASSIGNMENT_ID] = _short_id(row[_DECISION_ID]), _short_id(row[_ASSIGNMENT_ID])
    at = _epoch(row[_DECIDED_AT])
    if at is not None:
        row[_DECIDED_AT] = at
    return row


def _undecision(row: list | dict, version: int = VERSION) -> dict:
    if isinstance(row, dict):
        return row
    summary = dict(zip(DECISION_KEYS, row))
    if version >= 3:
        summary["decision_id"] = _long_id(summary["decision_id"])
        summary["assignment_id"] = _long_id(summary["assignment_id"])
    at = summary["decided_at"]
    if isinstance(at, (int, float)):
        summary["decided_at"] = datetime.fromtimestamp(at, tz=timezone.utc).isoformat()
    return summary


@functools.lru_cache(maxsize=65_536)
def _epoch(text: Any) -> float | None:
    """Cached: a customer's recent decisions are re-encoded with every change of their state."""
    try:
        at = datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return None
    return at if datetime.fromtimestamp(at, tz=timezone.utc).isoformat() == text else None


@functools.lru_cache(maxsize=65_536)
def _short_id(text: Any) -> Any:
    """A canonical UUID as "~" + its 16 bytes in base64url; any other string starting with "~" gets one more."""
    if not isinstance(text, str):
        return text
    if _CANONICAL_UUID.fullmatch(text):
        return _ID_MARK + base64.urlsafe_b64encode(uuid.UUID(text).bytes).rstrip(b"=").decode()
    return _ID_MARK + text if text.startswith(_ID_MARK) else text


@functools.lru_cache(maxsize=65_536)
def _long_id(text: Any) -> Any:
    """The inverse of `_short_id`."""
    if not isinstance(text, str) or not text.startswith(_ID_MARK):
        return text
    if text.startswith(_ID_MARK * 2):
        return text[1:]
    return str(uuid.UUID(bytes=base64.urlsafe_b64decode(text[1:] + "==")))


def _applied(applied: dict[str, int]) -> list | dict:
    if applied.keys() <= _APPLIED_SET:
        return [applied.get(topic) for topic in APPLIED_TOPICS]
    return applied  # a topic we do not know: as it is


def _unapplied(value: list | dict) -> dict[str, int]:
    if isinstance(value, dict):
        return value
    return {topic: offset for topic, offset in zip(APPLIED_TOPICS, value) if offset is not None}


# A trial's window (`core.trials`): the places that hold floats, written without ".0" when whole.
_V3_WINDOW_FLOATS = (1, 2, 4, 6, 9)
_WINDOW_FLOATS = (1, 2, 4, 5, 6, 9, 10)  # version 4: redeemed (a time) and basket too


def _short_window_key(key: str) -> str:
    """A decision window's key ("@" + assignment id) with the id shortened as `_short_id` does."""
    return "@" + _short_id(key[1:]) if key.startswith("@") else key


def _long_window_key(key: str) -> str:
    return "@" + _long_id(key[1:]) if key.startswith("@") else key


def encode(state: CustomerState) -> bytes:
    d = state.__dict__
    scalars = _compact([d[name] for name in SCALARS], _FLOAT_INDEX)
    out: dict[str, Any] = {"v": VERSION, "c": state.customer_id, "s": scalars}
    for short, name in COLLECTIONS.items():
        if d[name]:
            out[short] = d[name]
    if "pos" in out:
        out["pos"] = _applied(out["pos"])
    if "tri" in out:
        out["tri"] = {_short_window_key(key): _compact(list(w), _WINDOW_FLOATS) for key, w in out["tri"].items()}
    vectors = _Vectors()
    if state.pending:
        out["p"] = {task: _pending(label, vectors) for task, label in state.pending.items()}
    if state.pending_offers:
        out["o"] = {_short_id(key): _pending(label, vectors) for key, label in state.pending_offers.items()}
    if vectors.rows:
        out["f"] = [_whole_row(row) for row in vectors.rows]
    if state.reco is not None:
        out["r"] = state.reco
    if state.recent_decisions:
        out["d"] = [_decision(s) for s in state.recent_decisions]
    return _dumps(out)


def decode(data: bytes | str | dict) -> CustomerState:
    """The state `encode` wrote (or an older `CustomerState.to_dict()` payload)."""
    raw = _loads(data) if isinstance(data, (bytes, str)) else data
    version = raw.get("v")
    if version not in READS:
        return CustomerState.from_dict(raw)
    values: dict[str, Any] = dict(zip(SCALARS, _restore(list(raw["s"]), _FLOAT_INDEX) if version >= 3 else raw["s"]))
    values["customer_id"] = raw["c"]
    for short, name in COLLECTIONS.items():
        values[name] = raw.get(short) or ([] if name in _LISTS else {})
    values["applied"] = _unapplied(values["applied"])
    if values["trials"]:
        floats = _WINDOW_FLOATS if version >= 4 else _V3_WINDOW_FLOATS
        if version >= 3:
            values["trials"] = {_long_window_key(key): _restore(list(w), floats) for key, w in values["trials"].items()}
        if version < 4:
            values["trials"] = {key: trials.upgrade(w) for key, w in values["trials"].items()}
    rows = [tuple(map(float, row)) for row in raw.get("f", ())]
    vectors = [dict(zip(FEATURE_NAMES, row)) for row in rows]
    values["pending"] = {task: _unpending(row, vectors, rows) for task, row in raw.get("p", {}).items()}
    unkey = _long_id if version >= 3 else str
    values["pending_offers"] = {unkey(key): _unpending(row, vectors, rows) for key, row in raw.get("o", {}).items()}
    values["recent_decisions"] = [_undecision(s, version) for s in raw.get("d", ())]
    values["reco"] = raw.get("r")
    return CustomerState(**values)


_NEXT_REVIEW = SCALARS.index("next_review_at")
_NEXT_MILESTONE = SCALARS.index("next_milestone_at")


def due_at(data: bytes | str | dict) -> float | None:
    """`decode(data).due_at()` without building the state: indexing a million customers at startup."""
    raw = _loads(data) if isinstance(data, (bytes, str)) else data
    if raw.get("v") not in READS:
        return CustomerState.from_dict(raw).due_at()
    deadlines = [row[3] for rows in (raw.get("p"), raw.get("o")) if rows for row in rows.values() if row[3]]
    for index in (_NEXT_REVIEW, _NEXT_MILESTONE):
        at = raw["s"][index] if index < len(raw["s"]) else None
        if at is not None:
            deadlines.append(at)
    deadlines.extend(window[2] for window in raw.get("tri", {}).values())  # trials' ends (`core.trials`)
    return float(min(deadlines)) if deadlines else None


_SEEN = tuple(SCALARS.index(name) for name in ("last_purchase_at", "last_engagement_at", "last_payment_issue_at"))


def index_entry(data: bytes | str) -> tuple[str, float | None, float | None]:
    """`(customer_id, due_at, seen_at)` in one parse: what a restarted worker indexes of a stored state.

    The customer id is the state's own, so the caller can check it against the key it is stored under;
    `seen_at` is the latest event time the state records (its last purchase, engagement or payment
    issue; None if none), a lower bound of the watermark of the partition that holds it.
    """
    raw = _loads(data)
    if raw.get("v") not in READS:
        state = CustomerState.from_dict(raw)
        seen = [t for t in (state.last_purchase_at, state.last_engagement_at, state.last_payment_issue_at) if t]
        return state.customer_id, state.due_at(), max(seen) if seen else None
    scalars = raw["s"]
    seen = [scalars[i] for i in _SEEN if i < len(scalars) and scalars[i] is not None]
    return raw["c"], due_at(raw), float(max(seen)) if seen else None
