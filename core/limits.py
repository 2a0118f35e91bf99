"""Offer limits: budgets, caps, cooldowns and contact policy, reserved atomically.

Before an offer is emitted the worker asks its `Limits` to *reserve* it. A
reservation tries the candidate offers in order and takes the first one that
passes every business rule, counting it against every limit in one atomic step,
so two workers running at once can never overspend a budget.

Two implementations decide identically for the same sequence of calls:

* `streams.redis.limits.RedisLimits` - production, one Lua script per `reserve`;
* `MemoryLimits` (here) - the in-memory twin used by replay and unit tests.

`reserve_many` takes several reservations at once and answers each exactly as
`reserve` would, called for them one after the other in that order (Redis runs the
scripts in one round trip); an answer may be the exception that reservation raised.

Rules, checked per candidate in this order (the first failing one is the
reason recorded in `Reservation.blocked`):

1. ``contact_policy`` - the customer already got `ContactPolicy.max_offers`
   assignments (any campaign) with event time in ``(at - window, at]``;
2. ``customer_cap`` - this campaign was assigned to this customer
   `Candidate.customer_cap` times already (ever);
3. ``cooldown`` - the last assignment of this campaign to this customer is less
   than `Candidate.cooldown_days` before ``at`` in event time (a last time
   *after* ``at``, i.e. an out-of-order event, also blocks);
4. ``daily_budget`` - the campaign spent `Candidate.daily_budget` on `Candidate.day`;
5. ``total_budget`` - the campaign spent `Candidate.total_budget` in total.

A budget or cap of ``None`` means "no limit"; ``0`` blocks everything.

Redelivery: a `reserve` may name its `decision` (the customer and the event that
triggered it). If that decision reserved an offer before, the same offer is returned
with ``already=True`` and nothing is evaluated or counted, even when it is not among
this call's candidates: after a crash an event is decided again by models restored
from an older snapshot, which may rank or filter the campaigns otherwise. Otherwise,
if any candidate's `assignment_id` was reserved before, the first such candidate is
returned with ``already=True`` likewise. Both checks run *before* any rule is
evaluated, so a redelivered event can never get a second offer.

>>> import asyncio
>>> limits = MemoryLimits()
>>> offer = Candidate("asg-1", "spring", "cust-1", at=1_700_000_000.0, total_budget=1)
>>> asyncio.run(limits.reserve([offer], ContactPolicy(max_offers=3)))  # doctest: +ELLIPSIS
Reservation(chosen=Candidate(assignment_id='asg-1', ...), already=False, blocked={})
>>> asyncio.run(limits.reserve([offer], ContactPolicy(max_offers=3))).already
True
>>> other = Candidate("asg-2", "spring", "cust-2", at=1_700_000_100.0, total_budget=1)
>>> asyncio.run(limits.reserve([other], ContactPolicy(max_offers=3))).blocked
{'spring': 'total_budget'}
>>> asyncio.run(limits.usage("spring", offer.day))
{'total': 1, 'day': 1, 'date': '2023-11-14'}
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal, Protocol

__all__ = [
    "CONTACT_KEEP",
    "Candidate",
    "ContactPolicy",
    "Limits",
    "MemoryLimits",
    "REASONS",
    "Reservation",
    "build_reservation",
    "contact_cutoff",
    "decided_before",
    "utc_day",
]

DAY_SECONDS = 86_400
# At most this many recent assignment times are kept per customer for the
# contact policy (besides trimming to the window), so history stays bounded.
CONTACT_KEEP = 1_000

Reason = Literal["contact_policy", "customer_cap", "cooldown", "daily_budget", "total_budget"]
REASONS: tuple[Reason, ...] = ("contact_policy", "customer_cap", "cooldown", "daily_budget", "total_budget")


def utc_day(at: float) -> str:
    """The UTC calendar day of an event time (epoch seconds): the daily-budget bucket.

    >>> utc_day(0.0)
    '1970-01-01'
    >>> utc_day(1_700_000_000)
    '2023-11-14'
    >>> utc_day(86_399.999), utc_day(86_400.0)
    ('1970-01-01', '1970-01-02')
    """
    return datetime.fromtimestamp(math.floor(at), tz=timezone.utc).date().isoformat()


def _check_limit(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be None or an int >= 0, got {value!r}")


@dataclass(frozen=True)
class Candidate:
    """One offer that could be assigned, with the limits of its campaign.

    `day` defaults to `utc_day(at)`; `at` is normalised to a float so both
    implementations compare event times with the same arithmetic.
    """

    assignment_id: str
    campaign_id: str
    customer_id: str
    at: float
    day: str = ""
    total_budget: int | None = None
    daily_budget: int | None = None
    customer_cap: int | None = None
    cooldown_days: float | None = None

    def __post_init__(self) -> None:
        at = float(self.at)
        if not math.isfinite(at):
            raise ValueError(f"event time must be finite, got {self.at!r}")
        object.__setattr__(self, "at", at)
        if not self.day:
            object.__setattr__(self, "day", utc_day(at))
        for name in ("total_budget", "daily_budget", "customer_cap"):
            _check_limit(name, getattr(self, name))
        if self.cooldown_days is not None:
            cooldown = float(self.cooldown_days)
            if not (math.isfinite(cooldown) and cooldown >= 0):
                raise ValueError(f"cooldown_days must be None or finite >= 0, got {self.cooldown_days!r}")
            object.__setattr__(self, "cooldown_days", cooldown)

    @property
    def cooldown_seconds(self) -> float | None:
        return None if self.cooldown_days is None else self.cooldown_days * DAY_SECONDS


@dataclass(frozen=True)
class ContactPolicy:
    """At most `max_offers` assignments per customer (all campaigns) in any
    `window_days` of event time ending at the candidate's `at`. ``None``: no limit."""

    max_offers: int | None = None
    window_days: float = 7

    def __post_init__(self) -> None:
        _check_limit("max_offers", self.max_offers)
        if self.max_offers is not None and self.max_offers > CONTACT_KEEP:
            raise ValueError(f"max_offers above {CONTACT_KEEP} is not supported (history is bounded)")
        window = float(self.window_days)
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"window_days must be finite > 0, got {self.window_days!r}")
        object.__setattr__(self, "window_days", window)


