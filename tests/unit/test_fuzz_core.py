"""Whatever the bytes, decoding and the event-time gate either give a canonical event or one
InvalidEvent, and the core processes every event they let through without raising."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from core import LoyaltyEngine, load_catalog
from schemas import EngagementEvent, InvalidEvent, PurchaseEvent, decode
from tests import fuzz

MODELS = {"purchases": PurchaseEvent, "engagements": EngagementEvent}
ENGINE = LoyaltyEngine(load_catalog())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def decode_and_process(topic: str, value: bytes) -> bool:
    """True if processed, False if it would be dead-lettered. Anything else propagates."""
    try:
        event = decode(MODELS[topic], value)
        ENGINE.check_event_time(event)  # as every driver does before the step (`core.admission`)
    except InvalidEvent as error:
        assert error.reason
        return False
    step = ENGINE.on_purchase if topic == "purchases" else ENGINE.on_engagement
    step(None, event)
    return True


@given(st.sampled_from(sorted(MODELS)), st.binary(max_size=500))
def test_arbitrary_bytes(topic, value):
    decode_and_process(topic, value)


@given(st.randoms(use_true_random=False))
@settings(max_examples=300)
def test_mutated_payloads(rng):
    topic, _, value = next(fuzz.payloads(rng.randrange(2**32), 1))
    decode_and_process(topic, value)


@given(st.sampled_from(sorted(MODELS)), st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_valid_payloads_with_arbitrary_fields_merged_in(topic, extra):
    import json

    rng = random.Random(1)
    body = fuzz.valid_purchase(rng, "c-1") if topic == "purchases" else fuzz.valid_engagement(rng, "c-1")
    body.update(extra)
    decode_and_process(topic, json.dumps(body, allow_nan=True).encode())


def test_the_generator_mixes_valid_and_invalid_payloads():
    outcomes = [decode_and_process(topic, value) for topic, _, value in fuzz.payloads(seed=3, count=2000)]
    assert 0.05 < sum(outcomes) / len(outcomes) < 0.6
