"""The bytes a customer's state is stored as: compact JSON, about a third of `to_dict`'s.

Most of a state is the features its pending predictions were made with, and those
repeat: the five predictions of a purchase and the offer decided with it share one
customer feature vector. So feature vectors are written once, as plain lists in
`FEATURE_NAMES` order, and pending labels point at them by index; an offer's
features are written as the inputs `offer_features` rebuilds them from. Anything
that does not fit that shape is written as it is, so decoding always gives back
exactly the state that was encoded (`decode(encode(s)) == s`).

    {"v": 2, "c": customer id, "s": [scalar fields in SCALARS order],
     "f": [feature vectors], "p": {task: pending}, "o": {assignment id: pending offer},
     "r": the recommender's parameters of the customer,
     plus the dict and list fields under short names, left out when empty}
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from typing import Any

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

VERSION = 2
SCALARS = (
    "purchase_count", "total_spend", "max_basket", "first_purchase_at", "last_purchase_at", "gap_days_mean",
    "gap_days_last", "purchase_rate", "spend_rate", "purchase_streak_weeks", "engagement_count",
    "last_engagement_at", "engagement_rate", "last_payment_issue_at", "offers_received", "next_review_at",
    # appended, so states written before they existed decode with their defaults
    "purchase_days", "first_day_spend", "next_milestone_at", "shown_repeat_days", "shown_repeat_spend",
)
# Dict and list fields, by their short name on the wire.
COLLECTIONS = {
    "cat": "category_spend", "pay": "payment_counts", "out": "offer_outcomes", "win": "campaign_windows",
    "b": "badges", "pos": "applied", "tri": "trials", "td": "tried",
}
_LISTS = frozenset({"badges", "tried"})
DECISION_KEYS = ("decision_id", "trigger", "decided_at", "chosen_campaign_id", "assignment_id", "held_out")
_DECISION_SET, _DECIDED_AT = frozenset(DECISION_KEYS), DECISION_KEYS.index("decided_at")
_FEATURE_SET = frozenset(FEATURE_NAMES)
_OFFER_CATEGORY, _OFFER_STAGE = "offer_category_", "offer_stage_"


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
    row = [label.at, features if vector is None else None, label.prediction, label.deadline, label.baseline,
           label.extra, label.ref, *inputs]
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
        shape = (rows[features], [at, None, prediction, deadline, baseline, extra, ref, *inputs])
        base = vectors[features]
        features = offer_features(base, *inputs) if inputs else base
    label = PendingLabel(at=at, features=features, prediction=prediction, deadline=deadline, baseline=baseline,
                         extra=extra, ref=ref)
    if shape is not None:
        object.__setattr__(label, "_wire", shape)
    return label


def _decision(summary: dict) -> list | dict:
    """A decision summary as a list; its ISO time as epoch seconds when that gives it back exactly."""
    if summary.keys() != _DECISION_SET:
        return summary
    row = [summary[k] for k in DECISION_KEYS]
    at = _epoch(row[_DECIDED_AT])
    if at is not None:
        row[_DECIDED_AT] = at
    return row


def _undecision(row: list | dict) -> dict:
    if isinstance(row, dict):
        return row
    summary = dict(zip(DECISION_KEYS, row))
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


def encode(state: CustomerState) -> bytes:
    d = state.__dict__
    out: dict[str, Any] = {"v": VERSION, "c": state.customer_id, "s": [d[name] for name in SCALARS]}
    for short, name in COLLECTIONS.items():
        if d[name]:
            out[short] = d[name]
    vectors = _Vectors()
    if state.pending:
        out["p"] = {task: _pending(label, vectors) for task, label in state.pending.items()}
    if state.pending_offers:
        out["o"] = {key: _pending(label, vectors) for key, label in state.pending_offers.items()}
    if vectors.rows:
        out["f"] = vectors.rows
    if state.reco is not None:
        out["r"] = state.reco
    if state.recent_decisions:
        out["d"] = [_decision(s) for s in state.recent_decisions]
    return _dumps(out)


def decode(data: bytes | str | dict) -> CustomerState:
    """The state `encode` wrote (or an older `CustomerState.to_dict()` payload)."""
    raw = _loads(data) if isinstance(data, (bytes, str)) else data
    if raw.get("v") != VERSION:
        return CustomerState.from_dict(raw)
    values: dict[str, Any] = dict(zip(SCALARS, raw["s"]))
    values["customer_id"] = raw["c"]
    for short, name in COLLECTIONS.items():
        values[name] = raw.get(short) or ([] if name in _LISTS else {})
    rows = [tuple(row) for row in raw.get("f", ())]
    vectors = [dict(zip(FEATURE_NAMES, row)) for row in rows]
    values["pending"] = {task: _unpending(row, vectors, rows) for task, row in raw.get("p", {}).items()}
    values["pending_offers"] = {key: _unpending(row, vectors, rows) for key, row in raw.get("o", {}).items()}
    values["recent_decisions"] = [_undecision(s) for s in raw.get("d", ())]
    values["reco"] = raw.get("r")
    return CustomerState(**values)


_NEXT_REVIEW = SCALARS.index("next_review_at")
_NEXT_MILESTONE = SCALARS.index("next_milestone_at")


def due_at(data: bytes | str | dict) -> float | None:
    """`decode(data).due_at()` without building the state: indexing a million customers at startup."""
    raw = _loads(data) if isinstance(data, (bytes, str)) else data
    if raw.get("v") != VERSION:
        return CustomerState.from_dict(raw).due_at()
    deadlines = [row[3] for rows in (raw.get("p"), raw.get("o")) if rows for row in rows.values() if row[3]]
    for index in (_NEXT_REVIEW, _NEXT_MILESTONE):
        at = raw["s"][index] if index < len(raw["s"]) else None
        if at is not None:
            deadlines.append(at)
    deadlines.extend(window[2] for window in raw.get("tri", {}).values())  # trials' ends (`core.trials`)
    return min(deadlines) if deadlines else None


_SEEN = tuple(SCALARS.index(name) for name in ("last_purchase_at", "last_engagement_at", "last_payment_issue_at"))


def index_entry(data: bytes | str) -> tuple[str, float | None, float | None]:
    """`(customer_id, due_at, seen_at)` in one parse: what a restarted worker indexes of a stored state.

    The customer id is the state's own, so the caller can check it against the key it is stored under;
    `seen_at` is the latest event time the state records (its last purchase, engagement or payment
    issue; None if none), a lower bound of the watermark of the partition that holds it.
    """
    raw = _loads(data)
    if raw.get("v") != VERSION:
        state = CustomerState.from_dict(raw)
        seen = [t for t in (state.last_purchase_at, state.last_engagement_at, state.last_payment_issue_at) if t]
        return state.customer_id, state.due_at(), max(seen) if seen else None
    scalars = raw["s"]
    seen = [scalars[i] for i in _SEEN if i < len(scalars) and scalars[i] is not None]
    return raw["c"], due_at(raw), max(seen) if seen else None
