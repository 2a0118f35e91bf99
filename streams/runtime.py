"""The live worker's single instances: engine, counters, sinks, stores."""

from __future__ import annotations

from core import LoyaltyEngine, load_catalog
from streams import topics
from streams.counters import Counters
from streams.deadletters import DeadLetterSink
from streams.redis_store import RedisScoreStore
from streams.settings import get_settings

settings = get_settings()
engine = LoyaltyEngine(load_catalog(settings.catalog_file), churn_window_days=settings.churn_window_days)
counters = Counters()
dead_letters = DeadLetterSink(topics.dead_letters, counters)
scores = RedisScoreStore(settings.redis_url, namespace=settings.app_id)
