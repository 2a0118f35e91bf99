"""A learner's versions: a restart from the latest one learns exactly what one pass would have."""

from __future__ import annotations

import pickle

import pytest

from core.learner import Cadence, Learner
from models.snapshot import SnapshotRejected
from models.suite import ModelSuite
from schemas import encode
from schemas.models import ModelVersionRecord
from tests.unit.test_labels_topic import _replay

KEY, OLD_KEY = b"current-key", b"rotated-out-key"


def _fold(learner, records, start=0):
    for offset, record in enumerate(records, start):
        learner.feed(encode(record), partition=0, offset=offset)


def _probe(suite, features):
    return {name: [suite[name].predict_one(x) for x in features] for name in suite.learners}


def test_a_fold_of_the_labels_gives_the_workers_rfm_quantiles():
    """RFM learns every purchase as an example of its own: a learner gets the worker's segments."""
    engine, _, labels = _replay()
    fold = Learner(ModelSuite())
    _fold(fold, [value for _, value in labels])
    purchases = [value.features for _, value in labels if value.model == "rfm"]
    assert fold.learned["rfm"] == len(purchases) == engine.models.rfm.n_seen > 100
    assert [fold.suite.rfm.predict_one(x) for x in purchases[::7]] == \
        [engine.models.rfm.predict_one(x) for x in purchases[::7]]


def test_a_fold_of_the_labels_gives_the_workers_recommender():
    """Each basket comes with the customer's parameters before it: a learner learns what the worker did."""
    engine, replay, labels = _replay()
    fold = Learner(ModelSuite())
    _fold(fold, [value for _, value in labels])
    ours, theirs = fold.suite.recommendation, engine.models.recommendation
    assert fold.learned["recommendation"] == theirs.n_baskets == ours.n_baskets > 100
    assert (ours.popularity, ours.n_evaluated, ours.n_hits) == (theirs.popularity, theirs.n_evaluated, theirs.n_hits)
    assert {c: b for c, b in ours.mf.i_biases.items()} == {c: b for c, b in theirs.mf.i_biases.items()}
    for customer_id, state in list(replay.states.items())[:20]:  # each customer's top categories, as the worker
        with ours.customer(customer_id, state.reco), theirs.customer(customer_id, state.reco):
            assert ours.predict_one({"customer_id": customer_id}) == theirs.predict_one({"customer_id": customer_id})


def test_a_learner_resumed_from_its_version_ends_where_one_pass_ends():
    _, _, labels = _replay()
    records = [value for _, value in labels]
    whole = Learner(ModelSuite())
    _fold(whole, records)

    half = len(records) // 2
    first = Learner(ModelSuite())
    _fold(first, records[:half])
    version = first.version_record(KEY)
    assert (version.version, version.labels_offsets, version.examples_learned) == (1, {"0": half}, half)
    assert version.watermark == max(r.resolved_at for r in records[:half])
    # On the wire it is plain JSON; a restart reads it back and learns the rest, with a redelivered copy.
    wire = ModelVersionRecord.model_validate_json(version.model_dump_json())
    resumed = Learner.resume(wire, [KEY])
    assert resumed.offsets == {0: half} and resumed.version == 1
    _fold(resumed, records[half - 30:half] + records[half:], start=half)  # 30 copies of learned examples
    assert resumed.duplicates == 30
    probes = [r.features for r in records[-40:]]
    assert _probe(resumed.suite, probes) == _probe(whole.suite, probes)
    assert pickle.dumps(resumed.suite.report()) == pickle.dumps(whole.suite.report())
    assert resumed.version_record(KEY).version == 2


def test_a_version_signed_with_another_key_is_refused_and_a_rotated_key_still_loads():
    learner = Learner(ModelSuite(), ("upsell", "churn"))
    record = learner.version_record(OLD_KEY)
    assert record.learner == "churn+upsell" and record.models == ["churn", "upsell"]
    with pytest.raises(SnapshotRejected, match="unknown key"):
        Learner.resume(record, [KEY])
    assert Learner.resume(record, [KEY, OLD_KEY]).models == {"churn", "upsell"}
    forged = record.model_copy(update={"blob": record.blob[:-8] + ("A" * 8 if record.blob[-8:] != "A" * 8 else "B" * 8)})
    with pytest.raises(SnapshotRejected):
        Learner.resume(forged, [KEY, OLD_KEY])


def test_the_cadence_counts_examples_and_time_since_the_first_unpublished_one():
    _, _, labels = _replay(customers=20, days=80)
    learner, cadence = Learner(ModelSuite()), Cadence(every_examples=10, every_seconds=5.0)
    assert not learner.due(cadence, 100.0)  # nothing new: no version, however long it has been
    _fold(learner, [v for _, v in labels[:3]])
    assert not learner.due(cadence, 1.0) and learner.due(cadence, 5.0)
    _fold(learner, [v for _, v in labels[3:10]], start=3)
    assert learner.due(cadence, 0.0)
    learner.version_record(KEY)
    assert learner.pending == 0 and not learner.due(cadence, 10.0)
    with pytest.raises(ValueError):
        Cadence(every_examples=0)


