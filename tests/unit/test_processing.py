import asyncio

from core import EngineConfig, LoyaltyEngine, load_catalog, population
from core.limits import ContactPolicy, MemoryLimits
from core.partitioning import partition_of
from core.processing import Processor


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
    assert chunked == whole and chunked_states == whole_states


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
