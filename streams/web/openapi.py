"""The API's OpenAPI 3.1 document, its schemas generated from the same pydantic models."""

from __future__ import annotations

from functools import lru_cache

from pydantic.json_schema import models_json_schema

from schemas.campaigns import Campaign
from schemas.offers import OfferSnapshot
from schemas.scores import CustomerScores

# The longest horizon `?horizon_days=` answers over (the API checks it; the document states it).
MAX_HORIZON_DAYS = 3650.0

BASE = "/api/loyalty/v1"
REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = _json(_ref("Error"), "error")
INVALID = _json(_ref("Error"), "invalid input; `errors` names each field")
UNAUTHORIZED = _json(_ref("Error"), "missing or wrong bearer token")
NOT_FOUND = _json(_ref("Error"), "not found")


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


_DIFFERENCE = {"type": "object", "required": ["difference", "low", "high", "significant"], "properties": {
    "difference": {"type": ["number", "null"]}, "low": {"type": ["number", "null"]},
    "high": {"type": ["number", "null"]}, "significant": {"type": "boolean"}}}
_ARM = {"type": "object", "required": ["customers", "buyers", "redemptions"], "properties": {
    "customers": {"type": "integer"}, "buyers": {"type": "integer"}, "redemptions": {"type": "integer"},
    "purchase_rate": {"type": ["number", "null"]}, "spend_per_customer": {"type": ["number", "null"]}}}
PERFORMANCE = {"type": "object", "required": ["campaign_id", "treated", "held_out", "purchase_rate",
                                              "spend_per_customer", "significant", "model_version"],
               "properties": {"campaign_id": {"type": "string"}, "as_of": {"type": ["string", "null"]},
                              "model_version": {"type": "string"}, "confidence": {"type": "number"},
                              "treated": _ARM, "held_out": _ARM, "purchase_rate": _DIFFERENCE,
                              "spend_per_customer": _DIFFERENCE, "significant": {"type": "boolean"}}}


