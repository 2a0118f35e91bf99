"""The live worker's single instances: engine, processor, counters, sinks, stores."""

from __future__ import annotations

from core import EngineConfig, LoyaltyEngine, load_catalog
from core.limits import ContactPolicy
from core.processing import Processor
from streams import topics
from streams.catalog import CatalogFollower
from streams.counters import Counters
from streams.deadletters import DeadLetterSink
from streams.redis_limits import RedisLimits
from streams.redis_store import RedisScoreStore
from streams.settings import get_settings
from streams.snapshots import ModelSnapshots
from streams.outbox import Outbox
from streams.tables import BatchStates

settings = get_settings()


def engine_config(s=settings) -> EngineConfig:
    return EngineConfig(
        churn_window_days=s.churn_window_days,
        propensity_days=s.propensity_days,
        engagement_days=s.engagement_days,
        payment_window_days=s.payment_window_days,
        ltv_horizon_days=s.ltv_horizon_days,
    )


def contact_policy(s=settings) -> ContactPolicy:
    return ContactPolicy(max_offers=s.max_offers_per_week, window_days=7)


file_catalog = load_catalog(settings.catalog_file)
engine = LoyaltyEngine(file_catalog, config=engine_config())
limits = RedisLimits(settings.redis_url, settings.app_id)
counters = Counters()
outbox = Outbox(settings)
states = BatchStates(outbox)
processor = Processor(engine, states.load, states.save, limits, contact_policy(), partitions=settings.partitions)
dead_letters = DeadLetterSink(topics.dead_letters, counters)
scores = RedisScoreStore(settings.redis_url, namespace=settings.app_id)
catalog = CatalogFollower(settings, engine, fallback=file_catalog)
snapshots = ModelSnapshots(settings.redis_url, settings.app_id, settings.snapshot_keys())
