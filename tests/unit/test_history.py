"""History from any year since 1970: long-running programmes import exactly such history."""

from datetime import datetime, timezone

from core import EngineConfig, LoyaltyEngine, load_catalog
from core.replay import Replay
from schemas import encode
from sim.population import generate, topic_of
from streams.settings import Settings


def replay_from(start: datetime, config: EngineConfig | None = None):
    _, events = generate(customers=60, days=240, seed=5, start=start)
    run = Replay(LoyaltyEngine(load_catalog(), config=config), partitions=2)
    years = set()
    for event in events:
        years.add(event.occurred_at.year)
        run.feed(topic_of(event), event.customer_id.encode(), encode(event))
    run.finish()
    return run, years


def test_a_history_dated_1997_replays_with_no_dead_letters():
    run, years = replay_from(datetime(1997, 2, 1, tzinfo=timezone.utc))
    assert years == {1997}
    counts = run.counts
    assert counts.records > 1000 and counts.dead_lettered == 0 and counts.processed == counts.records
    assert counts.examples_learned > 100 and counts.assignments > 0


def test_the_floor_is_a_setting_and_refuses_what_lies_before_it():
    settings = Settings(earliest_event_time=datetime(1997, 6, 1, tzinfo=timezone.utc))
    run, _ = replay_from(datetime(1997, 2, 1, tzinfo=timezone.utc), settings.engine_config())
    assert 0 < run.counts.dead_lettered < run.counts.records  # February to May refused, the rest taken
