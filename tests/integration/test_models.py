"""The model suite in a real worker: signed snapshots across a kill, and replay equal to live."""

from __future__ import annotations

import json
import time

import pytest
import redis

from core import LoyaltyEngine, load_catalog
from sim.population import generate, topic_of
from core.replay import Replay
from schemas import DecisionTrace, OfferAssignment, encode
from schemas.labels import LabeledExampleRecord
from streams.kafka.publisher import EventPublisher
from tests.integration.conftest import read_topic

pytestmark = pytest.mark.integration

# No sweep ticks: they would let models learn after the last record, at a moment of their own.
NO_TICKS = {"LOYALTY_SWEEP_INTERVAL_SECONDS": "0"}
FAST_SNAPSHOTS = {"LOYALTY_SNAPSHOT_INTERVAL_SECONDS": "1", **NO_TICKS}


def publish_population(settings, customers: int, days: int, seed: int) -> int:
    publisher = EventPublisher(settings)
    n = 0
    for event in generate(customers=customers, days=days, seed=seed)[1]:
        publisher.publish(event)
        n += 1
    assert publisher.flush() == 0 and not publisher.failed
    return n


def consumed(n: int):
    return lambda h: sum(h["counters"]["events_in"].values()) == n


def handled(n: int):
    """Every record fully done (outputs sent, sweep run), not merely taken from the topic."""
    return lambda h: sum(h["counters"]["handled"].values()) == n


def learned(report: dict) -> dict:
    return {name: (r["version"], r.get("samples")) for name, r in report["models"].items()}


