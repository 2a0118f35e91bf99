"""HTTP views on the worker's web server, under /api/loyalty/v1/."""

from __future__ import annotations

import asyncio

from streams.kafka import topics
from streams.app import app
from streams.lifecycle import ready
from streams.web.metrics import consumer_lag, render
from streams.runtime import catalog, counters, engine, in_order, learner_here, limits, snapshots, versions

# How long /health/ waits for Redis to answer a PING.
REDIS_PING_SECONDS = 1.0


async def redis_status() -> dict:
    """Whether the Redis of the limits and served scores answers now: `{"reachable": bool, "error": str | None}`.

    Without it every offer decision fails closed (counted in `limits_errors`) and served scores are not
    written; the worker goes on, so its readiness does not say this."""
    try:
        await asyncio.wait_for(limits.client.ping(), REDIS_PING_SECONDS)
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        return {"reachable": False, "error": str(error) or type(error).__name__}
    return {"reachable": True, "error": None}


@app.page("/api/loyalty/v1/health/")
async def health(web, request):
    is_ready = ready["value"] and not app.rebalancing
    assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in app.assignor.assigned_actives())
    return web.json(
        {
            "status": "ok" if is_ready else "starting",
            "ready": is_ready,
            "assigned_partitions": assigned,
            "watermark": engine.watermark,
            # Each partition's own: its labels resolve by it (see docs/guarantees.md).
            "partition_watermarks": {str(p): mark for p, mark in sorted(engine.marks.items())},
            "customers_indexed": ready["customers"],
            # States stored under a key that is not their customer id: left out of the index (worker log).
            "customers_misfiled": ready["misfiled"],
            "snapshot": {"status": snapshots.status, "age_seconds": snapshots.age_seconds()},
            "catalog": catalog.status(),
            "redis": await redis_status(),
            "models": {"churn": {"version": engine.models.versions()["churn"], "examples_learned": engine.churn.n_learned}},
            "model_source": model_source(),
            "counters": {**counters.snapshot(), "out_of_order": in_order.dropped, "commits_held": in_order.held},
            # Each input partition's next offset to process, and Faust's read offset: [expected, read].
            "ordering": in_order.status(getattr(app.consumer, "_read_offset", None)),
        }
    )


@app.page("/api/loyalty/v1/models/")
async def models(web, request):
    """Each model's live quality: prequential metrics, samples, pending labels, drift, snapshot age."""
    return web.json(
        {
            "watermark": engine.watermark,
            "snapshot": {"status": snapshots.status, "age_seconds": snapshots.age_seconds()},
            "model_source": model_source(),
            # With learners: where each version came in (the first record it scored), the last 1,000.
            "model_swaps": [] if versions is None else list(versions.swaps),
            "models": engine.models.report(),
            # What the offers did: each campaign's uplift against its holdout, and the policies' values.
            "offers": engine.models.performance.report(),
        }
    )


def input_lag() -> dict | None:
    """Lag per (topic, partition) of the inputs this worker reads; None before it has a consumer (starting, rebalancing)."""
    sources = (topics.purchases, topics.engagements, topics.payments, topics.ticks)
    try:
        return consumer_lag(app, [topic.get_topic_name() for topic in sources])
    except Exception:  # noqa: BLE001 - no consumer yet
        return None


def model_source() -> dict:
    """Who learns the models this worker scores with: itself, or the learners (and which version)."""
    if versions is None:
        return {"from": "worker"}
    return {**versions.status(), **({"learner_here": learner_here.status()} if learner_here is not None else {})}


@app.page("/metrics")
async def prometheus_metrics(web, request):
    """Counters, record latency, model quality and consumer lag in Prometheus text format 0.0.4."""
    lag = input_lag()
    # aiohttp refuses a charset inside content_type and appends "; charset=utf-8" itself.
    redis_up = (await redis_status())["reachable"]
    return web.text(render(counters, engine, lag, redis_up=redis_up), content_type="text/plain; version=0.0.4")