@lru_cache(maxsize=1)
def document() -> dict:
    _, generated = models_json_schema(
        [(OfferSnapshot, "serialization"), (Campaign, "validation"), (CustomerScores, "serialization")],
        ref_template=REF,
    )
    components = dict(generated["$defs"])
    components["Error"] = {
        "type": "object",
        "required": ["detail"],
        "properties": {
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {
                "field": {"type": "string"}, "message": {"type": "string"}}}},
        },
    }
    components["OfferList"] = {"type": "object", "required": ["offers", "total"], "properties": {
        "offers": {"type": "array", "items": {"type": "object"}}, "total": {"type": "integer", "minimum": 0}}}
    components["CampaignList"] = {"type": "object", "required": ["campaigns", "total"], "properties": {
        "campaigns": {"type": "array", "items": _ref("Campaign")}, "total": {"type": "integer", "minimum": 0}}}
    components["OfferDetails"] = {"type": "object", "required": ["campaign_id", "offer", "offer_config"], "properties": {
        "campaign_id": {"type": "string"}, "campaign_name": {"type": "string"}, "status": {"type": "string"},
        "offer": {"type": "object"}, "offer_config": {"type": "object"}}}
    components["Scores"] = {"type": "object", "required": ["source", "customer_id"], "properties": {
        "source": {"enum": ["table", "redis"]}, "customer_id": {"type": "string"},
        "scores": {"type": "object", "additionalProperties": {"type": "string"}},
        "answered_by": {"type": "string"}, "as_of": {"type": ["string", "null"]}, "watermark": {"type": "string"},
        "stale": {"type": "boolean"},
        "horizon": {"type": "object", "required": ["days", "churn_probability", "lifetime_value", "expected_purchases",
                                                   "learned_over_days"],
                    "properties": {"days": {"type": "number"},
                                   "churn_probability": {"type": "number", "minimum": 0, "maximum": 1},
                                   "lifetime_value": {"type": "number", "minimum": 0},
                                   "expected_purchases": {"type": "number", "minimum": 0},
                                   "learned_over_days": {"type": "number"}}}},
        "description": "From the owner's table (any worker forwards to it): a CustomerScores record plus `source` and "
                       "`answered_by`; with `?source=served`, the flat copy in Redis with its `as_of` and `stale`."}
    write = {"security": [{"bearer": []}]}
    campaign_body = {"required": True, "content": {"application/json": {"schema": _ref("Campaign")}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "loyalty-streams API", "version": "1"},
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            f"{BASE}/campaigns/available-offers/": {"get": {
                "summary": "Every catalog offer", "responses": {"200": _json(_ref("OfferList"), "the offers"),
                                                                 "401": UNAUTHORIZED}}},
            f"{BASE}/campaigns/": {
                "get": {"summary": "Every campaign", "responses": {
                    "200": _json(_ref("CampaignList"), "the campaigns"), "401": UNAUTHORIZED}},
                "post": {"summary": "Create a campaign (published to the campaigns topic)", **write,
                         "requestBody": campaign_body, "responses": {
                             "201": _json(_ref("Campaign"), "created"), "400": INVALID, "401": UNAUTHORIZED,
                             "409": _json(_ref("Error"), "a campaign with this id exists")}},
            },
            f"{BASE}/campaigns/{{campaign_id}}/": {
                "parameters": [_path_param("campaign_id")],
                "get": {"summary": "One campaign", "responses": {
                    "200": _json(_ref("Campaign"), "the campaign"), "401": UNAUTHORIZED, "404": NOT_FOUND}},
                "put": {"summary": "Replace a campaign", **write, "requestBody": campaign_body, "responses": {
                    "200": _json(_ref("Campaign"), "updated"), "400": INVALID, "401": UNAUTHORIZED,
                    "404": NOT_FOUND}},
            },
            f"{BASE}/campaigns/{{campaign_id}}/offer-details/": {
                "parameters": [_path_param("campaign_id")],
                "get": {"summary": "The campaign's offer with its offer_config", "responses": {
                    "200": _json(_ref("OfferDetails"), "the offer details"), "401": UNAUTHORIZED,
                    "404": NOT_FOUND}},
            },
            f"{BASE}/campaigns/{{campaign_id}}/performance/": {
                "parameters": [_path_param("campaign_id")],
                "get": {"summary": "The campaign's uplift against its holdout, with 95% intervals", "responses": {
                    "200": _json(PERFORMANCE, "the campaign's performance"), "401": UNAUTHORIZED,
                    "404": NOT_FOUND}},
            },
            f"{BASE}/customers/{{customer_id}}/scores/": {
                "parameters": [_path_param("customer_id"), {
                    "name": "source", "in": "query", "required": False,
                    "schema": {"enum": ["table", "served"]},
                    "description": "served: the copy in Redis (with as_of and stale) instead of the owner's state"}, {
                    "name": "horizon_days", "in": "query", "required": False,
                    "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_HORIZON_DAYS},
                    "description": "adds `horizon`: churn and lifetime value over this many days (not with "
                                   "source=served)"}],
                "get": {"summary": "Every model's answer for the customer, as of now", "responses": {
                    "200": _json(_ref("Scores"), "the scores"), "400": INVALID, "401": UNAUTHORIZED,
                    "404": NOT_FOUND, "503": ERROR}},
            },
            f"{BASE}/dashboard/": {
                "parameters": [{"name": "scope", "in": "query", "required": False,
                                "schema": {"enum": ["group", "local"]},
                                "description": "local: this worker's own figures only (the group view asks each worker)"}],
                "get": {"summary": "Everything the dashboard shows: each worker's counters, latency, lag and models, "
                                   "and every campaign's budget use, blocks and uplift", "responses": {
                    "200": _json({"type": "object"}, "the dashboard's figures"), "400": INVALID,
                    "401": UNAUTHORIZED}}},
            f"{BASE}/health/": {"get": {"summary": "Readiness and counters", "responses": {
                "200": _json({"type": "object", "required": ["status", "ready"]}, "health")}}},
            f"{BASE}/models/": {"get": {"summary": "Every model's live quality", "responses": {
                "200": _json({"type": "object", "required": ["models"]}, "model quality")}}},
        },
    }
