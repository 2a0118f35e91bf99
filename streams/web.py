"""HTTP views on the worker's web server, under /api/loyalty/v1/."""

from __future__ import annotations

from streams.app import app
from streams.lifecycle import ready
from streams.runtime import catalog, counters, engine, snapshots


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
            "snapshot": {"status": snapshots.status, "age_seconds": snapshots.age_seconds()},
            "catalog": catalog.status(),
            "models": {"churn": {"version": engine.churn.version, "examples_learned": engine.churn.n_learned}},
            "counters": counters.snapshot(),
        }
    )


@app.page("/api/loyalty/v1/models/")
async def models(web, request):
    """Each model's live quality: prequential metrics, samples, pending labels, drift, snapshot age."""
    return web.json(
        {
            "watermark": engine.watermark,
            "snapshot": {"status": snapshots.status, "age_seconds": snapshots.age_seconds()},
            "models": engine.models.report(),
        }
    )
