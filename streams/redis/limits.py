"""Offer limits in Redis: each `reserve` is ONE atomic Lua script over all candidates.

`RedisLimits` implements `core.limits.Limits` and decides exactly as the
in-memory twin `core.limits.MemoryLimits` for the same sequence of calls (the
rules and their order are documented in `core.limits`).

Key layout (``{ns}`` is the namespace; ids are escaped so ``:`` in an id can
never make two keys collide: ``%`` -> ``%25``, ``:`` -> ``%3A``):

==========================================  =======================================  ===========
key                                         value                                    expiry
==========================================  =======================================  ===========
``{ns}:limits:asg:{assignment_id}``         string ``campaign|customer|at``          TTL 400 d
``{ns}:limits:total:{campaign}``            int counter                              none
``{ns}:limits:day:{campaign}:{day}``        int counter (day = UTC 'YYYY-MM-DD')     TTL 400 d
``{ns}:limits:cap:{campaign}:{customer}``   int counter                              none
``{ns}:limits:last:{campaign}:{customer}``  last event time (float, repr string)     none
``{ns}:limits:contact:{customer}``          sorted set: member assignment id,        TTL 400 d
                                            score event time; trimmed to the window  (refreshed)
                                            and to the newest `CONTACT_KEEP`
``{ns}:limits:decided:{decision}``          string ``assignment id|`` + the asg record  TTL 400 d
==========================================  =======================================  ===========

The TTLs (wall clock, refreshed on every write for the counters and the contact
history) only keep Redis from growing forever; a redelivery more than 400 days
after the first delivery would be counted again, which the in-memory twin
(no expiry) would not do.

Every key a script touches is passed through KEYS. The script touches keys of
different campaigns and customers, so it needs a single Redis server (or a
replica set behind one primary), not Redis Cluster.

Event times are sent as ``repr(float)`` strings, which Redis parses back into
the exact same double (Lua ``tonumber`` and sorted-set scores both use
``strtod``), and the window cutoff and cooldown length are computed in Python
with the twin's arithmetic, so cooldown and window comparisons match the twin
bit for bit.

Failure: a Redis error propagates as an exception out of `reserve`, and the
caller must fail closed - emit no offer when limits cannot be confirmed. That
is only right when the script surely did not run. A call whose connection broke
after it was sent is *in doubt*: Redis may have run it and lost only the reply
(a Redis shutdown does that to the call in flight). Failing it closed would
leave the counters holding an offer nobody got. So a call in doubt whose every
reservation names its decision is sent again until Redis answers: the script
recalls what the decision reserved (or reserves it now, if it never ran), and
the caller gets the true answer. Only a connection that was refused proves
nothing was sent; that call fails at once. A call in doubt for longer than
`in_doubt_seconds` fails too (counted in `limits_in_doubt_abandoned`): its campaign
may then count one offer more than it sent, so a budget can go under-used but
never over. redis-py's own retries are off for this client, so each failure is
seen where it happens.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core.limits import (
    CONTACT_KEEP,
    Candidate,
    Request,
    ContactPolicy,
    Reservation,
    build_reservation,
    contact_cutoff,
    decided_before,
    utc_day,
)
from streams.counters import Counters

log = logging.getLogger(__name__)

TTL_SECONDS = 400 * 86_400
IN_DOUBT_SECONDS = 30.0  # how long a call in doubt is sent again before it fails (a restart takes seconds)
READ_RETRY_SECONDS = 2.0  # reads (usage) are tried again this long after a broken connection
KEYS_PER_CANDIDATE = 6
ARGS_PER_CANDIDATE = 8
HEADER_ARGS = 5

# KEYS, per candidate i (k = (i-1)*6): asg, total, day, cap, last, contact; then the
#   decision key when ARGV[5] is '1'
# ARGV: n, max_offers ('' = none), ttl, keep, has decision; then per candidate
#   (a = 5 + (i-1)*8): at, cutoff, cooldown seconds, total budget, daily budget, customer cap
#   (each '' = none), assignment id, record stored under the asg key
# Returns {chosen index (1-based, 0 = none), already (0/1), blocked index, reason, ...},
#   or {0, 2, 'assignment id|asg record'} when the decision reserved that offer before
RESERVE_LUA = """
local n = tonumber(ARGV[1])
local max_offers = tonumber(ARGV[2])
local ttl = ARGV[3]
local keep = tonumber(ARGV[4])
local decision = false
if ARGV[5] == '1' then
  decision = KEYS[n * 6 + 1]
  local before = redis.call('GET', decision)
  if before then
    return {0, 2, before}
  end
