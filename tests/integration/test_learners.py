"""Scorers follow the learners: two workers score with the versions one `loyalty learner` publishes."""

from __future__ import annotations

import json
import time

import pytest

from core import LoyaltyEngine, load_catalog
from core.learner import Cadence, Learner
from core.replay import Replay
from schemas import OfferAssignment, encode
from sim.population import generate, topic_of
from streams.kafka.learning import LabelsLearner
from streams.kafka.publisher import EventPublisher
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.integration

LEARNERS = {"LOYALTY_MODELS_FROM": "learners"}


def _publish(settings, events) -> None:
    publisher = EventPublisher(settings)
    for event in events:
        publisher.publish(event)
    assert publisher.flush() == 0 and not publisher.failed


def _handled(workers, n: int) -> None:
    def total(_):
        return sum(sum(w.health()["counters"]["events_in"].values()) for w in workers) == n
    workers[0].wait_for(total, timeout=120, what=f"{n} events across the workers")


def _labels_settled(workers, timeout: float = 60.0) -> int:
    """The labels the workers have sent, once no sweep tick sends more: after the last record, a tick can
    still catch a partition's watermark up and resolve labels (counting too early raced with that)."""
    deadline, sent = time.monotonic() + timeout, -1
    while True:
        time.sleep(2.5)  # longer than a tick (LOYALTY_SWEEP_INTERVAL_SECONDS, 2 s)
        now = sum(w.health()["counters"]["labels_out"] for w in workers)
        if now == sent:
            return now
        assert time.monotonic() < deadline, f"labels still coming after {timeout} s: {now}"
        sent = now


