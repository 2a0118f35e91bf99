"""The published contracts: JSON Schema files, headers, dead letters."""

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import CONTRACTS, DeadLetter, encode
from schemas.deadletter import MAX_KEPT_BYTES
from schemas.headers import headers_for
from schemas.jsonschema import export, render, stale
from tests import schema_consumer
from tests.unit.factories import purchase


def test_committed_schema_files_are_current():
    assert stale(schema_consumer.SCHEMA_DIR) == [], "run: loyalty schemas export docs/schemas"


def test_stale_and_missing_files_are_reported(tmp_path):
    export(tmp_path)
    assert stale(tmp_path) == []
    (tmp_path / "purchases.schema.json").write_text("{}")
    (tmp_path / "payments.schema.json").unlink()
    assert stale(tmp_path) == ["purchases.schema.json", "payments.schema.json"]


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.name)
def test_every_contract_has_a_valid_schema_naming_its_topic_and_key(contract):
    schema = json.loads(render(contract))
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["x-kafka-key"] == contract.key
    assert ("x-kafka-topic" in schema) == contract.kafka
    assert "schema_version" in schema["properties"]


def test_the_schema_files_accept_what_the_models_write_and_refuse_broken_records():
    event = purchase("c-1", total=12.5)
    assert schema_consumer.validate("purchases", encode(event))["customer_id"] == "c-1"
    broken = json.loads(encode(event))
    broken["total"] = -1
    with pytest.raises(AssertionError, match="total"):
        schema_consumer.validate("purchases", json.dumps(broken).encode())
    del broken["customer_id"]
    with pytest.raises(AssertionError, match="customer_id"):
        schema_consumer.validate("purchases", json.dumps(broken).encode())


def test_headers_name_type_version_and_content_type():
    headers = dict(headers_for("dead-letters", **{"source-topic": "purchases"}))
    assert headers == {
        "event-type": b"dead-letter",
        "schema-version": b"1",
        "content-type": b"application/json",
        "source-topic": b"purchases",
    }


def test_dead_letter_keeps_bytes_and_cuts_oversized_ones():
    huge = b"x" * (MAX_KEPT_BYTES + 10)
    letter = DeadLetter.build(topic="t", partition=0, offset=1, key=None, value=huge, error="too big")
    assert letter.value_truncated and letter.value_size == MAX_KEPT_BYTES + 10
    assert len(base64.b64decode(letter.value_base64)) == MAX_KEPT_BYTES
    assert len(encode(letter)) < 1_000_000  # fits a default Kafka record
    schema_consumer.validate("dead-letters", encode(letter))


@given(st.binary(max_size=2000), st.one_of(st.none(), st.binary(max_size=64)))
def test_any_bytes_make_a_valid_dead_letter(value, key):
    letter = DeadLetter.build(topic="purchases", partition=3, offset=9, key=key, value=value, error="x")
    assert base64.b64decode(letter.value_base64) == value
    assert letter.key_base64 is None if key is None else base64.b64decode(letter.key_base64) == key
    schema_consumer.validate("dead-letters", encode(letter))


def test_what_replay_emits_matches_the_schema_files():
    from core import LoyaltyEngine, load_catalog
    from core.replay import Replay

    outputs = []
    replay = Replay(LoyaltyEngine(load_catalog()), emit=lambda topic, key, value: outputs.append((topic, value)))
    replay.feed("purchases", b"c-9", encode(purchase("c-9")))
    replay.feed("purchases", b"c-9", b"not json")
    assert {topic for topic, _ in outputs} == {"offer-assignments", "decisions", "badge-awards", "dead-letters", "labels"}
    for topic, value in outputs:
        document = schema_consumer.validate(topic, encode(value))
        assert type(value).model_validate(document) == value