end

for i = 1, n do
  if redis.call('EXISTS', KEYS[(i - 1) * 6 + 1]) == 1 then
    return {i, 1}
  end
end

local function count(key)
  return tonumber(redis.call('GET', key) or '0')
end

local result = {0, 0}
for i = 1, n do
  local k = (i - 1) * 6
  local a = 5 + (i - 1) * 8
  local at_text = ARGV[a + 1]
  local at = tonumber(at_text)
  local cutoff = ARGV[a + 2]
  local cooldown = tonumber(ARGV[a + 3])
  local total_budget = tonumber(ARGV[a + 4])
  local daily_budget = tonumber(ARGV[a + 5])
  local cap = tonumber(ARGV[a + 6])
  local reason = false
  if max_offers and redis.call('ZCOUNT', KEYS[k + 6], '(' .. cutoff, at_text) >= max_offers then
    reason = 'contact_policy'
  elseif cap and count(KEYS[k + 4]) >= cap then
    reason = 'customer_cap'
  else
    local last = redis.call('GET', KEYS[k + 5])
    if cooldown and last and at - tonumber(last) < cooldown then
      reason = 'cooldown'
    elseif daily_budget and count(KEYS[k + 3]) >= daily_budget then
      reason = 'daily_budget'
    elseif total_budget and count(KEYS[k + 2]) >= total_budget then
      reason = 'total_budget'
    end
  end
  if reason then
    result[#result + 1] = i
    result[#result + 1] = reason
  else
    redis.call('SET', KEYS[k + 1], ARGV[a + 8], 'EX', ttl)
    redis.call('INCR', KEYS[k + 2])
    redis.call('INCR', KEYS[k + 3])
    redis.call('EXPIRE', KEYS[k + 3], ttl)
    redis.call('INCR', KEYS[k + 4])
    local last = redis.call('GET', KEYS[k + 5])
    if (not last) or tonumber(last) < at then
      redis.call('SET', KEYS[k + 5], at_text)
    end
    redis.call('ZADD', KEYS[k + 6], at_text, ARGV[a + 7])
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 6], '-inf', cutoff)
    local size = redis.call('ZCARD', KEYS[k + 6])
    if size > keep then
      redis.call('ZREMRANGEBYRANK', KEYS[k + 6], 0, size - keep - 1)
    end
    redis.call('EXPIRE', KEYS[k + 6], ttl)
    if decision then
      redis.call('SET', decision, ARGV[a + 7] .. '|' .. ARGV[a + 8], 'EX', ttl)
    end
    result[1] = i
    return result
  end
