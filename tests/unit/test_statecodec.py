import asyncio
import json

import pytest

from core import EngineConfig, LoyaltyEngine, load_catalog, statecodec
from sim import population
from core.features import FEATURE_NAMES, customer_features, offer_features
from core.ids import example_id
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
    assert any(k.startswith("@") for s in replayed_states for k in s.trials)  # decision windows (`core.trials`)
    for state in replayed_states:
        decoded = statecodec.decode(statecodec.encode(state))
        assert decoded == state and repr(decoded.trials) == repr(state.trials)


def test_the_encoding_is_well_under_the_plain_dict_and_the_benchmarks_2_kib(replayed_states):
    compact = [len(statecodec.encode(s)) for s in replayed_states]
    plain = [len(json.dumps(s.to_dict(), separators=(",", ":"))) for s in replayed_states]
    assert sum(compact) < 0.5 * sum(plain)
    # These states averaged 2,039 bytes in version 2, 1,879 in version 3, 1,917 with every offer's window
    # for policy value; the benchmark's target is 2,048 per customer (its live worker's states ran about
    # 240 bytes above these in version 2: more decisions).
    assert sum(compact) / len(compact) < 1950


# What version 2 wrote for `_small_state()` (ids in full, whole floats with ".0", `applied` keyed by topic).
V2 = (b'{"v":2,"c":"c-1","s":[1,20.0,20.0,1700000000.0,1700000000.0,0.0,0.0,1.0,20.0,1,0,null,0.0,null,0,null,1,'
      b'20.0,1700604800.0,0,0.0],"cat":{"grocery":20.0},"pos":{"purchases":41,"payments":7},"p":{"churn":'
      b'[1700000000.0,0,0.25,1702592000.0,null,0.0,null]},"o":{"9f1c2e4a-0b7d-5c3e-8a6f-1d2b3c4e5f60":'
      b'[1700000000.0,0,0.4,1701209600.0,null,0.0,"grow-regulars","discount","growth",{"grocery":1.0}]},"f":'
      b'[[0.0,0.0,0.693147,3.044522,0.0,0.0,0.0,0.0,0.0,1.0,3.044522,0.0,365.0,0.0,0.0,0.5,1.0,0.0,0.0]],"d":'
      b'[["0a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d","purchase",1700000000.0,"grow-regulars",'
      b'"9f1c2e4a-0b7d-5c3e-8a6f-1d2b3c4e5f60",[]]]}')
ASSIGNMENT = "9f1c2e4a-0b7d-5c3e-8a6f-1d2b3c4e5f60"


def _small_state(assignment: str = ASSIGNMENT) -> CustomerState:
    state = CustomerState("c-1").with_purchase(1_700_000_000.0, 20.0, {"grocery": 20.0})
    features = customer_features(state, 1_700_000_000.0)
    offer = offer_features(features, "discount", "growth", {"grocery": 1.0})
    state = state.with_pending("churn", PendingLabel(at=1_700_000_000.0, features=features, prediction=0.25,
                                                     deadline=1_702_592_000.0))
    state = state.with_pending_offer(assignment, PendingLabel(at=1_700_000_000.0, features=offer, prediction=0.4,
                                                              deadline=1_701_209_600.0, ref="grow-regulars"))
    state = state.with_decision({"decision_id": "0a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d", "trigger": "purchase",
                                 "decided_at": "2023-11-14T22:13:20+00:00", "chosen_campaign_id": "grow-regulars",
                                 "assignment_id": assignment, "held_out": []})
    return state.evolve(applied={"purchases": 41, "payments": 7})


def _exact(state: CustomerState) -> str:
    """Every value with its type (repr), so 1700000000 and 1700000000.0 differ; `applied` in a fixed order."""
    values = dict(state.__dict__)
    values["applied"] = sorted(values["applied"].items())
    return repr(values)


def test_a_state_that_version_2_wrote_decodes_and_is_written_shorter():
    state = statecodec.decode(V2)
    assert _exact(state) == _exact(_small_state().evolve(last_basket=0.0))  # version 2 did not keep it
    again = statecodec.encode(_small_state())
    assert json.loads(again)["v"] == 4 and len(again) < len(V2) - 60
    assert _exact(statecodec.decode(again)) == _exact(_small_state())


# Version 3 wrote trial windows without the redeemed basket (ten places, a decision window's campaign at the
# tenth) and a redemption as 1; no `last_basket`.
V3 = (b'{"v":3,"c":"c-7","s":[1,20,20,1700000000,1700000000,0,0,1,20,1,0,null,0,null,0,null,1,20,1700604800,0,0],'
      b'"tri":{"spring":[1,1700000000,1700604800,1,20,1,0.5,["coffee","spring"],"coffee",40],'
      b'"@~ChssPU5fWmuMfZ4PGis8TQ":[1,1700100000,1700704800,0,0,0,0.25,["coffee","spring"],"coffee",40.5,"spring"]},'
      b'"td":["autumn"]}')


def test_a_state_that_version_3_wrote_decodes_with_its_windows_in_todays_layout():
    from core import trials

    state = statecodec.decode(V3)
    spring, decision = state.trials["spring"], state.trials["@0a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d"]
    assert repr(spring) == repr([1, 1.7e9, 1700604800.0, 1, 20.0, 1.0, 0.5, ["coffee", "spring"], "coffee", 40.0, 0.0])
    assert repr(decision) == repr([1, 1700100000.0, 1700704800.0, 0, 0.0, 0.0, 0.25, ["coffee", "spring"], "coffee",
                                   40.5, 0.0, "spring"])
    assert decision[trials.CAMPAIGN] == "spring" and state.last_basket == 0.0 and state.tried == ["autumn"]
    features = trials.example_features(spring)
    assert (features["redeemed"], features["basket"], features["spend"]) == (1.0, 0.0, 20.0)
    assert _exact(statecodec.decode(statecodec.encode(state))) == _exact(state)


def test_minted_ids_are_written_in_23_characters_and_other_strings_as_they_are():
    raw = json.loads(statecodec.encode(_small_state()))
    decision_id, assignment_id = raw["d"][0][0], raw["d"][0][4]
    assert len(decision_id) == len(assignment_id) == 23 and decision_id.startswith("~")
    assert list(raw["o"]) == [assignment_id] and raw["pos"] == [41, None, 7]
    for odd in ("~not-a-uuid", "~~", "9F1C2E4A-0B7D-5C3E-8A6F-1D2B3C4E5F60", "plain-id"):
        state = _small_state(assignment=odd)
        written = json.loads(statecodec.encode(state))
        assert _exact(statecodec.decode(json.dumps(written))) == _exact(state)
        assert list(state.pending_offers) == [odd]


def test_whole_floats_are_written_without_their_point_and_come_back_as_floats_with_the_same_label_ids():
    features = dict(customer_features(CustomerState("c").with_purchase(0.0, 10.0), 0.0))
    features.update(days_since_purchase=-0.0, tenure_days=3.0)
    label = PendingLabel(at=86_400.0, features=features, prediction=1.0, deadline=172_800.0, extra=2.0)
    state = CustomerState("c").with_purchase(86_400.0, 10.0).with_pending("churn", label)
    data = statecodec.encode(state)
    assert b"86400," in data and b"86400.0" not in data
    back = statecodec.decode(data)
    assert _exact(back) == _exact(state)
    made = back.pending["churn"]
    assert example_id("c", "churn", made.at, made.deadline, made.features) == \
        example_id("c", "churn", label.at, label.deadline, label.features)


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
