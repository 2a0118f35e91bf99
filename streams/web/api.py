"""The loyalty API on the worker's web server, under /api/loyalty/v1/.

Reads are open unless LOYALTY_API_READS_NEED_TOKEN is set; writes need
`Authorization: Bearer <LOYALTY_API_TOKEN>`. Errors are JSON: `{"detail": ...}`,
and for invalid input also `"errors": [{"field": ..., "message": ...}]`.
"""

from __future__ import annotations

import asyncio
import hmac
import json

from faust import web
from pydantic import ValidationError

from core import statecodec
from core.trials import performance_record
from core.campaigns import campaign_problems
from schemas.campaigns import Campaign
from streams.app import app
from streams.kafka.catalog import publish_campaign
from streams.web.openapi import MAX_HORIZON_DAYS, document
from streams.runtime import catalog, engine, scores, settings
from streams.kafka.tables import customers

BASE = "/api/loyalty/v1"


def _error(view: web.View, status: int, detail: str, errors: list[dict] | None = None) -> web.Response:
    body = {"detail": detail, **({"errors": errors} if errors is not None else {})}
    return view.json(body, status=status)


def _unauthorized(view: web.View, request: web.Request, write: bool) -> web.Response | None:
    if not write and not settings.api_reads_need_token:
        return None
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {settings.api_token.get_secret_value()}"
    if hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return _error(view, 401, "a valid bearer token is required")


async def _campaign_from(view: web.View, request: web.Request, campaign_id: str | None = None):
    """The request body as a campaign that fits the catalog, or the 400 response saying why not."""
    try:
        body = json.loads(await request.text())
    except ValueError as error:
        return None, _error(view, 400, f"the body is not JSON: {error}", [])
    if not isinstance(body, dict):
        return None, _error(view, 400, "the body must be a JSON object", [])
    if campaign_id is not None:
        if body.setdefault("campaign_id", campaign_id) != campaign_id:
            return None, _error(view, 400, "campaign_id differs from the path",
                                [{"field": "campaign_id", "message": f"must be {campaign_id!r}"}])
    try:
        campaign = Campaign.model_validate(body)
    except ValidationError as error:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or "<body>", "message": e["msg"]}
                  for e in error.errors(include_url=False, include_input=False)]
        return None, _error(view, 400, "invalid campaign", errors)
    problems = campaign_problems(campaign, {o.offer_id: o for o in engine.catalog.offers})
    if problems:
        return None, _error(view, 400, "the campaign does not fit the catalog",
                            [{"field": f, "message": m} for f, m in problems])
    return campaign, None


async def _save(campaign: Campaign) -> None:
    """Publish to the campaigns topic (every worker follows it) and use it here at once."""
    await asyncio.to_thread(publish_campaign, settings, campaign)
    catalog.accept(campaign)


def _find(campaign_id: str) -> Campaign | None:
    return next((c for c in engine.catalog.campaigns if c.campaign_id == campaign_id), None)


@app.page(f"{BASE}/openapi.json")
async def openapi(self, request):
    return self.json(document())


@app.page(f"{BASE}/campaigns/available-offers/")
async def available_offers(self, request):
    if denied := _unauthorized(self, request, write=False):
        return denied
    offers = [o.model_dump(mode="json", exclude={"schema_version"}) for o in engine.catalog.offers]
    return self.json({"offers": offers, "total": len(offers)})


@app.page(f"{BASE}/campaigns/")
class CampaignsView(web.View):
    async def get(self, request):
        if denied := _unauthorized(self, request, write=False):
            return denied
        campaigns = [c.model_dump(mode="json") for c in engine.catalog.campaigns]
        return self.json({"campaigns": campaigns, "total": len(campaigns)})

    async def post(self, request):
        if denied := _unauthorized(self, request, write=True):
            return denied
        campaign, problem = await _campaign_from(self, request)
        if problem is not None:
            return problem
        if _find(campaign.campaign_id) is not None:
            return _error(self, 409, f"campaign {campaign.campaign_id!r} exists: PUT it to change it")
        await _save(campaign)
        return self.json(campaign.model_dump(mode="json"), status=201)