end
return result
"""


def _part(value: str) -> str:
    """Escape one key component so the layout stays injective."""
    return value.replace("%", "%25").replace(":", "%3A")


def _opt(value: int | float | None) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def sent_nothing(error: BaseException) -> bool:
    """Whether a failed call surely never reached Redis: its connection was refused or could not open.

    Any other failure (a reset, a closed connection, a timeout on a reply) may have come
    after Redis ran the call.
    """
    cause = error.__cause__
    return isinstance(cause, (ConnectionRefusedError, socket.gaierror)) or (
        isinstance(error, redis.TimeoutError) and str(error) == "Timeout connecting to server")


class RedisLimits:
    """`core.limits.Limits` on a real Redis server (see the module docstring).

    The client is created lazily so it binds to the event loop that uses it;
    `close` releases it. Redis errors propagate, but a call in doubt is sent again
    first (the module docstring): callers must fail closed.
    """

    def __init__(self, url: str, namespace: str, in_doubt_seconds: float = IN_DOUBT_SECONDS,
                 counters: Counters | None = None) -> None:
        """`counters`: where the reservations in doubt are counted (`limits_in_doubt`, answered when sent
        again; `limits_in_doubt_abandoned`, failed after `in_doubt_seconds`): the worker's, which
        /health/ and /metrics show. Its own when none is given."""
        self.url = url
        self.namespace = namespace
        self.in_doubt_seconds = in_doubt_seconds
        self.counters = Counters() if counters is None else counters
        self._client: aioredis.Redis | None = None
        self._script = None

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            # No retries inside redis-py: `_answered` decides what may be sent again.
            self._client = aioredis.Redis.from_url(self.url, decode_responses=True, retry=Retry(NoBackoff(), 0))
            # EVALSHA, loading the script (EVAL fallback) on NOSCRIPT.
            self._script = self._client.register_script(RESERVE_LUA)
        return self._client

    # -- key layout -------------------------------------------------------
    def _key(self, *parts: str) -> str:
        return ":".join((self.namespace, "limits", *parts))

    def asg_key(self, assignment_id: str) -> str:
        return self._key("asg", _part(assignment_id))

    def total_key(self, campaign_id: str) -> str:
        return self._key("total", _part(campaign_id))

    def day_key(self, campaign_id: str, day: str) -> str:
        return self._key("day", _part(campaign_id), _part(day))

    def cap_key(self, campaign_id: str, customer_id: str) -> str:
        return self._key("cap", _part(campaign_id), _part(customer_id))

    def last_key(self, campaign_id: str, customer_id: str) -> str:
        return self._key("last", _part(campaign_id), _part(customer_id))

    def contact_key(self, customer_id: str) -> str:
        return self._key("contact", _part(customer_id))

    # -- Limits -----------------------------------------------------------
    def _call(self, candidates: Sequence[Candidate], policy: ContactPolicy,
              decision: str | None) -> tuple[list[str], list[str]]:
        """The script's KEYS and ARGV for one reservation."""
        keys: list[str] = []
        args: list[str] = [str(len(candidates)), _opt(policy.max_offers), str(TTL_SECONDS), str(CONTACT_KEEP),
                           "0" if decision is None else "1"]
        for c in candidates:
            keys += [
                self.asg_key(c.assignment_id),
                self.total_key(c.campaign_id),
                self.day_key(c.campaign_id, c.day),
                self.cap_key(c.campaign_id, c.customer_id),
                self.last_key(c.campaign_id, c.customer_id),
                self.contact_key(c.customer_id),
            ]
            args += [
                repr(c.at),
                repr(contact_cutoff(c.at, policy)),
                _opt(c.cooldown_seconds),
                _opt(c.total_budget),
                _opt(c.daily_budget),
                _opt(c.customer_cap),
                c.assignment_id,
                f"{c.campaign_id}|{c.customer_id}|{c.at!r}",
            ]
        if decision is not None:
            keys.append(self._key("decided", _part(decision)))
        return keys, args

    @staticmethod
    def _answer(candidates: Sequence[Candidate], reply: list) -> Reservation:
        if int(reply[1]) == 2:  # campaign ids cannot hold '|': the record is 'campaign|customer|at'
            before = str(reply[2])
            assignment, campaign, customer = before.split("|")[:3]
            return decided_before(candidates, assignment, campaign, float(before.rsplit("|", 1)[1]), customer)
        chosen, already = int(reply[0]), bool(int(reply[1]))
        blocked = [(int(reply[j]) - 1, str(reply[j + 1])) for j in range(2, len(reply), 2)]
        return build_reservation(candidates, chosen - 1 if chosen else None, already, blocked)

    async def reserve(self, candidates: Sequence[Candidate], policy: ContactPolicy,
                      decision: str | None = None) -> Reservation:
        candidates = list(candidates)
        if not candidates and decision is None:  # nothing to reserve, and no decision to recall
            return Reservation(None, False, {})
        keys, args = self._call(candidates, policy, decision)
        _ = self.client
        reply = await self._answered(lambda: self._script(keys=keys, args=args), resend=decision is not None)
        return self._answer(candidates, reply)

    async def _answered(self, call: Callable[[], Awaitable], resend: bool, reserves: bool = True):
        """`call()`'s reply; sent again, while in doubt, until Redis answers (the module docstring).

        `resend`: whether running the call twice is the same as once (every reservation names its
        decision, or it only reads). Without it, any failure is raised. `reserves`: a reservation,
        tried for `in_doubt_seconds` and counted; else a read, tried for `READ_RETRY_SECONDS`.
        """
        limit = self.in_doubt_seconds if reserves else READ_RETRY_SECONDS
        since: float | None = None
        pause = 0.02
        while True:
            try:
                reply = await call()
            except (redis.ConnectionError, redis.TimeoutError) as error:
                if not resend or (since is None and sent_nothing(error)):
                    raise
                now = time.monotonic()
                if since is None:
                    since = now
                    if reserves:
                        log.warning("Redis limits: a reservation is in doubt (%r); sending it again until Redis "
                                    "answers", error)
                elif now - since > limit:
                    if reserves:
                        self.counters.limits_in_doubt_abandoned += 1
                        log.error("Redis limits: a reservation still in doubt after %.0f s fails; its campaigns may "
                                  "count an offer that was not sent", limit)
                    raise
                await asyncio.sleep(pause)
                pause = min(2 * pause, 1.0)
                continue
            if since is not None and reserves:
                self.counters.limits_in_doubt += 1
                log.warning("Redis limits: the reservation in doubt was answered after %.1f s", time.monotonic() - since)
            return reply

    async def reserve_many(self, requests: Sequence[Request]) -> list[Reservation | Exception]:
        """One round trip: a pipeline (not a transaction) of one script call per reservation.

        Redis runs them in order, each atomically, so each answer is what `reserve` would
        have answered in turn. A script that fails leaves its answer an exception and the
        others standing; a connection that fails raises (the caller fails closed for all).
        """
        answers: list[Reservation | Exception | None] = []
        sent: list[tuple[int, list[Candidate], list[str], list[str], str | None]] = []
        for candidates, policy, decision in requests:
            candidates = list(candidates)
            asks = bool(candidates) or decision is not None
            answers.append(None if asks else Reservation(None, False, {}))
            if asks:
                keys, args = self._call(candidates, policy, decision)
                sent.append((len(answers) - 1, candidates, keys, args, decision))
        if sent:
            async def call() -> list:
                pipe = self.client.pipeline(transaction=False)
                for _, _, keys, args, _ in sent:
                    await self._script(keys=keys, args=args, client=pipe)  # queued, not sent
                return await pipe.execute(raise_on_error=False)

            # Sent again only if each of its reservations is a decision's, which the script recalls.
            replies = await self._answered(call, resend=all(s[4] is not None for s in sent))
            for (i, candidates, _, _, _), reply in zip(sent, replies):
                answers[i] = reply if isinstance(reply, Exception) else self._answer(candidates, reply)
        return answers

    async def usage(self, campaign_id: str, day: str | None = None) -> dict:
        day = day or utc_day(time.time())
        total, daily = await self._answered(
            lambda: self.client.mget(self.total_key(campaign_id), self.day_key(campaign_id, day)),
            resend=True, reserves=False)
        return {"total": int(total or 0), "day": int(daily or 0), "date": day}

    async def usage_many(self, campaign_ids: Sequence[str], day: str | None = None) -> dict[str, dict]:
        """`usage` of many campaigns in one round trip (the dashboard reads every campaign's)."""
        day = day or utc_day(time.time())
        keys = [k for cid in campaign_ids for k in (self.total_key(cid), self.day_key(cid, day))]
        values = await self._answered(lambda: self.client.mget(keys), resend=True,
                                      reserves=False) if keys else []
        return {cid: {"total": int(values[2 * i] or 0), "day": int(values[2 * i + 1] or 0), "date": day}
                for i, cid in enumerate(campaign_ids)}

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def clear(self) -> int:
        """Delete every limits key of this namespace (tests, operators). Not atomic."""
        deleted = 0
        async for key in self.client.scan_iter(match=f"{self.namespace}:limits:*", count=500):
            deleted += await self.client.delete(key)
        return deleted

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._script = None
