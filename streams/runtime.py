"""The live worker's single instances: engine, processor, counters, sinks, stores."""

from __future__ import annotations

from core import LoyaltyEngine, load_catalog
from core.processing import Processor
from schemas.topics import CUSTOMER_EVENTS
from streams.kafka.catalog import CatalogFollower
from streams.counters import Counters
from streams.kafka.ordering import InOrder
from streams.kafka.outbox import Outbox
from streams.kafka.outputs import OutputSink
from streams.redis.limits import RedisLimits
from streams.redis.scores import RedisScoreStore
from streams.settings import get_settings
from streams.redis.snapshots import ModelSnapshots
from streams.kafka.tables import BatchStates
from streams.kafka.learning import InWorkerLearner
from streams.kafka.versions import ModelFollower

settings = get_settings()
file_catalog = load_catalog(settings.catalog_file)
engine = LoyaltyEngine(file_catalog, config=settings.engine_config())
counters = Counters()
limits = RedisLimits(settings.redis_url, settings.app_id, settings.limits_in_doubt_seconds, counters)
outbox = Outbox(settings)
states = BatchStates(outbox)
processor = Processor(engine, states.load, states.save, limits, settings.contact_policy(), partitions=settings.partitions,
                      hold=settings.reserve_together)
outputs = OutputSink(outbox, settings, counters)  # every output record, dead letters included
scores = RedisScoreStore(settings.redis_url, namespace=settings.app_id)
catalog = CatalogFollower(settings, engine, fallback=file_catalog)
# The customer topics and the ticks, which the one customers agent reads.
in_order = InOrder(settings.topic(name) for name in (*CUSTOMER_EVENTS, "ticks"))
snapshots = ModelSnapshots(settings.redis_url, settings.app_id, settings.snapshot_keys())
# With LOYALTY_MODELS_FROM=learners, the versions a `loyalty learner` publishes (None: the worker learns).
versions = ModelFollower(settings, engine) if settings.models_from == "learners" else None
# With LOYALTY_LEARNER_IN_WORKER, the learner too, in whichever worker holds its lease (None: elsewhere).
learner_here = InWorkerLearner(
    settings, lambda: LoyaltyEngine(file_catalog, config=settings.engine_config()).models
) if settings.learner_in_worker else None