def _labels_delivered(settings, expect: int, timeout: float = 60.0) -> None:
    """Until the labels topic holds `expect` records: a worker counts a label when it goes into its outbox,
    a moment before the broker has it, and a learner reads up to the end it finds when it starts."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**settings.kafka_client_config(), "group.id": "labels-count", "enable.auto.commit": False})
    name = settings.topic("labels")
    try:
        deadline = time.monotonic() + timeout
        while True:
            partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
            held = sum(consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions)
            if held >= expect or time.monotonic() > deadline:
                assert held == expect, f"{held} labels on the topic, {expect} sent"
                return
            time.sleep(0.2)
    finally:
        consumer.close()


def _on_version(workers, version: int) -> list[dict]:
    for worker in workers:
        worker.wait_for(lambda h: h["model_source"]["version"] == version, timeout=60,
                        what=f"model version {version}")
    return [worker.get("/api/loyalty/v1/models/") for worker in workers]


def test_two_workers_score_with_the_learners_version_and_stamp_it_on_their_offers(settings, start_worker):
    a, b = start_worker(env=LEARNERS), start_worker(env=LEARNERS)
    events = list(generate(customers=60, days=150, seed=8)[1])
    half = len(events) // 2
    _publish(settings, events[:half])
    _handled([a, b], half)
    assert a.health()["model_source"]["version"] is None  # no learner yet: fresh models, nothing learned

    key = settings.snapshot_keys()[0]
    suite = LoyaltyEngine(load_catalog(), config=settings.engine_config()).models
    learner = LabelsLearner(settings, Learner(suite), Cadence(every_examples=10 ** 6, every_seconds=3600), key)
    labels_out = _labels_settled((a, b))
    _labels_delivered(settings, labels_out)
    assert learner.run(until_end=True, timeout=60) == labels_out > 100
    first = learner.published[-1]
    reports = _on_version([a, b], first.version)
    # Both workers score with the same models: the learner's, with its quality, whatever partitions each has.
    models = [{name: r for name, r in report["models"].items() if name not in ("rfm", "recommendation")}
              for report in reports]
    for m in models:
        for r in m.values():
            r.pop("pending_labels", None)
    assert models[0] == models[1]
    assert reports[0]["models"]["churn"]["samples"] == learner.learner.learned["churn"] > 0
    assert reports[0]["models"]["churn"]["version"].endswith(f"@all.v{first.version}")
    # What the offers did, too: every worker answers each campaign's performance with the learner's figures
    # (issue 19), whichever of the campaign's customers it holds; only `as_of`, its own watermark, is its own.
    fold = learner.learner.suite.performance
    assert fold.campaigns() and sum(fold.uplift(c)["treated"]["customers"] for c in fold.campaigns()) > 0
    for cid in fold.campaigns():
        answers = [w.get(f"/api/loyalty/v1/campaigns/{cid}/performance/") for w in (a, b)]
        for answer in answers:
            assert answer.pop("as_of") and answer.pop("model_version").endswith(f"@all.v{first.version}")
        assert answers[0] == answers[1] == json.loads(json.dumps(fold.uplift(cid)))

    _publish(settings, events[half:])
    _handled([a, b], len(events))
    # The workers learned nothing from the second half: their models are still the version's.
    later = [w.get("/api/loyalty/v1/models/")["models"]["churn"]["samples"] for w in (a, b)]
    assert later == [learner.learner.learned["churn"]] * 2
    later_labels = sum(w.health()["counters"]["labels_out"] for w in (a, b))
    assert later_labels > labels_out  # ...and sent what they would have learned

    stamp = f"@all.v{first.version}"
    offers = [OfferAssignment.model_validate_json(r.value())
              for r in read_topic(settings, "offer-assignments", expect=1, idle=3.0)]
    second = [o for o in offers if o.issued_at.timestamp() > events[half - 1].ts]
    assert second, "no offer in the second half"
    assert all(v.endswith(stamp) for o in second for v in o.model_versions.values()), second[0].model_versions


def test_two_live_workers_report_the_campaigns_performance_that_replay_of_the_same_records_gives(
        settings, start_worker):
    """Issue 19: live, two workers; replayed, the same records. Purchases only, so each partition's records
    come in one order however the workers interleave topics; no version before the end, so both runs score
    with fresh models and every trial opens and closes alike.

    The win-back campaign decides on reviews of silent customers. A live worker reads its partitions
    unevenly in a backlog and replay keeps them level; the reviews come out alike only because each is made
    at its own time, and before its customer's next record (before that, 41 customers treated live, 44
    replayed).
    """
    a, b = start_worker(env=LEARNERS), start_worker(env=LEARNERS)
    events = [e for e in generate(customers=80, days=120, seed=5)[1] if topic_of(e) == "purchases"]
    _publish(settings, events)
    _handled([a, b], len(events))
    key = settings.snapshot_keys()[0]
    suite = LoyaltyEngine(load_catalog(), config=settings.engine_config()).models
    learner = LabelsLearner(settings, Learner(suite), Cadence(every_examples=10 ** 6, every_seconds=3600), key)
    labels_out = _labels_settled((a, b))
    _labels_delivered(settings, labels_out)
    assert learner.run(until_end=True, timeout=60) == labels_out
    version = learner.published[-1].version
    _on_version([a, b], version)

    replay = Replay(LoyaltyEngine(load_catalog(), config=settings.engine_config()),
                    partitions=settings.partitions, policy=settings.contact_policy(), version_every=10 ** 9)
    replay.run((topic_of(e), e.customer_id.encode(), encode(e)) for e in events)
    replayed = replay.learner.suite.performance
    campaigns = replayed.campaigns()
    assert campaigns and sum(replayed.uplift(c)["treated"]["customers"] for c in campaigns) > 20
    assert sum(replayed.uplift(c)["held_out"]["customers"] for c in campaigns) > 0
    assert replayed.uplift("retain-at-risk")["treated"]["customers"] > 20  # decided on reviews, too
    for cid in campaigns:
        expected = json.loads(json.dumps(replayed.uplift(cid)))
        for worker in (a, b):
            answer = worker.get(f"/api/loyalty/v1/campaigns/{cid}/performance/")
            assert answer.pop("as_of") and answer.pop("model_version").endswith(f"@all.v{version}")
            assert answer == expected, cid
    offers = [w.get("/api/loyalty/v1/models/")["offers"] for w in (a, b)]
    assert offers[0] == offers[1] == json.loads(json.dumps(replayed.report()))


def test_the_learner_command_follows_the_labels_until_interrupted(settings, start_worker, tmp_path):
    """`loyalty learner` without --until-end: versions every second while it follows, a report at Ctrl-C."""
    import json
    import signal
    import subprocess
    import sys

    worker = start_worker(env=LEARNERS)
    events = list(generate(customers=20, days=60, seed=3)[1])
    _publish(settings, events)
    _handled([worker], len(events))
    sent_before = worker.health()["counters"]["labels_out"]
    learner = subprocess.Popen([sys.executable, "-m", "streams.cli", "learner", "--every-seconds", "1"],
                               env=worker.env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        health = worker.wait_for(lambda h: h["model_source"]["version"] is not None, timeout=90,
                                 what="the worker on the learner's first version")
    finally:
        learner.send_signal(signal.SIGINT)
        out, err = learner.communicate(timeout=60)
    assert learner.returncode == 0, err
    assert "following" in err and "version 1 published" in err
    report = json.loads(out)
    # everything sent before it started, and nothing that was not sent (sweeps may still resolve a few)
    assert 0 < sent_before <= report["examples_learned"] <= worker.health()["counters"]["labels_out"]
    assert report["versions_published"] >= 1 and health["model_source"]["learner"] == "all"


def test_the_workers_run_the_learner_one_at_a_time_and_the_next_takes_over_when_its_holder_dies(
        settings, start_worker):
    """`LOYALTY_LEARNER_IN_WORKER`: one worker of the group learns; when it dies another resumes, nothing lost.

    The holder most likely dies with labels it learned but had not published yet (its cadence
    is 400 examples, or 15 seconds): the next holder learns them again from the latest version on.
    """
    from schemas.labels import LabeledExampleRecord
    from schemas.models import ModelVersionRecord

    env = {**LEARNERS, "LOYALTY_LEARNER_IN_WORKER": "true", "LOYALTY_LEARNER_EVERY_EXAMPLES": "400",
           "LOYALTY_LEARNER_EVERY_SECONDS": "15", "LOYALTY_SESSION_TIMEOUT_SECONDS": "6"}
    workers = [start_worker(env=env), start_worker(env=env)]
    events = list(generate(customers=60, days=150, seed=8)[1])
    _publish(settings, events)
    _handled(workers, len(events))
    sent = -1
    while sent != sum(w.health()["counters"]["labels_out"] for w in workers):  # until no tick resolves more
        sent = sum(w.health()["counters"]["labels_out"] for w in workers)
        time.sleep(2.0)

    def one_learns(_) -> bool:
        sources = [w.health()["model_source"] for w in workers]
        return (sum(s["learner_here"]["here"] for s in sources) == 1 and sources[0]["version"] is not None
                and sources[0]["version"] == sources[1]["version"])
    workers[0].wait_for(one_learns, timeout=60, what="one worker learning, both on its version")
    holder, other = sorted(workers, key=lambda w: not w.health()["model_source"]["learner_here"]["here"])
    before = holder.health()["model_source"]
    holder.kill()
    print(f"\nholder killed at version {before['version']} ({before['examples_learned']} of {sent} examples)")

    other.wait_for(lambda h: h["model_source"]["learner_here"]["here"], timeout=60, what="the learner taken over")
    records = read_topic(settings, "labels", expect=sent, idle=1.0)
    distinct = len({LabeledExampleRecord.model_validate_json(r.value()).example_id for r in records})
    health = other.wait_for(lambda h: h["model_source"]["examples_learned"] == distinct, timeout=60,
                            what=f"a version with all {distinct} examples")
    assert health["model_source"]["version"] > before["version"]  # it went on from the dead holder's versions
    # one learner at a time: the versions on the topic only ever go up
    numbers = [ModelVersionRecord.model_validate_json(r.value()).version
               for r in read_topic(settings, "models", expect=1, idle=1.0)]
    assert numbers == sorted(set(numbers)) and numbers[-1] == health["model_source"]["version"]
