"""A model version's scores for many customers at once (`models.columns`), and a scorer that uses them."""

import copy

import pytest

from core import EngineConfig, LoyaltyEngine, load_catalog
from core.features import customer_features
from core.limits import ContactPolicy, MemoryLimits
from core.processing import Processor
from core.replay import Replay
from core.state import DAY
from models import columns
from models.columns import ColumnScorer
from sim import population
from tests.unit.factories import drive_in_batches


@pytest.fixture(scope="module")
def learned():
    """Models learned from a loyalty simulator history, its records, and the states at its end."""
    _, events = population.generate(customers=400, days=60, seed=5)
    records = [(population.topic_of(e), e.customer_id.encode(), e.model_dump_json().encode()) for e in events]
    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    run = Replay(engine, partitions=2)
    run.run(records)
    return engine, records, run.states


def test_the_columns_give_each_row_what_the_models_give_it_one_by_one(learned):
    engine, _, states = learned
    models = engine.models
    assert models.churn.n_learned > 100 and models["lifetime_value"].process_examples > 10
    rows = [customer_features(s, engine.watermark + days * DAY) for days in (0, 3, 45, 400) for s in states.values()]
    by_one = [ColumnScorer(models)._one(row) for row in rows]
    assert len(rows) >= 4 * columns.FEWEST
    assert ColumnScorer(models).score(rows) == by_one  # equal floats, not close ones
    # What the engine serves, and what it stores with a prediction for its label.
    scores, labels = by_one[7]
    assert scores == engine._scores(rows[7])
    assert models.churn.score_horizon_days is None and labels["churn"] == scores["churn_probability"]  # its own window
    assert labels["lifetime_value"] == models["lifetime_value"].predict_label_one(rows[7])  # it answers for 90 days
    assert len({s["churn_probability"] for s, _ in by_one}) > 50  # not one answer for all


def test_rows_the_columns_cannot_take_are_scored_one_by_one(learned):
    engine, _, states = learned
    rows = [customer_features(s, engine.watermark) for s in states.values()]
    rows[3] = {k: v for k, v in rows[3].items() if k != "gap_days_mean"}  # another set of features
    scorer = ColumnScorer(engine.models)
    assert scorer.score(rows) == [scorer._one(row) for row in rows]
    assert scorer.score([]) == []


def test_a_value_a_last_bit_could_round_either_way_is_computed_the_per_record_way(learned, monkeypatch):
    engine, _, states = learned
    rows = [customer_features(s, engine.watermark) for s in states.values()]
    computed = []
    process = engine.models.process
    exact = process._features
    monkeypatch.setattr(process, "_features", lambda *a: computed.append(a) or exact(*a), raising=False)
    monkeypatch.setattr(columns, "_NEAR_HALF", 0.5)  # every value in doubt
    assert ColumnScorer(engine.models).score(rows) == [ColumnScorer(engine.models)._one(row) for row in rows]
    assert len(computed) >= len(rows)


def _drive(engine, records, hold, batch):
    """As the live agent does: per record, process then sweep its partition; settle every `batch` records."""
    states = {}
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), MemoryLimits(),
                          ContactPolicy(max_offers=3, window_days=7), partitions=2, hold=hold)
    outputs = []
    for result in drive_in_batches(processor, records, batch):
        outputs.extend((o.topic, o.key, o.record.model_dump_json()) for o in result.outputs())
        outputs.extend(f"{c}:{sorted(v.items())}" for c, v in result.scores)
    return outputs, states


def test_a_scorer_that_scores_purchases_and_reviews_together_gives_what_one_by_one_gives(learned, monkeypatch):
    engine, records, _ = learned
    batches = []
    score = ColumnScorer.score
    monkeypatch.setattr(ColumnScorer, "score", lambda self, rows: batches.append(len(rows)) or score(self, rows))

    def scorer():
        # A fresh run of the same history, scored by the learned version, which does not move.
        fresh = LoyaltyEngine(load_catalog(None), config=EngineConfig(), models=copy.deepcopy(engine.models))
        fresh.models.frozen = True
        return fresh

    alone, alone_states = _drive(scorer(), records, 0, 1)
    assert batches == []  # nothing held: each purchase and review scored as it came
    together, together_states = _drive(scorer(), records, 32, 400)
    assert max(batches) >= columns.FEWEST and sum(batches) > 1000
    assert any(o[0] == "offer-assignments" for o in alone if isinstance(o, tuple))
    assert together == alone and together_states == alone_states


def test_a_model_that_learns_is_never_scored_in_batches(learned, monkeypatch):
    """Learning moves the models between records: scores wait for nobody."""
    engine, records, _ = learned
    monkeypatch.setattr(ColumnScorer, "score", lambda self, rows: pytest.fail("scored in a batch"))
    fresh = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    _drive(fresh, records[:300], 32, 100)


def test_the_soonest_deadline_a_held_scoring_can_get_is_the_shortest_window_it_could_open():
    """A sweep must settle held scorings before its watermark reaches what their decisions could leave due."""
    from core.campaigns import Catalog
    from core.engine import Scoring

    engine = LoyaltyEngine(load_catalog(None), config=EngineConfig())
    catalog = engine.catalog
    models, cfg = engine.models, engine.config
    labels = min(models["churn"].horizon_days, models["propensity"].horizon_days)
    purchase_days = min(labels, models["lifetime_value"].horizon_days, cfg.engagement_days, cfg.upsell_max_days,
                        cfg.review_after_days)
    windows = min(d for c in catalog.campaigns for d in (c.expires_after_days, c.attribution_window_days))
    assert catalog.shortest_window_days() == windows

    def soonest(trigger, on):
        return engine.soonest_deadline(Scoring(trigger, {}, 1000.0, on)) - 1000.0

    assert soonest("sweep", catalog) == min(labels, windows) * DAY
    assert soonest("purchase", catalog) == min(purchase_days, windows) * DAY
    # A campaign whose offers expire within a day brings the soonest deadline to that day.
    brief = catalog.campaigns[0].model_copy(update={"expires_after_days": 0.5, "attribution_days": None})
    quick = Catalog(offers=catalog.offers, campaigns=[brief, *catalog.campaigns[1:]])
    assert quick.shortest_window_days() == 0.5 and soonest("sweep", quick) == 0.5 * DAY
    # With no campaigns, the label windows alone.
    assert soonest("sweep", Catalog(offers=catalog.offers, campaigns=[])) == labels * DAY
