"""`streams.redis.limits.RedisLimits` on the real Redis server, against its in-memory twin.

* every behaviour scenario of tests/unit/test_limits.py runs on both
  implementations (the `limits` fixture below is parametrized);
* a differential hypothesis test feeds one random call sequence to both and
  demands identical Reservations and counters;
* two OS processes with several tasks each race for a budget of 100.
* a proxy loses a reply after Redis ran the script: the call is sent again, never failed
  closed while Redis holds its reservation.

Redis: $REDIS_URL, else redis://127.0.0.1:16379/0 (`scripts/services up`).
Each test uses its own namespace and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue as queue_module
import random
import time
import uuid
from collections import Counter

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.limits import Candidate, ContactPolicy, MemoryLimits, Reservation, utc_day
from streams.counters import Counters
from streams.redis.limits import RESERVE_LUA, RedisLimits
from tests.unit.test_limits import (  # noqa: F401  (collected here, run on both implementations)
    DAY,
    T0,
    test_a_decision_made_again_gets_the_offer_it_reserved_first,
    test_candidates_tried_in_order_with_reasons,
    test_contact_policy_sliding_window_across_campaigns,
    test_cooldown_in_event_time,
    test_customer_cap,
    test_daily_budget_resets_on_a_new_day,
    test_first_failing_reason_follows_the_documented_order,
    test_redelivery_is_idempotent,
    test_total_budget_is_exhausted,
    test_zero_budget_blocks_everything,
)

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:16379/0")


def _namespace() -> str:
    return f"test-limits-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        pytest.fail(f"no Redis at {REDIS_URL} ({error}); run `scripts/services up` or set REDIS_URL")
    return REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def limits(request, redis_url):
    if request.param == "memory":
        yield MemoryLimits()
        return
    store = RedisLimits(redis_url, _namespace())
    try:
        yield store
    finally:
        await store.clear()
        await store.close()


async def test_keys_live_under_the_namespace_with_ttls(redis_url):
    store = RedisLimits(redis_url, _namespace())
    try:
        c = Candidate("asg:1", "camp:a", "cust:1", T0, total_budget=5, daily_budget=5)
        assert (await store.reserve([c], ContactPolicy(max_offers=3))).chosen == c
        client = store.client
        keys = {k async for k in client.scan_iter(match=f"{store.namespace}:*")}
        ns = store.namespace
        assert keys == {
            f"{ns}:limits:asg:asg%3A1", f"{ns}:limits:total:camp%3Aa", f"{ns}:limits:day:camp%3Aa:{c.day}",
            f"{ns}:limits:cap:camp%3Aa:cust%3A1", f"{ns}:limits:last:camp%3Aa:cust%3A1",
            f"{ns}:limits:contact:cust%3A1",
        }
        assert await client.get(store.last_key("camp:a", "cust:1")) == repr(T0)
        for key in (store.asg_key("asg:1"), store.day_key("camp:a", c.day), store.contact_key("cust:1")):
            assert 399 * 86_400 < await client.ttl(key) <= 400 * 86_400
        assert await client.ttl(store.total_key("camp:a")) == -1
    finally:
        assert await store.clear() == 6
        await store.close()


async def test_redis_errors_propagate():
    store = RedisLimits("redis://127.0.0.1:1/0", _namespace())  # nothing listens on port 1
    try:
        with pytest.raises(redis.RedisError):
            await store.reserve([Candidate("a", "c", "u", T0)], ContactPolicy())
    finally:
        await store.close()


# -- a reply lost after Redis ran the script ----------------------------------------

class LosingProxy:
    """A TCP proxy to the real Redis that loses one reply, the way a Redis shutdown loses the call in flight.

    It passes bytes both ways until a client sends a chunk holding `marker`. It forwards that
    chunk, waits for Redis's reply, drops it, closes both connections, and refuses connections
    for `down` seconds (it stops listening). After that it passes everything again.
    """

    def __init__(self, target: str, marker: bytes = b"EVALSHA", down: float = 1.0) -> None:
        url = redis.connection.parse_url(target)
        self.host, self.port = url.get("host", "127.0.0.1"), url.get("port", 6379)
        self.marker, self.down, self.lost = marker, down, 0
        self.server: asyncio.base_events.Server | None = None
        self.listen_port = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.listen_port)
        self.listen_port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{self.listen_port}/0"

    async def _serve(self, client_r, client_w) -> None:
        redis_r, redis_w = await asyncio.open_connection(self.host, self.port)
        losing = asyncio.Event()
        dropped = asyncio.Event()

        async def back() -> None:
            while data := await redis_r.read(65536):
                if losing.is_set():
                    dropped.set()
                    return
                client_w.write(data)
                await client_w.drain()

        pump = asyncio.create_task(back())
        try:
            while data := await client_r.read(65536):
                if self.marker in data and not self.lost:
                    self.lost += 1
                    losing.set()
                    redis_w.write(data)
                    await redis_w.drain()
                    await asyncio.wait_for(dropped.wait(), 5)  # Redis ran it and answered: the answer is dropped
                    self.server.close()
                    asyncio.get_running_loop().call_later(self.down, lambda: asyncio.ensure_future(self.start()))
                    return
                redis_w.write(data)
                await redis_w.drain()
        finally:
            pump.cancel()
            client_w.close()
            redis_w.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.mark.parametrize("together", [False, True], ids=["reserve", "reserve_many"])
async def test_a_reservation_whose_reply_was_lost_is_recalled_not_failed(redis_url, together):
    """Redis ran the script, the reply was lost, and Redis stayed away a second: the call is sent
    again when Redis is back, and answers what it reserved. Failing it closed (as redis-py's error
    asked, before) left the budget counting an offer nobody was sent."""
    proxy, counters = LosingProxy(redis_url, down=1.0), Counters()
    store = RedisLimits(await proxy.start(), namespace := _namespace(), counters=counters)
    reader = RedisLimits(redis_url, namespace)
    offer = Candidate("asg-1", "camp", "cust-1", T0, total_budget=5)
    # Loaded, so the call whose reply is lost runs (a fresh Redis answers NOSCRIPT: nothing ran).
    await reader.client.script_load(RESERVE_LUA)
    try:
        began = time.monotonic()
        if together:
            [answer] = await store.reserve_many([([offer], ContactPolicy(), "decision-1")])
        else:
            answer = await store.reserve([offer], ContactPolicy(), "decision-1")
        assert proxy.lost == 1 and time.monotonic() - began >= 1.0
        assert answer == Reservation(offer, True, {})  # the offer the lost call reserved, recalled
        assert (counters.limits_in_doubt, counters.limits_in_doubt_abandoned) == (1, 0)  # on /health/ and /metrics
        assert (await reader.usage("camp", offer.day))["total"] == 1  # counted once
    finally:
        proxy.close()
        await reader.clear()
        await store.close()
        await reader.close()


async def test_a_call_in_doubt_too_long_fails_and_says_so(redis_url):
    proxy = LosingProxy(redis_url, down=2.0)
    store = RedisLimits(await proxy.start(), _namespace(), in_doubt_seconds=0.5)
    offer = Candidate("asg-1", "camp", "cust-1", T0)
    try:
        with pytest.raises(redis.ConnectionError):
            await store.reserve_many([([offer], ContactPolicy(), "decision-1")])
        assert (store.counters.limits_in_doubt_abandoned, store.counters.limits_in_doubt) == (1, 0)
    finally:
        proxy.close()
        await RedisLimits(redis_url, store.namespace).clear()
        await store.close()


async def test_a_reservation_of_no_decision_is_never_sent_twice(redis_url):
    """Without a decision key the script cannot recall, so sending it again could reserve twice: it fails."""
    proxy = LosingProxy(redis_url, down=0.2)
    store, reader = RedisLimits(await proxy.start(), namespace := _namespace()), RedisLimits(redis_url, namespace)
    offer = Candidate("asg-1", "camp", "cust-1", T0)
    await reader.client.script_load(RESERVE_LUA)  # as above: the call whose reply is lost runs
    try:
        with pytest.raises(redis.ConnectionError):
            await store.reserve([offer], ContactPolicy())
        assert proxy.lost == 1 and store.counters.limits_in_doubt == 0
        assert (await reader.usage("camp", offer.day))["total"] == 1  # it ran: the caller's offer is lost to it
    finally:
        proxy.close()
        await reader.clear()
        await store.close()
        await reader.close()


async def test_a_refused_connection_fails_at_once():
    """Nothing can have been sent on a refused connection: no waiting, the caller fails closed."""
    store = RedisLimits("redis://127.0.0.1:1/0", _namespace())  # nothing listens on port 1
    began = time.monotonic()
    try:
        with pytest.raises(redis.ConnectionError):
            await store.reserve_many([([Candidate("a", "c", "u", T0)], ContactPolicy(), "decision")])
        assert time.monotonic() - began < 1.0 and store.counters.limits_in_doubt == 0
    finally:
        await store.close()


# -- differential: the twin decides exactly as Redis ---------------------------------

limit = st.none() | st.integers(0, 3)
candidate = st.builds(
    lambda asg, camp, cust, offset, total, daily, cap, cooldown: Candidate(
        f"a{asg}", camp, cust, T0 + offset, total_budget=total, daily_budget=daily, customer_cap=cap,
        cooldown_days=cooldown),
    st.integers(0, 12), st.sampled_from(["c1", "c2", "c:3"]), st.sampled_from(["u1", "u2", "u%3"]),
    st.floats(-3 * DAY, 4 * DAY, allow_nan=False) | st.sampled_from([0.0, 0.1, DAY / 3, 2 * DAY + 1e-6]),
    limit, limit, limit, st.none() | st.sampled_from([0.0, 0.5, 1 / 3, 1.0, 2.000001]),
)
policy = st.builds(ContactPolicy, limit, st.sampled_from([0.25, 1 / 3, 1, 2, 7]))
sequences = st.lists(st.tuples(st.lists(candidate, max_size=4), policy), min_size=1, max_size=25)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=sequences)
def test_twin_and_redis_decide_identically(redis_url, calls):
    async def run() -> None:
        twin, real = MemoryLimits(), RedisLimits(redis_url, _namespace())
        try:
            for step, (candidates, contact) in enumerate(calls):
                expected = await twin.reserve(candidates, contact)
                got = await real.reserve(candidates, contact)
                assert got == expected, f"call {step}"
            for campaign in ("c1", "c2", "c:3"):
                for day in {c.day for cands, _ in calls for c in cands}:
                    assert await real.usage(campaign, day) == await twin.usage(campaign, day)
        finally:
            await real.clear()
            await real.close()

    asyncio.run(run())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=sequences, cuts=st.lists(st.integers(1, 6), min_size=1, max_size=25))
def test_reserving_many_at_once_answers_as_one_by_one(redis_url, calls, cuts):
    """`reserve_many` on Redis (one pipeline) gives the twin's answers to the same calls in turn."""

    async def run() -> None:
        twin, real = MemoryLimits(), RedisLimits(redis_url, _namespace())
        requests = [(candidates, contact, f"decision-{i % 7}" if i % 3 else None)
                    for i, (candidates, contact) in enumerate(calls)]
        try:
            expected = [await twin.reserve(*request) for request in requests]
            got, start = [], 0
            for size in cuts * len(requests):
                if start >= len(requests):
                    break
                got += await real.reserve_many(requests[start:start + size])
                start += size
            assert got == expected
        finally:
            await real.clear()
            await real.close()

    asyncio.run(run())


