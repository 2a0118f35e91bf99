"""The operator's dashboard: `GET /dashboard/`, a page any worker serves, and the figures behind it.

The page (`streams/web/static/`) is plain HTML, CSS and JavaScript with no build step
and no third-party code; it draws its charts as SVG. It is read-only: every figure
comes from `GET /api/loyalty/v1/dashboard/`, which needs the bearer token when
`LOYALTY_API_READS_NEED_TOKEN` is set (the page then asks for it and keeps it for the
browser tab only). The page shell holds no data.

`GET /api/loyalty/v1/dashboard/` answers for the whole group. The worker asks each
worker the group assignment names (Faust's assignor, which also routes table
requests) for its own figures (`?scope=local`), and adds the campaigns: budgets used
from Redis (exact across workers), the catalog's limits and holdout, and the uplift
figures. A worker that does not answer within a second is listed with its error.

The charts' history is the workers' cumulative counters: the page differentiates them
between two reads, per worker, as Prometheus' `rate()` does (a counter that went down
was reset by a restart, and counts from zero). No history lives in the worker.
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources

import aiohttp

from core.limits import utc_day
from streams.app import app
from streams.lifecycle import ready
from streams.runtime import counters, engine, limits, settings
from streams.web.api import BASE, _error, _unauthorized
from streams.web.metrics import record_latency
from streams.web.views import input_lag, model_source, redis_status

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
STATIC = {"app.js": ("dashboard.js", "application/javascript"),
          "app.css": ("dashboard.css", "text/css")}
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}
PEER_TIMEOUT = 1.0


def _static(name: str) -> str:
    return resources.files("streams.web").joinpath("static", name).read_text(encoding="utf-8")


@app.page("/dashboard/")
async def dashboard_page(self, request):
    """The page itself: no figures in it, so it is served without the token."""
    return self.text(_static("dashboard.html"), content_type="text/html", headers=dict(HEADERS))


@app.page("/dashboard/{asset}")
async def dashboard_asset(self, request, asset):
    if asset not in STATIC:
        return self.text("not found", status=404, headers=dict(HEADERS))
    name, kind = STATIC[asset]
    # aiohttp refuses a charset inside content_type and appends "; charset=utf-8" itself.
    return self.text(_static(name), content_type=kind, headers=dict(HEADERS))


def latency_buckets(histogram=record_latency) -> list[list[float]]:
    """The record-latency histogram's cumulative buckets: `[[upper bound s, records], ...]`, +Inf as 1e9."""
    out = []
    for metric in histogram.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                bound = sample.labels["le"]
                out.append([1e9 if bound == "+Inf" else float(bound), sample.value])
    return out


async def local_figures() -> dict:
    """This worker's own figures: counters, latency buckets, lag, watermark, whether its Redis answers, and
    the models it scores with."""
    lag = input_lag() or {}
    c = counters
    return {
        "worker": str(app.conf.canonical_url),
        "read_at": time.time(),
        "ready": bool(ready["value"] and not app.rebalancing),
        "redis": await redis_status(),
        "watermark": engine.watermark or None,
        "counters": {
            "events_in": dict(c.events_in),
            "dead_lettered": dict(c.dead_lettered),
            "offers": c.assignments_out,
            "badges": c.badges_out,
            "labels": c.labels_out,
            "offers_by_campaign": dict(c.offers_by_campaign),
        },
        "dead_letter_reasons": [{"topic": t, "reason": r, "count": n} for (t, r), n in sorted(c.dead_letter_reasons.items())],
        "blocks": [{"campaign_id": cid, "reason": r, "count": n} for (cid, r), n in sorted(c.blocks.items())],
        "latency_buckets": latency_buckets(),
        "lag": [{"topic": t, "partition": p, "lag": n} for (t, p), n in sorted(lag.items())],
        "models": engine.models.report(),
        "model_source": model_source(),
    }


def group_urls() -> list[str]:
    """Every worker of the group, as the last assignment named them (this one included)."""
    assignor = app.assignor
    urls = {str(app.conf.canonical_url)}
    for distribution in (assignor.changelog_distribution, assignor.external_topic_distribution):
        urls.update(str(url) for url in (distribution or {}))
    return sorted(urls)


async def _peer(session: aiohttp.ClientSession, url: str, headers: dict) -> dict:
    try:
        async with session.get(f"{url.rstrip('/')}{BASE}/dashboard/", params={"scope": "local"}, headers=headers,
                               timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT)) as response:
            if response.status != 200:
                return {"worker": url, "error": f"HTTP {response.status}"}
            return await response.json()
    except Exception as error:  # noqa: BLE001 - a worker gone or starting: say so, show the others
        return {"worker": url, "error": f"{type(error).__name__}: {error}"}


async def campaign_figures() -> list[dict]:
    """Each catalog campaign: offers and budget used (Redis), limits, holdout share, and the uplift figures."""
    day = utc_day(engine.watermark) if engine.watermark else None
    performance = engine.models.performance
    campaigns = list(engine.catalog.campaigns)
    try:
        used = await limits.usage_many([c.campaign_id for c in campaigns], day)
    except Exception as error:  # noqa: BLE001 - Redis away: the rest still shows
        used = {c.campaign_id: {"error": f"{type(error).__name__}: {error}"} for c in campaigns}
    out = []
    for campaign in campaigns:
        usage = used[campaign.campaign_id]
        out.append({
            "campaign_id": campaign.campaign_id, "name": campaign.name, "status": campaign.status,
            "total_budget": campaign.total_budget, "daily_budget": campaign.daily_budget,
            "customer_cap": campaign.customer_cap, "control_share": campaign.control_share,
            "used": usage, "performance": performance.uplift(campaign.campaign_id),
        })
    return out


@app.page(f"{BASE}/dashboard/")
async def dashboard_figures(self, request):
    """Everything the dashboard shows, for the whole group (`?scope=local`: this worker's own figures)."""
    if denied := _unauthorized(self, request, write=False):
        return denied
    if request.query.get("scope") == "local":
        return self.json(await local_figures())
    if request.query.get("scope") not in (None, "group"):
        return _error(self, 400, "scope must be 'group' or 'local'",
                      [{"field": "scope", "message": "one of: group, local"}])
    here = str(app.conf.canonical_url)
    headers = {k: v for k, v in request.headers.items() if k == "Authorization"}
    others = [url for url in group_urls() if url != here]
    async with aiohttp.ClientSession() as session:
        peers = await asyncio.gather(*(_peer(session, url, headers) for url in others))
    return self.json({
        "read_at": time.time(),
        "answered_by": here,
        "workers": [await local_figures(), *peers],
        "campaigns": await campaign_figures(),
        "offers_policy_value": engine.models.performance.policy_values(),
        "refresh_seconds": settings.dashboard_refresh_seconds,
    })
