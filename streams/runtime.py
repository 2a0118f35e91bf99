"""The live worker's single instances: engine, counters, stores."""

from __future__ import annotations

from core import LoyaltyEngine, load_catalog
from streams.counters import Counters, InvalidEventSink
from streams.redis_store import RedisScoreStore
from streams.settings import get_settings

settings = get_settings()
engine = LoyaltyEngine(load_catalog(settings.catalog_file), churn_window_days=settings.churn_window_days)
counters = Counters()
invalid_events = InvalidEventSink(counters)
scores = RedisScoreStore(settings.redis_url, namespace=settings.app_id)
