import asyncio
import json

import pytest

from core import EngineConfig, LoyaltyEngine, load_catalog, statecodec
from sim import population
from core.features import FEATURE_NAMES, customer_features
from core.limits import ContactPolicy, MemoryLimits
from core.processing import Processor
from core.replay import Replay
from core.state import CustomerState, PendingLabel


@pytest.fixture(scope="module")
def replayed_states() -> list[CustomerState]:
    """Real states, with pending predictions, offers and decisions, from a replayed simulation."""
    _, events = population.generate(customers=150, days=90, seed=3)
    run = Replay(LoyaltyEngine(load_catalog(None), config=EngineConfig()), partitions=2,
                 policy=ContactPolicy(max_offers=3, window_days=7))
    run.run((population.topic_of(e), e.customer_id.encode(), e.model_dump_json().encode()) for e in events)
    return list(run.states.values())


def test_every_replayed_state_decodes_to_exactly_what_was_encoded(replayed_states):
    assert any(s.pending_offers for s in replayed_states) and any(s.recent_decisions for s in replayed_states)
    for state in replayed_states:
        assert statecodec.decode(statecodec.encode(state)) == state


def test_the_encoding_is_well_under_the_plain_dict_and_2_5_kib(replayed_states):
    compact = [len(statecodec.encode(s)) for s in replayed_states]
    plain = [len(json.dumps(s.to_dict(), separators=(",", ":"))) for s in replayed_states]
    assert sum(compact) < 0.5 * sum(plain)
    # 2.5 KiB: reviews add predictions while earlier ones wait (up to three per task and window), the
    # price of learning what silence means; it was 2 KiB with one prediction per task.
    assert sum(compact) / len(compact) < 2560


def test_shared_features_are_written_once():
    features = customer_features(CustomerState("c").with_purchase(0.0, 10.0), 0.0)
    state = CustomerState("c")
    for task in ("churn", "propensity", "engagement"):
        state = state.with_pending(task, PendingLabel(at=0.0, features=features, deadline=9.0))
    raw = json.loads(statecodec.encode(state))
    assert len(raw["f"]) == 1 and len(raw["f"][0]) == len(FEATURE_NAMES)


def test_features_of_an_unknown_shape_are_kept_as_they_are():
    odd = CustomerState("c").with_pending("churn", PendingLabel(at=1.0, features={"x": 1.5}))
    assert statecodec.decode(statecodec.encode(odd)) == odd


def test_a_state_written_as_a_plain_dict_still_decodes():
    state = CustomerState("c").with_purchase(0.0, 12.5).with_badge("first-purchase")
    assert statecodec.decode(json.dumps(state.to_dict()).encode()) == state


def test_feature_names_are_what_customer_features_returns_in_order():
    assert tuple(customer_features(CustomerState("c"), 0.0)) == FEATURE_NAMES


def test_due_at_from_the_bytes_is_the_decoded_states(replayed_states):
    for state in replayed_states:
        assert statecodec.due_at(statecodec.encode(state)) == state.due_at()
    assert statecodec.due_at(json.dumps(replayed_states[0].to_dict())) == replayed_states[0].due_at()


def test_index_entry_gives_the_states_own_id_its_deadline_and_the_latest_event_it_records(replayed_states):
    for state in replayed_states:
        seen = [t for t in (state.last_purchase_at, state.last_engagement_at, state.last_payment_issue_at) if t]
        expected = (state.customer_id, state.due_at(), max(seen) if seen else None)
        assert statecodec.index_entry(statecodec.encode(state)) == expected
        assert statecodec.index_entry(json.dumps(state.to_dict())) == expected
    assert any(s.last_engagement_at and s.last_engagement_at > (s.last_purchase_at or 0) for s in replayed_states)


def _run(records, through_bytes: bool) -> tuple[list[str], dict]:
    """Drive the processor; with `through_bytes`, every state is stored as its encoding, as the worker does."""
    stored: dict = {}
    if through_bytes:
        load = lambda c: statecodec.decode(stored[c]) if c in stored else None  # noqa: E731
        save = lambda s: stored.__setitem__(s.customer_id, statecodec.encode(s))  # noqa: E731
    else:
        load, save = stored.get, lambda s: stored.__setitem__(s.customer_id, s)  # noqa: E731
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    processor = Processor(engine, load, save, MemoryLimits(), ContactPolicy(max_offers=3, window_days=7))
    outputs = []

    async def go():
        for topic, key, value in records:
            for result in (await processor.process(topic, key, value), await processor.sweep(0)):
                assert result.failure is None, result.failure
                outputs.extend(a.model_dump_json() for a in result.assignments)
                outputs.extend(t.model_dump_json() for t in result.traces)

    asyncio.run(go())
    states = {c: statecodec.decode(v) if through_bytes else v for c, v in stored.items()}
    return outputs, states


def test_storing_every_state_as_bytes_between_events_changes_nothing():
    _, events = population.generate(customers=60, days=90, seed=8)
    records = [(population.topic_of(e), e.customer_id.encode(), e.model_dump_json().encode()) for e in events]
    assert _run(records, through_bytes=True) == _run(records, through_bytes=False)