def test_the_ids_a_version_remembers_are_bounded(monkeypatch):
    """A copy within the last SEEN_KEEP examples is skipped; one further back is learned again (documented)."""
    monkeypatch.setattr("core.learner.SEEN_KEEP", 50)
    _, _, labels = _replay(customers=20, days=80)
    records = [value for _, value in labels[:80]]
    learner = Learner.resume(_version_of(records), [KEY])
    assert len(learner.seen) == len(learner._order) == 50
    _fold(learner, [records[-1], records[0]], start=80)
    assert learner.duplicates == 1 and sum(learner.learned.values()) == 81


def _version_of(records):
    learner = Learner(ModelSuite())
    _fold(learner, records)
    return learner.version_record(KEY)


def test_a_scorer_learns_nothing_and_scores_with_the_version_it_adopts():
    """A worker with LOYALTY_MODELS_FROM=learners: examples go out, the models come from a version."""
    from core.outputs import example_of

    _, _, labels = _replay(customers=30, days=100)
    records = [value for _, value in labels]
    scorer = ModelSuite()
    scorer.frozen = True
    probes = [r.features for r in records[-20:]]
    before = _probe(scorer, probes)
    assert scorer.learn([example_of(r) for r in records]) == len(records)
    assert _probe(scorer, probes) == before and scorer.process.n_seen == 0 and scorer.rfm.n_seen == 0

    learner = Learner(ModelSuite())
    _fold(learner, records)
    version = Learner.resume(learner.version_record(KEY), [KEY])
    scorer.adopt(version.suite, "all.v1")
    assert _probe(scorer, probes) == _probe(learner.suite, probes) != before
    versions = scorer.versions()
    assert versions["churn"] == f"{learner.suite.churn.version}@all.v1"
    assert versions["next_best_offer"].endswith("@all.v1") and versions["rfm"].endswith("@all.v1")
    assert versions["recommendation"].endswith("@all.v1") and scorer.report()["upsell"]["version"].endswith("@all.v1")
    assert scorer.rfm.n_seen == learner.suite.rfm.n_seen > 0


def _versioned_replay(every, customers=40, days=120):
    from core import LoyaltyEngine, load_catalog
    from core.replay import Replay
    from sim.population import generate, topic_of

    engine, out = LoyaltyEngine(load_catalog()), []
    replay = Replay(engine, partitions=2, emit=lambda t, k, v: out.append((t, k, v)), version_every=every)
    _, events = generate(customers=customers, days=days, seed=9)
    replay.run((topic_of(e), e.customer_id.encode(), encode(e)) for e in events)
    replay.finish()
    return engine, replay, out


def test_replay_with_an_inline_learner_scores_with_its_versions_at_a_fixed_cadence():
    """Replay of LOYALTY_MODELS_FROM=learners: the versions come at a rule of the stream, the same every run."""
    engine, replay, out = _versioned_replay(300)
    learner = replay.learner
    labels = [v for t, _, v in out if t == "labels"]
    assert sum(learner.learned.values()) == len(labels) == replay.counts.examples_learned > 900
    assert learner.version >= len(labels) // 300 and learner.pending == 0
    probes = [v.features for v in labels if v.model != "process"][-30:]
    assert _probe(engine.models, probes) == _probe(learner.suite, probes)  # the last version: all it learned
    assert engine.models.versions()["churn"] == f"{learner.suite.churn.version}@all.v{learner.version}"
    stamps = {v for t, _, a in out if t == "offer-assignments" for v in a.model_versions.values()}
    assert {s.rsplit("@", 1)[1] for s in stamps if "@" in s} >= {"all.v1", "all.v2"}
    _, again, out_again = _versioned_replay(300)
    assert [(t, k, v.model_dump_json()) for t, k, v in out] == [(t, k, v.model_dump_json()) for t, k, v in out_again]


@pytest.mark.parametrize("values", [{"learner_in_worker": True},
                                    {"learner_in_worker": True, "models_from": "learners", "models_learner": "churn"}])
def test_a_worker_runs_the_learner_only_when_it_scores_with_that_learners_versions(values):
    from pydantic import ValidationError

    from streams.settings import Settings
    with pytest.raises(ValidationError, match="LOYALTY_LEARNER_IN_WORKER needs LOYALTY_MODELS_FROM=learners"):
        Settings(**values)
    assert Settings(learner_in_worker=True, models_from="learners").learner_every_examples == 1000


def test_replay_takes_a_cadence_or_a_live_runs_versions_not_both():
    from core import LoyaltyEngine, load_catalog
    from core.replay import Replay

    engine = LoyaltyEngine(load_catalog())
    with pytest.raises(ValueError, match="version_every or versions, not both"):
        Replay(engine, version_every=10, versions={("purchases", 0, 0): ("all.v1", ModelSuite())})
