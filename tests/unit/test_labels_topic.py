"""The `labels` topic: every resolved prediction goes out as a record, and folding them rebuilds a model."""

from __future__ import annotations

from core import LoyaltyEngine, load_catalog
from core.learner import LABELS_ONLY, Learner
from core.outputs import PROCESS_READERS
from core.replay import Replay
from schemas import encode
from sim.population import generate, topic_of
from tests import schema_consumer



def _replay(customers=60, days=150, seed=5):
    engine = LoyaltyEngine(load_catalog())
    emitted = []
    replay = Replay(engine, partitions=3, emit=lambda topic, key, value: emitted.append((topic, key, value)))
    _, events = generate(customers=customers, days=days, seed=seed)
    counts = replay.run((topic_of(e), e.customer_id.encode(), encode(e)) for e in events)
    replay.finish()
    labels = [(key, value) for topic, key, value in emitted if topic == "labels"]
    return engine, replay, labels


def test_every_example_learned_is_sent_once_keyed_by_its_model_and_valid_against_the_schema():
    engine, replay, labels = _replay()
    assert len(labels) == replay.counts.examples_learned > 100  # examples and process observations
    assert len({value.example_id for _, value in labels}) == len(labels)  # one id per prediction
    # a model's key is its name; the purchase process and the models that read it share one
    assert all(key == (b"process" if value.model in PROCESS_READERS else value.model.encode()) for key, value in labels)
    assert {value.model for _, value in labels} >= {"churn", "propensity", "upsell", "lifetime_value", "process"}
    for _, value in labels[:200]:
        schema_consumer.validate("labels", encode(value))
    observed = sum(1 for _, v in labels if v.model == "process")
    assert observed == engine.models.process.n_seen > 0  # every milestone observation, once
    learned = {name: report["samples"] for name, report in engine.models.report().items() if name in engine.models.learners}
    sent = {name: sum(1 for _, v in labels if v.model == name) for name in learned}
    assert sent == learned


def test_the_same_records_send_the_same_label_ids():
    _, _, first = _replay(customers=20, days=80)
    _, _, again = _replay(customers=20, days=80)
    assert [v.example_id for _, v in first] == [v.example_id for _, v in again]


def test_folding_the_labels_in_order_rebuilds_the_models_that_learn_from_labels_alone():
    engine, _, labels = _replay()
    suite, reference = LoyaltyEngine(load_catalog()).models, engine.models  # the worker's settings
    learner = Learner(suite)
    for _, record in labels + labels[:50]:  # a redelivered copy is recognised by its id
        learner.feed(encode(record))  # the bytes a consumer reads
    assert learner.duplicates == 50 and sum(learner.learned.values()) == len(labels)
    probes = [record.features for _, record in labels[-40:]]
    for name in LABELS_ONLY:
        assert suite.quality[name].samples == reference.quality[name].samples, name
        assert [suite[name].predict_one(x) for x in probes] == [reference[name].predict_one(x) for x in probes], name
    assert suite.nbo.responses > 0
    assert (suite.nbo.redeemed, suite.nbo.missed) == (reference.nbo.redeemed, reference.nbo.missed)


def test_two_predictions_at_the_same_instant_get_two_ids():
    from core.outputs import label_record
    from tests.unit.factories import engagement, purchase

    engine = LoyaltyEngine(load_catalog())
    state = engine.on_purchase(None, purchase("c", day=1)).state  # predicts engagement at day 1
    first = engine.on_engagement(state, engagement("c", day=1))  # resolves it, predicts again at day 1
    second = engine.on_engagement(first.state, engagement("c", day=1))  # resolves the second one
    examples = [e for outcome in (first, second) for e in outcome.examples if e.task == "engagement"]
    assert len(examples) == 2 and examples[0].predicted_at == examples[1].predicted_at
    assert examples[0].resolved_at == examples[1].resolved_at
    ids = {label_record("c", e).example_id for e in examples}
    assert len(ids) == 2
