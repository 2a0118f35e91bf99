"""The HTTP API on a running worker: the acceptance path end to end, and the OpenAPI contract."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from schemas import OfferAssignment
from schemas.scores import CustomerScores
from streams.kafka.publisher import EventPublisher
from streams.settings import DEV_API_TOKEN, Settings
from tests.integration.conftest import WorkerProcess, forget, read_topic

pytestmark = pytest.mark.integration

API = "/api/loyalty/v1"
TOKEN = {"Authorization": f"Bearer {DEV_API_TOKEN}"}


def call(worker, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{API}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_create_a_campaign_publish_purchases_and_read_everything_back(settings, start_worker):
    worker = start_worker()
    campaign = {"campaign_id": "api-coffee", "name": "Coffee from the API", "status": "active",
                "offer_id": "free-coffee", "offer_config": {"sku": "SKU-COFFEE", "quantity": 1}, "priority": 10}
    assert call(worker, "POST", "/campaigns/", campaign)[0] == 401  # writes need the token
    status, created = call(worker, "POST", "/campaigns/", campaign, TOKEN)
    assert status == 201 and created["campaign_id"] == "api-coffee"
    assert call(worker, "POST", "/campaigns/", campaign, TOKEN)[0] == 409

    status, refused = call(worker, "POST", "/campaigns/", {**campaign, "campaign_id": "bad",
                                                            "offer_config": {"sku": "X", "colour": "red"}}, TOKEN)
    assert status == 400 and {"field": "offer_config.colour", "message": "Extra inputs are not permitted"} in refused["errors"]
    status, refused = call(worker, "POST", "/campaigns/", {**campaign, "campaign_id": "bad", "offer_id": "nope"}, TOKEN)
    assert status == 400 and refused["errors"] == [{"field": "offer_id", "message": "unknown offer 'nope'"}]

    pos = EventPublisher(settings)
    pos.purchase(event_id="r-1", customer_id="api-cust", store_id="s-1", occurred_at="2026-03-02T10:00:00Z", total=12.0)
    assert pos.flush() == 0
    (record,) = read_topic(settings, "offer-assignments", expect=1, idle=1.0)
    offer = OfferAssignment.model_validate_json(record.value())
    assert (offer.campaign_id, offer.customer_id, record.key()) == ("api-coffee", "api-cust", b"api-coffee")

    status, scores = call(worker, "GET", "/customers/api-cust/scores/")
    assert status == 200 and scores.pop("source") == "table" and scores.pop("answered_by").startswith("http")
    record = CustomerScores.model_validate(scores)
    assert record.customer_id == "api-cust"
    assert [d.assignment_id for d in record.last_decisions] == [offer.assignment_id]
    assert call(worker, "GET", "/customers/nobody/scores/")[0] == 404
    # Any horizon, from the same models: at the churn window (30 days here) it is the served churn score.
    status, at_window = call(worker, "GET", "/customers/api-cust/scores/?horizon_days=30")
    assert status == 200 and at_window["horizon"]["churn_probability"] == record.churn.probability
    status, at_year = call(worker, "GET", "/customers/api-cust/scores/?horizon_days=365")
    assert status == 200 and at_year["horizon"]["days"] == 365 and at_year["horizon"]["learned_over_days"] == 30
    assert at_year["horizon"]["churn_probability"] < record.churn.probability
    assert at_year["horizon"]["expected_purchases"] > at_window["horizon"]["expected_purchases"] > 0
    for query in ("horizon_days=soon", "horizon_days=0", "horizon_days=nan", "horizon_days=90&source=served"):
        status, refused = call(worker, "GET", f"/customers/api-cust/scores/?{query}")
        assert status == 400 and refused["errors"][0]["field"] == "horizon_days", (query, refused)

    status, details = call(worker, "GET", "/campaigns/api-coffee/offer-details/")
    assert status == 200 and details["offer"]["name"] == "Free Coffee"
    assert details["offer_config"] == {"sku": "SKU-COFFEE", "quantity": 1}
    status, offers = call(worker, "GET", "/campaigns/available-offers/")
    assert offers["total"] == 8 == len(offers["offers"])
    assert set(offers["offers"][0]) == {"offer_id", "name", "description", "category", "lifecycle_stage",
                                        "target_value_segment"}

    status, updated = call(worker, "PUT", "/campaigns/api-coffee/", {**campaign, "priority": 2}, TOKEN)
    assert status == 200 and call(worker, "GET", "/campaigns/api-coffee/")[1]["priority"] == 2
    assert call(worker, "PUT", "/campaigns/missing/", campaign, TOKEN)[0] == 404


@pytest.fixture(scope="module")
def api_worker(services, tmp_path_factory):
    run = uuid.uuid4().hex[:10]
    worker_settings = Settings(kafka_bootstrap_servers=services.kafka, redis_url=services.redis_url,
                               app_id=f"loyalty-api-{run}", topic_prefix=f"api-{run}-", partitions=4)
    from streams.kafka.admin import ensure_topics

    ensure_topics(worker_settings)
    worker = WorkerProcess(worker_settings, tmp_path_factory.mktemp("api-worker")).start()
    yield worker
    worker.stop()
    forget(worker_settings)


def test_the_api_keeps_its_openapi_contract(api_worker):
    """Generated requests for every operation: no 500, and every response's status, content type and
    body as the served OpenAPI document says."""
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{api_worker.port}{API}/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def exercise(case):
            case.call_and_validate(headers=TOKEN, checks=checks)

        exercise()


def test_any_worker_answers_for_any_customer_as_of_now_and_the_served_copy_says_its_age(settings, start_worker):
    first, second = start_worker(), start_worker()
    purchases = settings.topic("purchases")

    def owned(worker):
        return {p for p in worker.health()["assigned_partitions"] if p.startswith(purchases + ":")}

    first.wait_for(lambda h: h["ready"] and owned(first) and owned(second) and not owned(first) & owned(second),
                   what="the partitions shared by two workers")
    pos = EventPublisher(settings)
    customers = [f"own-{i:02d}" for i in range(12)]
    for i, customer in enumerate(customers):
        pos.purchase(event_id=f"own-{i}", customer_id=customer, store_id="s-1",
                     occurred_at=f"2026-03-{2 + i:02d}T10:00:00Z", total=15.0)
    assert pos.flush() == 0

    def processed(worker) -> int:
        return worker.health()["counters"]["processed"].get(purchases, 0)

    first.wait_for(lambda h: processed(first) + processed(second) == len(customers), timeout=120, what="all purchases")
    owners = set()
    for customer in customers:
        answers = [call(worker, "GET", f"/customers/{customer}/scores/?horizon_days=90") for worker in (first, second)]
        assert [status for status, _ in answers] == [200, 200], answers
        (_, one), (_, other) = answers
        # Both answers come from the one worker that owns the customer's partition.
        assert one["answered_by"] == other["answered_by"] and one["source"] == other["source"]
        assert one["source"] == "table", f"the owner reads its own state, as of the watermark: {one}"
        assert one["horizon"] == other["horizon"] and one["horizon"]["days"] == 90, "the query is forwarded too"
        owners.add(one["answered_by"])
    assert len(owners) == 2, "the customers are spread over both workers, so some answers were forwarded"

    # The served copy in Redis carries its own as_of; a reader sees whether it lags the watermark.
    first.wait_for(lambda h: call(first, "GET", f"/customers/{customers[0]}/scores/?source=served")[0] == 200,
                   what="the served copy in Redis")
    status, served = call(first, "GET", f"/customers/{customers[0]}/scores/?source=served")
    assert status == 200 and served["source"] == "redis" and served["as_of"] == served["scores"]["as_of"]
    assert served["stale"] == (served["as_of"] < served["watermark"])
    assert served["stale"], "the first customer's copy dates from their purchase; later purchases moved the watermark"