@app.page(f"{BASE}/campaigns/{{campaign_id}}/")
class CampaignView(web.View):
    async def get(self, request, campaign_id):
        if denied := _unauthorized(self, request, write=False):
            return denied
        campaign = _find(campaign_id)
        if campaign is None:
            return _error(self, 404, f"no campaign {campaign_id!r}")
        return self.json(campaign.model_dump(mode="json"))

    async def put(self, request, campaign_id):
        if denied := _unauthorized(self, request, write=True):
            return denied
        if _find(campaign_id) is None:
            return _error(self, 404, f"no campaign {campaign_id!r}")
        campaign, problem = await _campaign_from(self, request, campaign_id)
        if problem is not None:
            return problem
        await _save(campaign)
        return self.json(campaign.model_dump(mode="json"))


@app.page(f"{BASE}/campaigns/{{campaign_id}}/offer-details/")
async def offer_details(self, request, campaign_id):
    if denied := _unauthorized(self, request, write=False):
        return denied
    campaign = _find(campaign_id)
    if campaign is None:
        return _error(self, 404, f"no campaign {campaign_id!r}")
    offer = engine.catalog.offer(campaign.offer_id)
    return self.json({
        "campaign_id": campaign.campaign_id,
        "campaign_name": campaign.name,
        "status": campaign.status,
        "offer": offer.model_dump(mode="json", exclude={"schema_version"}),
        "offer_config": campaign.offer_config,
    })


@app.page(f"{BASE}/campaigns/{{campaign_id}}/performance/")
async def campaign_performance(self, request, campaign_id):
    """What the campaign's offer did: treated against held out, with 95% intervals (`models.uplift`)."""
    if denied := _unauthorized(self, request, write=False):
        return denied
    if _find(campaign_id) is None:
        return _error(self, 404, f"no campaign {campaign_id!r}")
    return self.json(performance_record(engine, campaign_id))


def _horizon_days(text: str | None) -> tuple[float | None, str | None]:
    """`?horizon_days=`: (days, None), (None, None) when absent, or (None, why it is refused)."""
    if text is None:
        return None, None
    try:
        days = float(text)
    except ValueError:
        return None, f"a number of days, not {text!r}"
    if not 0 < days <= MAX_HORIZON_DAYS:  # NaN fails this too
        return None, f"more than 0 and at most {MAX_HORIZON_DAYS:g} days, not {text!r}"
    return days, None


@app.page(f"{BASE}/customers/{{customer_id}}/scores/")
@app.table_route(table=customers, match_info="customer_id")
async def customer_scores(self, request, customer_id):
    """Every model's answer as of the watermark, from the customer's state on the worker that owns them.

    Any worker answers: the request is forwarded to the owner of the customer's partition (Faust's
    table routing, by the same murmur2 partitioner as the topics). `?source=served` reads the copy
    the owner last wrote to Redis instead, with its `as_of` and whether it is `stale` (older than
    the watermark). `?horizon_days=H` adds `horizon`: churn (no purchase within H days) and lifetime
    value (spend within H days) from the same models, for any H (`LoyaltyEngine.at_horizon`)."""
    if denied := _unauthorized(self, request, write=False):
        return denied
    served_copy = request.query.get("source") == "served"
    horizon, problem = _horizon_days(request.query.get("horizon_days"))
    if problem is None and horizon is not None and served_copy:
        problem = "the served copy holds the configured windows only: ask the owner (no source=served)"
    if problem is not None:
        return _error(self, 400, "invalid query", [{"field": "horizon_days", "message": problem}])
    stored = customers.get(customer_id) if not served_copy else None
    if stored:
        state = statecodec.decode(stored)
        profile = engine.profile(state)
        extra = {} if horizon is None else {"horizon": engine.at_horizon(state, horizon)}
        return self.json({"source": "table", "answered_by": str(app.conf.canonical_url),
                          **profile.model_dump(mode="json"), **extra})
    try:
        served = await scores.get_scores(customer_id)
    except Exception as error:  # noqa: BLE001 - say so rather than fail
        return _error(self, 503, f"the customer is not on this worker and Redis did not answer: {error}")
    if not served:
        return _error(self, 404, f"no customer {customer_id!r}")
    as_of, watermark = served.get("as_of"), engine.as_of()
    return self.json({"source": "redis", "customer_id": customer_id, "scores": served, "as_of": as_of,
                      "watermark": watermark, "stale": as_of is None or as_of < watermark,
                      "answered_by": str(app.conf.canonical_url)})
