"""The one Faust app. Agents, web views and commands register themselves by autodiscovery."""

from __future__ import annotations

import sys
from pathlib import Path

import faust

from streams.collector import collect_by_generations
from streams.kafka.scheduling import OldestFirst
from streams.settings import get_settings

settings = get_settings()
# A batch allocates (and frees) hundreds of thousands of small objects: start-up and
# recovery collect with the youngest generation at 50,000 objects, record processing
# with short young collections whose survivors are frozen (streams.collector, lifecycle).
collect_by_generations()
# Faust's consumer runs in a thread of its own; while the agent computes, each hand-over
# of fetched records waits for the interpreter to switch threads (a setting: see docs/configuration.md).
sys.setswitchinterval(settings.switch_interval_ms / 1000)
# Faust creates only the last level of its data directory.
Path(settings.data_dir).mkdir(parents=True, exist_ok=True)

app = faust.App(
    settings.app_id,
    **settings.faust_broker_config(),
    store=settings.store,
    datadir=settings.data_dir,
    autodiscover=["agents", "streams.lifecycle", "streams.web.views", "streams.web.api", "streams.web.dashboard", "streams.cli.commands"],
    origin="streams",
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    table_standby_replicas=0,
    web_bind=settings.web_host,
    web_port=settings.web_port,
    web_host=settings.web_host,
    producer_linger_ms=5,
    # The records of each fetch oldest first across partitions, not in turn (streams.kafka.scheduling).
    ConsumerScheduler=OldestFirst,
    broker_session_timeout=settings.session_timeout_seconds,
    broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
)
