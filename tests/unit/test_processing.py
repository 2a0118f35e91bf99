import asyncio

import pytest

from core import Catalog, EngineConfig, LoyaltyEngine, load_catalog
from sim import population
from core.limits import ContactPolicy, MemoryLimits
from core.partitioning import partition_of
from core.processing import Processor
from tests.unit.factories import drive_in_batches


def _drive(records, limit):
    """Process every record, then sweep its partition `limit` customers at a time until done."""
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    states = {}
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), MemoryLimits(),
                          ContactPolicy(max_offers=3, window_days=7), partitions=2)
    outputs, calls = [], 0

    async def run():
        nonlocal calls
        for topic, key, value in records:
            result = await processor.process(topic, key, value)
            outputs.extend(a.model_dump_json() for a in result.assignments)
            while True:
                result = await processor.sweep(partition_of(key, 2), limit=limit)
                calls += 1
                outputs.extend(a.model_dump_json() for a in result.assignments)
                outputs.extend(t.model_dump_json() for t in result.traces)
                outputs.extend(f"{c}:{sorted(v.items())}" for c, v in result.scores)
                if not result.more:
                    break

    asyncio.run(run())
    return outputs, states, calls


def test_a_sweep_in_chunks_does_exactly_what_one_sweep_does():
    _, events = population.generate(customers=80, days=60, seed=4)
    records = [(population.topic_of(e), e.customer_id.encode(), e.model_dump_json().encode()) for e in events]
    whole, whole_states, whole_calls = _drive(records, None)
    chunked, chunked_states, chunked_calls = _drive(records, 1)
    assert chunked_calls > whole_calls  # the limit did split sweeps
    # A result lists its offers, then its traces, then its scores: one sweep of two customers and two
    # sweeps of one each list the same outputs in another order.
    assert sorted(chunked) == sorted(whole) and chunked_states == whole_states


def test_a_record_the_state_holds_already_is_skipped_and_changes_nothing():
    _, events = population.generate(customers=3, days=20, seed=2)
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    states, limits = {}, MemoryLimits()
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), limits)
    purchase = next(e for e in events if population.topic_of(e) == "purchases")
    key, value = purchase.customer_id.encode(), purchase.model_dump_json().encode()

    async def run():
        first = await processor.process("purchases", key, value, offset=7)
        held = states[purchase.customer_id]
        again = await processor.process("purchases", key, value, offset=7)  # after a crash: again
        return first, held, again

    first, held, again = asyncio.run(run())
    assert not first.redelivered and held.purchase_count == 1 and held.applied == {"purchases": 7}
    assert again.redelivered and not again.assignments and not again.scores
    assert states[purchase.customer_id] is held


def test_a_record_the_state_holds_already_is_not_judged_again_by_the_time_gate():
    """After a crash the gate starts over: a record processed before must not become a dead letter now."""
    _, events = population.generate(customers=3, days=20, seed=2)
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig(time_gate_after=0, max_lag_days=1))
    states = {}
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), MemoryLimits())
    purchase = next(e for e in events if population.topic_of(e) == "purchases")
    key, value = purchase.customer_id.encode(), purchase.model_dump_json().encode()

    async def run():
        first = await processor.process("purchases", key, value, offset=3)
        engine.watermark = purchase.ts + 30 * 86400  # the gate would refuse it now: 30 days behind
        again = await processor.process("purchases", key, value, offset=3)
        other = await processor.process("purchases", key, value, offset=4)
        return first, again, other

    first, again, other = asyncio.run(run())
    assert first.invalid is None and not first.redelivered
    assert again.redelivered and again.invalid is None
    assert other.invalid is not None and "behind" in other.invalid  # a record it does not hold is judged


