"""Behaviour of offer limits (`core.limits`), here on the in-memory twin.

The scenario tests take a `limits` fixture; tests/integration/test_redis_limits.py
imports them and runs each against both `MemoryLimits` and `RedisLimits`.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.limits import Candidate, ContactPolicy, MemoryLimits, Reservation, utc_day

DAY = 86_400.0
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
NO_POLICY = ContactPolicy()


def offer(asg: str, campaign: str = "camp", customer: str = "cust", at: float = T0, **limits) -> Candidate:
    return Candidate(asg, campaign, customer, at, **limits)


@pytest.fixture
def limits():
    return MemoryLimits()


# -- scenarios (shared with the Redis integration tests) ---------------------------


async def test_total_budget_is_exhausted(limits):
    results = [await limits.reserve([offer(f"a{i}", customer=f"u{i}", total_budget=3)], NO_POLICY) for i in range(5)]
    assert [r.chosen is not None for r in results] == [True, True, True, False, False]
    assert results[3].blocked == {"camp": "total_budget"}
    assert all(not r.already for r in results)
    assert (await limits.usage("camp", utc_day(T0)))["total"] == 3


async def test_daily_budget_resets_on_a_new_day(limits):
    day1, day2 = T0, T0 + DAY
    got = [await limits.reserve([offer(f"a{i}", customer=f"u{i}", at=day1 + i, daily_budget=2)], NO_POLICY)
           for i in range(3)]
    assert [r.chosen is not None for r in got] == [True, True, False]
    assert got[2].blocked == {"camp": "daily_budget"}
    nxt = await limits.reserve([offer("b0", customer="u9", at=day2, daily_budget=2)], NO_POLICY)
    assert nxt.chosen is not None and nxt.chosen.day == utc_day(day2) != utc_day(day1)
    assert await limits.usage("camp", utc_day(day1)) == {"total": 3, "day": 2, "date": utc_day(day1)}
    assert (await limits.usage("camp", utc_day(day2)))["day"] == 1


async def test_zero_budget_blocks_everything(limits):
    r = await limits.reserve([offer("a", total_budget=0), offer("b", campaign="other", daily_budget=0)], NO_POLICY)
    assert r.chosen is None and r.blocked == {"camp": "total_budget", "other": "daily_budget"}


async def test_customer_cap(limits):
    picks = [await limits.reserve([offer(f"a{i}", at=T0 + i * DAY, customer_cap=2)], NO_POLICY) for i in range(3)]
    assert [p.chosen is not None for p in picks] == [True, True, False]
    assert picks[2].blocked == {"camp": "customer_cap"}
    other = await limits.reserve([offer("b", customer="someone-else", customer_cap=2)], NO_POLICY)
    assert other.chosen is not None
    assert (await limits.usage("camp", utc_day(T0)))["total"] == 3


async def test_cooldown_in_event_time(limits):
    first = T0 + 0.25
    assert (await limits.reserve([offer("a1", at=first, cooldown_days=3)], NO_POLICY)).chosen
    too_soon = await limits.reserve([offer("a2", at=first + 3 * DAY - 0.5, cooldown_days=3)], NO_POLICY)
    assert too_soon.chosen is None and too_soon.blocked == {"camp": "cooldown"}
    earlier = await limits.reserve([offer("a3", at=first - 10 * DAY, cooldown_days=3)], NO_POLICY)
    assert earlier.blocked == {"camp": "cooldown"}  # out of order: last assignment is after it
    other_customer = await limits.reserve([offer("b1", customer="u2", at=first + 1, cooldown_days=3)], NO_POLICY)
    assert other_customer.chosen is not None
    exactly = await limits.reserve([offer("a4", at=first + 3 * DAY, cooldown_days=3)], NO_POLICY)
    assert exactly.chosen is not None  # the cooldown has fully elapsed
    again = await limits.reserve([offer("a5", at=first + 3 * DAY + 1, cooldown_days=3)], NO_POLICY)
    assert again.blocked == {"camp": "cooldown"}  # measured from the newest assignment


async def test_contact_policy_sliding_window_across_campaigns(limits):
    policy = ContactPolicy(max_offers=2, window_days=7)
    assert (await limits.reserve([offer("a", campaign="c1", at=T0)], policy)).chosen
    assert (await limits.reserve([offer("b", campaign="c2", at=T0 + 1 * DAY)], policy)).chosen
    third = await limits.reserve([offer("c", campaign="c3", at=T0 + 6 * DAY)], policy)
    assert third.chosen is None and third.blocked == {"c3": "contact_policy"}
    other = await limits.reserve([offer("d", campaign="c3", customer="u2", at=T0 + 6 * DAY)], policy)
    assert other.chosen is not None  # per customer
    # At T0 + 7 days the window is (T0, T0 + 7d]: the first offer has slid out.
    slid = await limits.reserve([offer("e", campaign="c3", at=T0 + 7 * DAY)], policy)
    assert slid.chosen is not None
    full = await limits.reserve([offer("f", campaign="c4", at=T0 + 7.5 * DAY)], policy)
    assert full.blocked == {"c4": "contact_policy"}
    assert (await limits.reserve([offer("g", campaign="c4", at=T0 + 7.5 * DAY)], ContactPolicy())).chosen


async def test_candidates_tried_in_order_with_reasons(limits):
    await limits.reserve([offer("x1", campaign="spent", customer="other", total_budget=1)], NO_POLICY)
    await limits.reserve([offer("x2", campaign="capped", customer_cap=1)], NO_POLICY)
    candidates = [
        offer("a1", campaign="spent", total_budget=1),
        offer("a2", campaign="capped", customer_cap=1),
        offer("a3", campaign="open", total_budget=10),
        offer("a4", campaign="also-open"),
    ]
    r = await limits.reserve(candidates, NO_POLICY)
    assert r.chosen == candidates[2] and not r.already
    assert r.blocked == {"spent": "total_budget", "capped": "customer_cap"}
    assert (await limits.usage("also-open", utc_day(T0)))["total"] == 0
    none = await limits.reserve([offer("b1", campaign="spent", total_budget=1), offer("b2", campaign="open", total_budget=1)],
                                NO_POLICY)
    assert none.chosen is None and none.blocked == {"spent": "total_budget", "open": "total_budget"}
    assert await limits.reserve([], NO_POLICY) == Reservation(None, False, {})


async def test_first_failing_reason_follows_the_documented_order(limits):
    rules = dict(total_budget=1, daily_budget=1, customer_cap=1, cooldown_days=30)
    assert (await limits.reserve([offer("a0", **rules)], ContactPolicy(max_offers=1))).chosen
    later = T0 + 1.0
    expect = [
        (ContactPolicy(max_offers=1), rules, "contact_policy"),
        (NO_POLICY, rules, "customer_cap"),
        (NO_POLICY, {**rules, "customer_cap": None}, "cooldown"),
        (NO_POLICY, {**rules, "customer_cap": None, "cooldown_days": None}, "daily_budget"),
        (NO_POLICY, {"total_budget": 1}, "total_budget"),
    ]
    for policy, kwargs, reason in expect:
        r = await limits.reserve([offer("a1", at=later, **kwargs)], policy)
        assert (r.chosen, r.blocked) == (None, {"camp": reason})


async def test_redelivery_is_idempotent(limits):
    blocked_first = offer("a0", campaign="spent", total_budget=0)
    candidate = offer("a1", total_budget=5, customer_cap=1, cooldown_days=1)
    first = await limits.reserve([blocked_first, candidate], ContactPolicy(max_offers=1))
    assert first.chosen == candidate and not first.already and first.blocked == {"spent": "total_budget"}
    before = await limits.usage("camp", candidate.day)
    again = await limits.reserve([blocked_first, candidate], ContactPolicy(max_offers=1))
    assert again.chosen == candidate and again.already and again.blocked == {}
    assert await limits.usage("camp", candidate.day) == before == {"total": 1, "day": 1, "date": candidate.day}
    # A redelivery wins even over an earlier candidate that would pass now.
    fresh = offer("a2", campaign="fresh")
    redelivered = await limits.reserve([fresh, candidate], NO_POLICY)
    assert redelivered.chosen == candidate and redelivered.already
    assert (await limits.usage("fresh", candidate.day))["total"] == 0
    # ... and nothing counted: the customer can still get another offer of another campaign.
    assert (await limits.reserve([fresh], NO_POLICY)).chosen == fresh


async def test_a_decision_made_again_gets_the_offer_it_reserved_first(limits):
    """After a crash an event is decided again, maybe with other candidates: the first offer stands."""
    first, other = offer("a1", campaign="spring", total_budget=5), offer("a2", campaign="summer")
    reserved = await limits.reserve([first, other], NO_POLICY, "cust|evt-1")
    assert reserved.chosen == first and not reserved.already
    again = await limits.reserve([other], NO_POLICY, "cust|evt-1")  # "spring" no longer listed
    assert again.already and (again.chosen.assignment_id, again.chosen.campaign_id) == ("a1", "spring")
    # redone later (a sweep at another watermark): the offer keeps the time, so the window, it was reserved at
    later = await limits.reserve([offer("a3", campaign="summer", at=T0 + 20 * DAY)], NO_POLICY, "cust|evt-1")
    assert (later.chosen.assignment_id, later.chosen.at) == ("a1", T0)
    assert (await limits.usage("summer", other.day))["total"] == 0
    assert (await limits.usage("spring", first.day))["total"] == 1
    # Redone with no candidate at all (older models filtered every campaign out): still the first offer.
    none = await limits.reserve([], NO_POLICY, "cust|evt-1")
    assert none.already and (none.chosen.assignment_id, none.chosen.campaign_id, none.chosen.customer_id,
                             none.chosen.at) == ("a1", "spring", first.customer_id, T0)
    assert (await limits.reserve([], NO_POLICY, "cust|evt-9")).chosen is None  # nothing was reserved for it
    # Another event of the same customer is a decision of its own.
    assert (await limits.reserve([other], NO_POLICY, "cust|evt-2")).chosen == other


# -- property: the twin never exceeds a budget or cap --------------------------------

CAMPAIGNS = {  # campaign -> fixed limits for the whole run
    "c1": dict(total_budget=4, daily_budget=2, customer_cap=2, cooldown_days=0.5),
    "c2": dict(total_budget=6, daily_budget=None, customer_cap=1, cooldown_days=None),
    "c3": dict(total_budget=None, daily_budget=3, customer_cap=None, cooldown_days=1.25),
}

calls = st.lists(
    st.tuples(
        st.floats(0, 6 * DAY, allow_nan=False),  # event time offset
        st.sampled_from(["u1", "u2", "u3", "u4"]),
        st.lists(st.tuples(st.sampled_from(sorted(CAMPAIGNS)), st.integers(0, 40)), min_size=1, max_size=3),
    ),
    max_size=40,
)
policies = st.builds(ContactPolicy, st.none() | st.integers(0, 4), st.sampled_from([0.5, 1, 2.5, 7]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=calls, policy=policies)
def test_twin_never_exceeds_a_budget_or_cap(calls, policy):
    limits = MemoryLimits()
    taken: list[Candidate] = []
    seen: set[str] = set()
    for offset, customer, picks in sorted(calls, key=lambda call: call[0]):  # event time order
        at = T0 + offset
        candidates = [offer(f"{camp}-{customer}-{n}", camp, customer, at, **CAMPAIGNS[camp]) for camp, n in picks]
        r = asyncio.run(limits.reserve(candidates, policy))
        if r.chosen is not None:
            assert r.already == (r.chosen.assignment_id in seen)
            if not r.already:
                taken.append(r.chosen)
                seen.add(r.chosen.assignment_id)
        else:
            assert not seen & {c.assignment_id for c in candidates}
            assert set(r.blocked) == {c.campaign_id for c in candidates}

    by_campaign = Counter(c.campaign_id for c in taken)
    by_day = Counter((c.campaign_id, c.day) for c in taken)
    by_pair = Counter((c.campaign_id, c.customer_id) for c in taken)
    for camp, rules in CAMPAIGNS.items():
        if rules["total_budget"] is not None:
            assert by_campaign[camp] <= rules["total_budget"]
        assert asyncio.run(limits.usage(camp, "1970-01-01"))["total"] == by_campaign[camp]
    for (camp, day), n in by_day.items():
        assert CAMPAIGNS[camp]["daily_budget"] is None or n <= CAMPAIGNS[camp]["daily_budget"]
        assert asyncio.run(limits.usage(camp, day))["day"] == n
    for (camp, _), n in by_pair.items():
        assert CAMPAIGNS[camp]["customer_cap"] is None or n <= CAMPAIGNS[camp]["customer_cap"]

    times = defaultdict(list)
    for c in taken:
        times[(c.campaign_id, c.customer_id)].append(c.at)
    for (camp, _), ats in times.items():
        cooldown = CAMPAIGNS[camp]["cooldown_days"]
        if cooldown is not None:
            assert all(b - a >= cooldown * DAY for a, b in zip(ats, ats[1:]))
    if policy.max_offers is not None:
        window = policy.window_days * DAY
        for customer in {c.customer_id for c in taken}:
            ats = [c.at for c in taken if c.customer_id == customer]
            assert all(sum(1 for t in ats if end - window < t <= end) <= policy.max_offers for end in ats)