def contact_cutoff(at: float, policy: ContactPolicy) -> float:
    """Times strictly after this (and at most `at`) count against the contact policy."""
    return at - policy.window_days * DAY_SECONDS


@dataclass(frozen=True)
class Reservation:
    """The outcome of `Limits.reserve`.

    `chosen` is the reserved candidate (or None); `already` says it had been
    reserved before (a redelivery: nothing counted again); `blocked` maps the
    campaign id of each candidate tried before the chosen one (all of them when
    none was chosen) to the first rule it failed.
    """

    chosen: Candidate | None
    already: bool = False
    blocked: dict[str, str] = field(default_factory=dict)


def build_reservation(
    candidates: Sequence[Candidate], chosen: int | None, already: bool, blocked: Sequence[tuple[int, str]]
) -> Reservation:
    """Shared by both implementations: indexes into `candidates` -> `Reservation`.

    If two candidates share a campaign id, the first one's reason is kept.
    """
    reasons: dict[str, str] = {}
    for index, reason in blocked:
        reasons.setdefault(candidates[index].campaign_id, reason)
    return Reservation(None if chosen is None else candidates[chosen], already, reasons)


def decided_before(candidates: Sequence[Candidate], assignment_id: str, campaign_id: str,
                   at: float | None = None, customer_id: str | None = None) -> Reservation:
    """The offer a decision reserved before: one of `candidates`, or one like them for its campaign.

    `at` is when it was reserved: a sweep redone after a crash may run at another time,
    and the reserved offer's window is that of the first time. There may be no candidates
    at all: models restored from an older snapshot can filter out every campaign.
    """
    for c in candidates:
        if c.assignment_id == assignment_id:
            return Reservation(c, True, {})
    customer = candidates[0].customer_id if candidates else customer_id
    when = candidates[0].at if at is None else at
    return Reservation(Candidate(assignment_id, campaign_id, customer, when), True, {})


# The arguments of one `reserve`: candidates, policy, decision.
Request = tuple[Sequence[Candidate], ContactPolicy, "str | None"]