class _CountedLimits(MemoryLimits):
    """The in-memory limits, counting how many reservations each call carried."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    async def reserve(self, *args, **kwargs):
        self.calls.append(1)
        return await super().reserve(*args, **kwargs)

    async def reserve_many(self, requests):
        self.calls.append(len(requests))
        return [await MemoryLimits.reserve(self, *request) for request in requests]


def _drive_batches(records, hold, batch, catalog):
    """As the live agent does: per record, process then sweep its partition; every `batch` records,
    settle the held decisions and only then take the results, in order, and their states."""
    engine = LoyaltyEngine(catalog, config=EngineConfig())
    states, limits = {}, _CountedLimits()
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), limits,
                          ContactPolicy(max_offers=3, window_days=7), partitions=2, hold=hold)
    outputs = []
    for result in drive_in_batches(processor, records, batch):
        outputs.extend(a.model_dump_json() for a in result.assignments)
        outputs.extend(t.model_dump_json() for t in result.traces)
        outputs.extend(f"{c}:{sorted(v.items())}" for c, v in result.scores)
    return outputs, states, limits.calls


@pytest.mark.parametrize("expires_after_days", [None, 0.05])
def test_decisions_held_for_one_call_to_the_limits_give_what_one_by_one_gives(expires_after_days):
    """With offers that expire within a batch too: their labels fall due before the batch settles."""
    catalog = load_catalog(None)
    if expires_after_days is not None:
        catalog = Catalog(offers=catalog.offers, campaigns=[
            c.model_copy(update={"expires_after_days": expires_after_days}) for c in catalog.campaigns])
    _, events = population.generate(customers=60, days=90, seed=11)
    records = [(population.topic_of(e), e.customer_id.encode(), e.model_dump_json().encode()) for e in events]
    alone, alone_states, alone_calls = _drive_batches(records, 0, 1, catalog)
    held, held_states, held_calls = _drive_batches(records, 16, 200, catalog)
    assert set(alone_calls) == {1} and max(held_calls) > 1  # decisions were held and reserved together
    assert sum(held_calls) == len(alone_calls) > 50
    assert any('"assignment_id"' in o for o in alone)
    assert held == alone and held_states == alone_states


def _churn_labels(records, partitions=2):
    """The churn labels learned, as (predicted at, label), when `records` are processed in this order."""
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    states, learned = {}, []
    learn = engine.models.learn
    engine.models.learn = lambda examples: (learned.extend(examples), learn(examples))
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), MemoryLimits(),
                          partitions=partitions)

    async def run():
        for event in records:
            key = event.customer_id.encode()
            await processor.process("purchases", key, event.model_dump_json().encode())
            await processor.sweep(partition_of(key, partitions))

    asyncio.run(run())
    return engine, sorted((e.predicted_at, e.label) for e in learned if e.task == "churn")


def test_a_partition_read_behind_the_others_resolves_its_labels_by_its_own_event_time():
    from tests.unit.factories import purchase

    fast, slow = "cust-1", next(f"cust-{i}" for i in range(2, 50) if partition_of(f"cust-{i}".encode(), 2)
                                != partition_of(b"cust-1", 2))
    a = [purchase(fast, day=d, n=i) for i, d in enumerate((0, 40, 100))]
    b = [purchase(slow, day=d, n=i) for i, d in enumerate((0, 10, 41, 100))]
    in_time = sorted(a + b, key=lambda e: e.ts)
    engine, expected = _churn_labels(in_time)
    # The worker took the fast partition's backlog first: the slow customer's purchases at days
    # 10 and 41 were still unread when the watermark stood at day 100.
    _, skewed = _churn_labels(a + b)
    assert {label for _, label in expected} == {0.0, 1.0} and skewed == expected
    assert engine.watermark == b[-1].ts and len(engine.marks) == 2


def _crashable(partitions: int):
    """An engine and a processor over a dict of states (which a test can roll back, as a crash does)."""
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    states, limits = {}, MemoryLimits()
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), limits,
                          ContactPolicy(max_offers=3, window_days=7), partitions=partitions)
    return engine, states, limits, processor


def test_a_sweep_decided_again_after_a_crash_gets_the_offer_it_reserved_at_another_watermark():
    """The state write was lost, so the review comes again, later: the limits recall its offer, and count nothing twice."""
    _, events = population.generate(customers=80, days=120, seed=4)
    engine, states, limits, processor = _crashable(partitions=2)

    async def first_sweep_offer():
        for event in events:
            key = event.customer_id.encode()
            await processor.process(population.topic_of(event), key, event.model_dump_json().encode())
            partition = partition_of(key, 2)
            before, mark = dict(states), engine.marks.get(partition)
            result = await processor.sweep(partition)
            if result.assignments:
                return partition, before, mark, result.assignments[0]
        raise AssertionError("no sweep made an offer")

    async def again(partition, before, mark, offer):
        states.clear()
        states.update(before)  # the crash: the swept state was never written
        processor.rebuild_due((c, s.due_at()) for c, s in states.items() if s.due_at() is not None)
        engine.marks[partition] = mark + 15 * 86400.0  # redone later, in the next 14-day decision window
        return await processor.sweep(partition)

    partition, before, mark, offer = asyncio.run(first_sweep_offer())
    counted, reserved = sum(limits.total.values()), set(limits.reserved)
    redone = asyncio.run(again(partition, before, mark, offer))
    mine = [a for a in redone.assignments if a.customer_id == offer.customer_id]
    assert [(a.assignment_id, a.decision_window) for a in mine] == [(offer.assignment_id, offer.decision_window)]
    # the other customers of the partition came due in the meantime: only their new offers count
    new = {a.assignment_id for a in redone.assignments} - reserved
    assert sum(limits.total.values()) - counted == len(new) and offer.assignment_id not in new


def test_an_event_decided_again_with_every_campaign_filtered_out_still_gets_the_offer_it_reserved(monkeypatch):
    """After a crash the models come back from an older snapshot; if their answers now fail every
    campaign's audience, the decision has no option left, and the limits still recall its offer."""
    from schemas.campaigns import Audience

    _, events = population.generate(customers=60, days=90, seed=4)
    _, states, limits, processor = _crashable(partitions=1)

    async def first_offer():
        for event in events:
            before = dict(states)
            result = await processor.process(population.topic_of(event), event.customer_id.encode(),
                                             event.model_dump_json().encode())
            if result.assignments:
                return event, before, result.assignments[0]
        raise AssertionError("no event made an offer")

    event, before, offer = asyncio.run(first_offer())
    counted = sum(limits.total.values())
    states.clear()
    states.update(before)  # the crash: the state write was lost, the event comes again
    monkeypatch.setattr(Audience, "refusal", lambda self, profile: "the restored models say otherwise")
    redone = asyncio.run(processor.process(population.topic_of(event), event.customer_id.encode(),
                                           event.model_dump_json().encode()))
    assert [(a.assignment_id, a.campaign_id) for a in redone.assignments] == [(offer.assignment_id, offer.campaign_id)]
    assert sum(limits.total.values()) == counted  # nothing counted twice


