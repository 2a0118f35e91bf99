"""HTTP views on the worker's web server, under /api/loyalty/v1/."""

from __future__ import annotations

from streams.app import app
from streams.runtime import counters, engine

_ready = {"value": False}


@app.on_rebalance_complete.connect
async def _mark_ready(sender, **kwargs) -> None:
    # Sent after the tables of the new assignment are recovered.
    _ready["value"] = True


@app.on_partitions_revoked.connect
async def _mark_rebalancing(sender, revoked, **kwargs) -> None:
    _ready["value"] = False


@app.page("/api/loyalty/v1/health/")
async def health(web, request):
    ready = _ready["value"] and not app.rebalancing
    assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in app.assignor.assigned_actives())
    return web.json(
        {
            "status": "ok" if ready else "starting",
            "ready": ready,
            "assigned_partitions": assigned,
            "models": {"churn": {"version": engine.churn.version, "examples_learned": engine.churn.n_learned}},
            "counters": counters.snapshot(),
        }
    )