class Limits(Protocol):
    """What the worker needs from offer limits. Implementations must be atomic per call."""

    async def reserve(self, candidates: Sequence[Candidate], policy: ContactPolicy,
                      decision: str | None = None) -> Reservation:
        """Reserve the first candidate that passes every rule (see module docstring)."""
        ...

    async def reserve_many(self, requests: Sequence[Request]) -> list[Reservation | Exception]:
        """`reserve` for each request in order, in one call; a failed one's answer is its exception."""
        ...

    async def usage(self, campaign_id: str, day: str | None = None) -> dict:
        """``{"total": int, "day": int, "date": str}``; `day` defaults to today (UTC, wall clock)."""
        ...

    async def close(self) -> None: ...


class MemoryLimits:
    """The in-memory twin of `RedisLimits`: plain dicts, no expiry.

    `reserve` never awaits, so within one event loop each call is atomic.
    """

    def __init__(self) -> None:
        self.reserved: dict[str, str] = {}
        self.total: dict[str, int] = {}
        self.daily: dict[tuple[str, str], int] = {}
        self.cap: dict[tuple[str, str], int] = {}
        self.last: dict[tuple[str, str], float] = {}
        # customer -> sorted [(event time, assignment id)], like a Redis sorted set
        self.contacts: dict[str, list[tuple[float, str]]] = {}
        # decision -> (assignment id, campaign id, event time, customer id) it reserved
        self.decided: dict[str, tuple[str, str, float]] = {}

    def _reason(self, c: Candidate, policy: ContactPolicy) -> str | None:
        pair = (c.campaign_id, c.customer_id)
        if policy.max_offers is not None:
            cutoff = contact_cutoff(c.at, policy)
            recent = sum(1 for t, _ in self.contacts.get(c.customer_id, ()) if cutoff < t <= c.at)
            if recent >= policy.max_offers:
                return "contact_policy"
        if c.customer_cap is not None and self.cap.get(pair, 0) >= c.customer_cap:
            return "customer_cap"
        last = self.last.get(pair)
        if c.cooldown_seconds is not None and last is not None and c.at - last < c.cooldown_seconds:
            return "cooldown"
        if c.daily_budget is not None and self.daily.get((c.campaign_id, c.day), 0) >= c.daily_budget:
            return "daily_budget"
        if c.total_budget is not None and self.total.get(c.campaign_id, 0) >= c.total_budget:
            return "total_budget"
        return None

    def _commit(self, c: Candidate, policy: ContactPolicy) -> None:
        pair = (c.campaign_id, c.customer_id)
        self.reserved[c.assignment_id] = f"{c.campaign_id}|{c.customer_id}|{c.at!r}"
        self.total[c.campaign_id] = self.total.get(c.campaign_id, 0) + 1
        self.daily[(c.campaign_id, c.day)] = self.daily.get((c.campaign_id, c.day), 0) + 1
        self.cap[pair] = self.cap.get(pair, 0) + 1
        if pair not in self.last or self.last[pair] < c.at:
            self.last[pair] = c.at
        history = [e for e in self.contacts.get(c.customer_id, ()) if e[1] != c.assignment_id]
        history.append((c.at, c.assignment_id))
        cutoff = contact_cutoff(c.at, policy)
        history = sorted(e for e in history if e[0] > cutoff)
        self.contacts[c.customer_id] = history[-CONTACT_KEEP:]

    async def reserve(self, candidates: Sequence[Candidate], policy: ContactPolicy,
                      decision: str | None = None) -> Reservation:
        candidates = list(candidates)
        if decision is not None and decision in self.decided:
            return decided_before(candidates, *self.decided[decision])
        for i, c in enumerate(candidates):
            if c.assignment_id in self.reserved:
                return build_reservation(candidates, i, True, ())
        blocked: list[tuple[int, str]] = []
        for i, c in enumerate(candidates):
            reason = self._reason(c, policy)
            if reason is None:
                self._commit(c, policy)
                if decision is not None:
                    self.decided[decision] = (c.assignment_id, c.campaign_id, c.at, c.customer_id)
                return build_reservation(candidates, i, False, blocked)
            blocked.append((i, reason))
        return build_reservation(candidates, None, False, blocked)

    async def reserve_many(self, requests: Sequence[Request]) -> list[Reservation | Exception]:
        return [await self.reserve(*request) for request in requests]

    async def usage(self, campaign_id: str, day: str | None = None) -> dict:
        day = day or utc_day(time.time())
        return {"total": self.total.get(campaign_id, 0), "day": self.daily.get((campaign_id, day), 0), "date": day}

    async def close(self) -> None:
        return None