async def test_reserving_many_fails_whole_when_redis_is_away():
    store = RedisLimits("redis://127.0.0.1:1/0", _namespace())  # nothing listens on port 1
    try:
        with pytest.raises(redis.RedisError):
            await store.reserve_many([([Candidate("a", "c", "u", T0)], ContactPolicy(), None)])
        assert await store.reserve_many([([], ContactPolicy(), None)]) == [Reservation(None, False, {})]
    finally:
        await store.close()


# -- concurrency: two processes, several tasks each, one budget ----------------------

CUSTOMERS = [f"cust-{i:04d}" for i in range(1_000)]


def _hammer(url: str, namespace: str, worker: int, tasks: int, start, results) -> None:
    """One OS process: its own RedisLimits and event loop, `tasks` concurrent tasks."""

    async def main() -> dict:
        store = RedisLimits(url, namespace)
        order = CUSTOMERS[:]
        random.Random(7).shuffle(order)  # same order in both processes: they race per customer
        won: list[str] = []
        reasons: Counter = Counter()

        async def task(customers: list[str]) -> None:
            for customer in customers:
                offer = Candidate(f"w{worker}-{customer}", "flash", customer, T0, total_budget=100, customer_cap=1)
                r = await store.reserve([offer], ContactPolicy())
                if r.chosen is not None:
                    assert not r.already
                    won.append(customer)
                reasons.update(r.blocked.values())

        await store.ping()
        start.wait(30)
        began = time.perf_counter()
        try:
            await asyncio.gather(*(task(order[k::tasks]) for k in range(tasks)))
        finally:
            await store.close()
        return {"worker": worker, "won": won, "reasons": dict(reasons), "seconds": time.perf_counter() - began}

    try:
        results.put(asyncio.run(main()))
    except BaseException as error:  # report, never hang the parent
        results.put({"worker": worker, "error": repr(error)})