def test_models_come_back_from_their_signed_snapshot_and_a_tampered_one_is_refused(settings, start_worker):
    first = start_worker(env=FAST_SNAPSHOTS)
    n = publish_population(settings, customers=40, days=90, seed=4)
    first.wait_for(consumed(n), timeout=120, what=f"{n} events")
    before = first.get("/api/loyalty/v1/models/")
    assert before["models"]["churn"]["samples"] > 30 and before["models"]["propensity"]["samples"] > 30
    time.sleep(2.5)  # a periodic snapshot after the last event
    assert first.health()["snapshot"]["age_seconds"] < 2.5
    first.kill()  # SIGKILL: no shutdown snapshot, only the periodic one

    second = start_worker(env=FAST_SNAPSHOTS)
    assert second.health()["snapshot"]["status"] == "restored"
    after = second.get("/api/loyalty/v1/models/")
    assert learned(after) == learned(before)
    assert after["watermark"] == before["watermark"]
    second.stop()

    client = redis.Redis.from_url(settings.redis_url)
    key = f"{settings.app_id}:models:snapshot"
    blob = bytearray(client.get(key))
    blob[len(blob) // 2] ^= 0x01  # one byte of the pickled payload
    client.set(key, bytes(blob))

    third = start_worker(env=FAST_SNAPSHOTS)
    status = third.health()["snapshot"]["status"]
    assert status.startswith("refused") and "signature does not match" in status
    fresh = third.get("/api/loyalty/v1/models/")["models"]
    assert fresh["churn"]["samples"] == 0 and fresh["churn"]["version"] == "churn-logreg-v1+0"


def test_replay_gives_the_live_workers_assignments_and_scores(settings, start_worker):
    """Same records in the same order: one partition, and each run of a topic consumed before the next."""
    one = settings.model_copy(update={"partitions": 1})
    worker = start_worker(one, env=NO_TICKS)  # the sweep runs on records only, as in replay
    events = list(generate(customers=25, days=75, seed=8)[1])
    publisher = EventPublisher(one)
    sent, i = 0, 0
    while i < len(events):
        topic = topic_of(events[i])
        while i < len(events) and topic_of(events[i]) == topic:
            publisher.publish(events[i])
            i, sent = i + 1, sent + 1
        assert publisher.flush() == 0
        worker.wait_for(handled(sent), timeout=60, what=f"{sent} events", interval=0.01)

    outputs = []
    replay = Replay(LoyaltyEngine(load_catalog()), partitions=1, emit=lambda t, k, v: outputs.append((t, v)),
                    policy=one.contact_policy())
    replay.run((topic_of(e), e.customer_id.encode(), encode(e)) for e in events)
    replayed = [v for t, v in outputs if t == "offer-assignments"]

    live = [OfferAssignment.model_validate_json(r.value()) for r in
            read_topic(one, "offer-assignments", expect=len(replayed), idle=1.5)]
    assert len(replayed) > 25
    assert live == replayed  # same ids, offers, scores and model versions, in the same order
    traces = [v for t, v in outputs if t == "decisions"]
    live_traces = read_topic(one, "decisions", expect=len(traces), idle=1.0)
    assert [DecisionTrace.model_validate_json(r.value()) for r in live_traces] == traces

    client = redis.Redis.from_url(one.redis_url, decode_responses=True)
    served = {c: client.hgetall(f"{one.app_id}:scores:{c}") for c in replay.served}
    assert served == replay.served
    report = worker.get("/api/loyalty/v1/models/")["models"]
    assert {k: r.get("samples") for k, r in report.items()} == {
        k: r.get("samples") for k, r in replay.engine.models.report().items()}
    # What the offers did, per campaign: the same trials, so the same uplift and intervals.
    from core.trials import performance_record

    campaigns = replay.engine.models.performance.campaigns()
    assert campaigns, "no trial closed"
    for cid in campaigns:
        assert worker.get(f"/api/loyalty/v1/campaigns/{cid}/performance/") == json.loads(json.dumps(
            performance_record(replay.engine, cid)))
    print(f"\nreplay = live: {len(live)} assignments, {len(served)} customers' scores, {sent} events")


def test_a_learner_publishes_versions_and_a_restart_from_any_of_them_ends_with_the_workers_models(
        settings, start_worker, tmp_path):
    """The worker's labels, learned from Kafka by a learner that restarts, give its models' parameters.

    All seven models that learn from labels, and the purchase process under three of them.

    The learner publishes a version every third of the examples; a learner restarted from the
    first version (as if it died after publishing it) learns the rest once, and ends with the
    models the worker learned: each example once, in order, across the restart.
    """
    import subprocess
    import sys

    from core.learner import LABELS_ONLY, Cadence, Learner
    from models import snapshot
    from streams.kafka.learning import LabelsLearner, latest_version

    worker = start_worker(env=FAST_SNAPSHOTS)
    n = publish_population(settings, customers=40, days=120, seed=6)
    worker.wait_for(handled(n), timeout=120, what=f"{n} events")
    counters = worker.health()["counters"]
    env = worker.env()
    worker.stop()  # graceful: the last snapshot holds every example the worker learned
    blob = redis.Redis.from_url(settings.redis_url).get(f"{settings.app_id}:models:snapshot")
    theirs = snapshot.loads(blob, settings.snapshot_keys()).models
    key = settings.snapshot_keys()[0]
    total = counters["labels_out"]
    assert total == counters["examples_learned"] > 200

    def fresh():
        return LoyaltyEngine(load_catalog(), config=settings.engine_config()).models

    first = LabelsLearner(settings, Learner(fresh()), Cadence(every_examples=total // 3 + 1, every_seconds=3600), key)
    assert first.run(until_end=True, timeout=60) == total
    assert [v.version for v in first.published] == [1, 2, 3]
    assert first.learner.duplicates == 0 and first.learner.invalid == 0
    # With each version, each campaign's uplift goes to the compacted `performance` topic (issue 19).
    from schemas.performance import CampaignPerformanceRecord

    campaigns = first.learner.suite.performance.campaigns()
    assert campaigns and first.learner.suite.performance.uplift(campaigns[0])["treated"]["customers"] > 0
    latest_figures = {}
    for record in read_topic(settings, "performance", expect=len(campaigns), idle=1.0):
        value = CampaignPerformanceRecord.model_validate_json(record.value())
        latest_figures[record.key().decode()] = value
    assert sorted(latest_figures) == campaigns
    for cid, value in latest_figures.items():
        assert value.model_version.endswith("@all.v3") and value.campaign_id == cid
        assert value.model_dump(mode="json", exclude={"as_of", "model_version", "schema_version"}) == json.loads(
            json.dumps(first.learner.suite.performance.uplift(cid)))
    latest = latest_version(settings, "all")
    assert latest is not None and latest.version == 3 and latest.examples_learned == total
    assert sum(latest.labels_offsets.values()) == total

    restarted = Learner.resume(first.published[0], settings.snapshot_keys())
    again = LabelsLearner(settings, restarted, Cadence(every_examples=10 ** 6, every_seconds=3600), key)
    assert again.run(until_end=True, timeout=60) == total - first.published[0].examples_learned
    ours = restarted.suite
    assert sum(restarted.learned.values()) == total and restarted.duplicates == 0

    labels = [LabeledExampleRecord.model_validate_json(r.value()) for r in read_topic(settings, "labels", expect=total)]
    probes = [label.features for label in labels[-60:]]
    for name in LABELS_ONLY:
        assert ours.quality[name].samples == theirs.quality[name].samples > 0, name
        assert [ours[name].predict_one(x) for x in probes] == [theirs[name].predict_one(x) for x in probes], name
    assert (ours.nbo.redeemed, ours.nbo.missed) == (theirs.nbo.redeemed, theirs.nbo.missed)
    # the purchase process, which churn, propensity and lifetime value read, from its observations
    assert ours.process.n_seen == theirs.process.n_seen > 0 and ours.process.parameters == theirs.process.parameters

    # The command resumes from the latest version, the first learner's third, and finds nothing new.
    # (The restarted learner published a second "version 2" at its end: one learner per name is the rule.)
    done = subprocess.run([sys.executable, "-m", "streams.cli", "learner", "--until-end", "--timeout", "60"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "resuming from version 3" in done.stderr
    report = json.loads(done.stdout)
    assert (report["records_read"], report["versions_published"], report["version"]) == (0, 0, 3)
    assert report["examples_learned"] == total


def test_replay_swapping_the_live_workers_versions_where_it_did_gives_its_assignments_and_scores(
        settings, start_worker):
    """Issue 18, item 5: a scorer's run, recorded as its version sequence, replays to the same records.

    A worker with `LOYALTY_MODELS_FROM=learners` scores while a learner publishes two versions
    mid-stream; it swaps each in at a batch boundary and says where (`/models/` `model_swaps`:
    the first record each version scored). Replay, given those versions at those records, gives
    the same assignments, decision traces (model versions included) and served scores.
    """
    from core.learner import Cadence, Learner
    from schemas.models import ModelVersionRecord
    from streams.kafka.learning import LabelsLearner

    one = settings.model_copy(update={"partitions": 1})
    worker = start_worker(one, env={**NO_TICKS, "LOYALTY_MODELS_FROM": "learners"})
    events = list(generate(customers=25, days=75, seed=8)[1])
    runs, i = [], 0  # runs of one topic, each consumed before the next (one partition: one order)
    while i < len(events):
        j = i
        while j < len(events) and topic_of(events[j]) == topic_of(events[i]):
            j += 1
        runs.append(events[i:j])
        i = j
    key = settings.snapshot_keys()[0]
    learner = LabelsLearner(one, Learner(LoyaltyEngine(load_catalog(), config=one.engine_config()).models),
                            Cadence(every_examples=10 ** 6, every_seconds=3600), key)
    publisher, sent = EventPublisher(one), 0
    for n, run in enumerate(runs):
        for event in run:
            publisher.publish(event)
        sent += len(run)
        assert publisher.flush() == 0
        worker.wait_for(handled(sent), timeout=60, what=f"{sent} events", interval=0.01)
        if n in (len(runs) // 3, 2 * len(runs) // 3):  # a version, which the next batch swaps in
            learner.run(until_end=True, timeout=60)
            time.sleep(1.0)  # the follower stages it; whichever batch comes next swaps it in, and says so
    swaps = worker.get("/api/loyalty/v1/models/")["model_swaps"]
    assert [s["version"] for s in swaps] == [1, 2], swaps

    records = {r.version: r for r in (ModelVersionRecord.model_validate_json(m.value())
                                      for m in read_topic(one, "models", expect=2, idle=1.0))}
    keys = one.snapshot_keys()
    schedule = {(s["topic"], s["partition"], s["offset"]): (f"{s['learner']}.v{s['version']}",
                                                            Learner.resume(records[s["version"]], keys).suite)
                for s in swaps}
    outputs = []
    replay = Replay(LoyaltyEngine(load_catalog(), config=one.engine_config()), partitions=1,
                    emit=lambda t, k, v: outputs.append((t, v)), policy=one.contact_policy(), versions=schedule)
    replay.run((topic_of(e), e.customer_id.encode(), encode(e)) for e in events)

    replayed = [v for t, v in outputs if t == "offer-assignments"]
    live = [OfferAssignment.model_validate_json(r.value()) for r in
            read_topic(one, "offer-assignments", expect=len(replayed), idle=1.5)]
    stamped = {v.rsplit("@", 1)[-1] for o in live for v in o.model_versions.values() if "@" in v}
    assert stamped == {"all.v1", "all.v2"}, stamped  # both versions made offers
    assert live == replayed
    traces = [v for t, v in outputs if t == "decisions"]
    assert [DecisionTrace.model_validate_json(r.value())
            for r in read_topic(one, "decisions", expect=len(traces), idle=1.0)] == traces
    client = redis.Redis.from_url(one.redis_url, decode_responses=True)
    assert {c: client.hgetall(f"{one.app_id}:scores:{c}") for c in replay.served} == replay.served
    print(f"\nreplay with the live version sequence = live: {len(live)} assignments, swaps {swaps}")
