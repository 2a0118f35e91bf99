"""The one output contract (`core.outputs`, `Result.outputs`) and the live sink that sends it."""

import json
from collections import namedtuple

import pytest

from core.outputs import Source
from core.processing import Result
from schemas import encode
from streams.counters import Counters
from streams.kafka.outputs import OutputSink
from streams.settings import Settings

Message = namedtuple("Message", "topic partition offset key value timestamp")


class Outbox:
    def __init__(self) -> None:
        self.records: list[tuple] = []

    def put(self, topic, key, value, headers=None, partition=None) -> None:
        self.records.append((topic, key, value, dict(headers or [])))


def sink():
    outbox, counters = Outbox(), Counters()
    return OutputSink(outbox, Settings(topic_prefix="t-"), counters), outbox, counters


def test_a_dead_letter_goes_through_the_outbox_with_its_reason_and_source():
    outputs, outbox, counters = sink()
    outputs.reject(Message("t-purchases", 2, 41, b"k" * 5000, b"{oops", 1_700_000_000.0), "not JSON")
    [(topic, key, value, headers)] = outbox.records
    letter = json.loads(value)
    assert topic == "t-dead-letters" and key == b"k" * 1024  # an oversized key is cut
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == ("t-purchases", 2, 41)
    assert letter["error"] == "not JSON" and headers["source-topic"] == b"t-purchases"
    assert headers["error-kind"] == b"invalid" and headers["event-type"] == b"dead-letter"
    assert counters.dead_lettered["t-purchases"] == 1 and counters.last_dead_letter["offset"] == 41


def test_a_failure_is_a_processing_dead_letter_and_needs_its_source():
    failed = Result(failure="KeyError: 'x'")
    with pytest.raises(ValueError):
        list(failed.outputs())
    [letter] = failed.outputs(Source("purchases", 0, 3, b"c", b"{}"))
    assert letter.record.error_kind == "processing" and dict(letter.headers())["error-kind"] == b"processing"


def test_a_results_outputs_are_keyed_as_consumers_expect_and_sent_on_prefixed_topics():
    from core import LoyaltyEngine, load_catalog
    from core.replay import Replay
    from sim.population import generate, topic_of

    emitted = []
    replay = Replay(LoyaltyEngine(load_catalog()), emit=lambda topic, key, value: emitted.append((topic, key, value)))
    _, events = generate(customers=40, days=120, seed=3)
    for event in events:
        replay.feed(topic_of(event), event.customer_id.encode(), encode(event))
    by_topic = {t: [v for topic, _, v in emitted if topic == t] for t in ("offer-assignments", "decisions", "badge-awards")}
    assert all(by_topic.values())
    result = Result(assignments=by_topic["offer-assignments"], traces=by_topic["decisions"],
                    badges=by_topic["badge-awards"])
    outputs = list(result.outputs())
    assert [o.topic for o in outputs] == [t for t in by_topic for _ in by_topic[t]]  # assignments, traces, badges
    assert all(o.key == (o.record.campaign_id if o.topic == "offer-assignments" else o.record.customer_id).encode()
               for o in outputs)
    sink_, outbox, counters = sink()
    sink_.send_all(outputs)
    assert [(t, k, v) for t, k, v, _ in outbox.records] == [("t-" + o.topic, o.key, encode(o.record)) for o in outputs]
    assert all(h["content-type"] == b"application/json" for *_, h in outbox.records)
    assert (counters.assignments_out, counters.badges_out) == (len(by_topic["offer-assignments"]),
                                                              len(by_topic["badge-awards"]))


def test_a_replay_nobody_reads_counts_what_it_would_have_sent():
    """Without `emit`, replay counts offers and dead letters from the results instead of building the records."""
    from core import LoyaltyEngine, load_catalog
    from core.replay import Replay
    from sim.population import generate, topic_of

    _, events = generate(customers=30, days=90, seed=9)
    records = [(topic_of(e), e.customer_id.encode(), encode(e)) for e in events]
    records[5:5] = [("purchases", b"c-x", b"{not json")] * 3
    sent = []
    read = Replay(LoyaltyEngine(load_catalog()), partitions=2, emit=lambda t, k, v: sent.append(t)).run(records)
    unread = Replay(LoyaltyEngine(load_catalog()), partitions=2).run(records)
    assert unread == read
    assert (unread.assignments, unread.dead_lettered) == (sent.count("offer-assignments"), sent.count("dead-letters"))
    assert unread.dead_lettered == 3 and unread.assignments > 0


def test_ids_are_the_rfc_4122_version_5_uuids_of_their_names():
    import random
    import uuid

    from core.ids import uuid5_text

    rng = random.Random(4)
    namespace = uuid.UUID("7f1d8e2a-4b3c-4d5e-8f60-646563697369")
    names = ["", "é|∑|💳", *("".join(rng.choice("abc|.-0123456789") for _ in range(rng.randrange(1, 300)))
                              for _ in range(500))]
    for name in names:
        assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))