async def test_two_processes_never_overspend(redis_url, capsys):
    namespace, tasks = _namespace(), 8
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(redis_url, namespace, w, tasks, start, results)) for w in (1, 2)]
    for p in procs:
        p.start()
    store = RedisLimits(redis_url, namespace)
    try:
        outcomes = []
        for _ in procs:
            outcomes.append(await asyncio.to_thread(results.get, True, 60))
        for p in procs:
            await asyncio.to_thread(p.join, 30)
        assert [o.get("error") for o in outcomes] == [None, None], outcomes
        won = [customer for o in outcomes for customer in o["won"]]
        assert len(won) == 100
        assert len(set(won)) == 100  # no customer twice
        assert await store.usage("flash", utc_day(T0)) == {"total": 100, "day": 100, "date": utc_day(T0)}
        reasons = Counter()
        for o in outcomes:
            reasons.update(o["reasons"])
        assert sum(reasons.values()) == 2 * len(CUSTOMERS) - 100
        assert set(reasons) <= {"total_budget", "customer_cap"}
        with capsys.disabled():
            print(f"\nconcurrency: {[(o['worker'], len(o['won']), round(o['seconds'], 2)) for o in outcomes]} "
                  f"reserved={len(won)} distinct={len(set(won))} blocked={dict(reasons)}")
    except queue_module.Empty:
        pytest.fail("a hammer process never reported")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        await store.clear()
        await store.close()