def _reviews(records, order):
    """Drive purchases through two partitions as `order` says; every review made, every final state.

    `level`: after each record every partition catches up with the latest event time (replay, or a
    worker whose partitions are read to their end). `backlog`: one partition read to its end, then the
    other, each sweeping at its own watermark; both catch up at the end. The models learn nothing
    (a scorer's, between versions): what they learned would depend on the order of the partitions.
    """
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    engine.models.frozen = True
    states = {}
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), MemoryLimits(),
                          ContactPolicy(max_offers=3, window_days=7), partitions=2)
    traces = []
    if order == "backlog":
        records = sorted(records, key=lambda r: partition_of(r[1], 2))  # stable: each partition in time order

    async def run():
        for topic, key, value in records:
            result = await processor.process(topic, key, value)
            traces.extend(result.traces)
            own = partition_of(key, 2)
            for p in range(2):
                if order == "level" or p == own:
                    traces.extend((await processor.sweep(p, caught_up=order == "level" and p != own)).traces)
        for p in range(2):
            traces.extend((await processor.sweep(p, caught_up=True)).traces)

    asyncio.run(run())
    return sorted(t.model_dump_json() for t in traces), states


def test_reviews_come_out_alike_however_the_partitions_are_read():
    _, events = population.generate(customers=60, days=120, seed=6)
    records = [("purchases", e.customer_id.encode(), e.model_dump_json().encode())
               for e in events if population.topic_of(e) == "purchases"]
    level, level_states = _reviews(records, "level")
    backlog, backlog_states = _reviews(records, "backlog")
    assert sum('"trigger":"sweep"' in t for t in level) > 10  # reviews made decisions
    assert backlog == level
    assert backlog_states == level_states


class _AwayLimits(MemoryLimits):
    """Limits that cannot be reached: every reservation fails, as with Redis down."""

    async def reserve(self, *args, **kwargs):
        raise ConnectionError("limits away")

    async def reserve_many(self, requests):
        raise ConnectionError("limits away")


@pytest.mark.parametrize("hold", [0, 64])
def test_decisions_failed_closed_are_counted_each_and_logged_one_in_a_hundred(hold, caplog):
    """An outage fails every decision closed: each is counted, but the log gets the first and every
    hundredth with the count so far, not a line for each."""
    _, events = population.generate(customers=300, days=60, seed=4)
    records = [(population.topic_of(e), e.customer_id.encode(), e.model_dump_json().encode()) for e in events]
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    states = {}
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), _AwayLimits(),
                          ContactPolicy(max_offers=3, window_days=7), partitions=2, hold=hold)
    caplog.set_level("WARNING", logger="loyalty.processing")
    failed = sum(r.limits_errors for r in drive_in_batches(processor, records, 50))
    assert failed == processor.failed_closed > 200
    lines = [r.getMessage() for r in caplog.records if "limits unavailable" in r.getMessage()]
    assert len(lines) == 1 + failed // 100
    assert "(failed closed: 1 so far)" in lines[0] and "(failed closed: 100 so far)" in lines[1]
