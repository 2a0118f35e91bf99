"""Run every model on a sample customer and validate what each one returns.

The old platform's "test all ML models" script, reborn: each model is called
through its own method, and its answer is checked against the structure the
score record (`schemas.scores`) publishes. A model that raises or returns
anything malformed fails its check by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import TypeAdapter, ValidationError, confloat

from core.engine import LoyaltyEngine
from core.features import customer_features, rfm_inputs
from sim.population import generate, topic_of
from core.replay import Replay
from core.state import CustomerState
from schemas import encode
from schemas.scores import ChurnScore, Recommendation, RFMScore


@dataclass(frozen=True)
class Check:
    model: str
    ok: bool
    detail: str
    output: Any = None


Probability = TypeAdapter(confloat(ge=0, le=1, allow_inf_nan=False))


def _probability(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a probability, got {type(value).__name__} {value!r}")
    return Probability.validate_python(value)


def _score_0_100(value: Any) -> float:
    return TypeAdapter(confloat(ge=0, le=100, allow_inf_nan=False)).validate_python(value)


def _non_negative(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a finite amount >= 0, got {value!r}")
    return value


def _per_campaign(value: Any) -> dict:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"expected a probability per active campaign, got {value!r}")
    return {k: _probability(v) for k, v in value.items()}


def _churn(value: Any) -> ChurnScore:
    return ChurnScore.model_validate({k: v for k, v in value.items() if k != "contributions"})


def _recommendations(value: Any) -> list:
    items = TypeAdapter(list[Recommendation]).validate_python(value)
    if not items:
        raise ValueError("no recommendation for a customer with purchases")
    return items


def sample_customer(engine: LoyaltyEngine, customers: int = 60, days: int = 120, seed: int = 1) -> CustomerState:
    """Warm `engine` on a small simulated population; return its busiest customer."""
    replay = Replay(engine)
    replay.run((topic_of(e), e.customer_id.encode(), encode(e)) for e in generate(customers, days, seed)[1])
    return max(replay.states.values(), key=lambda s: (s.purchase_count, s.customer_id))


def check_models(engine: LoyaltyEngine, state: CustomerState) -> list[Check]:
    """One check per model: call it on `state` as of the watermark, validate its answer."""
    features = customer_features(state, engine.watermark)
    models = engine.models
    calls: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]] = {
        "churn": (lambda: models.churn.explanation(features), _churn),
        "propensity": (lambda: models["propensity"].predict_one(features), _probability),
        "engagement": (lambda: 100 * models["engagement"].predict_one(features), _score_0_100),
        "campaign_response": (
            lambda: {c.campaign_id: engine._response(features, c.offer_id) for c in engine.catalog.active()},
            _per_campaign,
        ),
        "upsell": (lambda: models["upsell"].predict_one(features), _probability),
        "payment_default": (lambda: models["payment_default"].predict_one(features), _probability),
        "lifetime_value": (lambda: models["lifetime_value"].predict_one(features), _non_negative),
        "rfm": (
            lambda: models.rfm.predict_one(rfm_inputs(features["days_since_purchase"], state)),
            RFMScore.model_validate,
        ),
        "recommendation": (lambda: engine.recommendations(state), _recommendations),
    }
    results = []
    for name, (call, validate) in calls.items():
        try:
            output = call()
        except Exception as error:  # noqa: BLE001 - a raising model is a failed check, not a crash
            results.append(Check(name, False, f"raised {type(error).__name__}: {error}"))
            continue
        try:
            validate(output)
        except (ValidationError, ValueError, TypeError, AttributeError) as error:
            text = str(error).replace("\n", " ")
            results.append(Check(name, False, f"malformed output: {text[:300]}", output))
            continue
        results.append(Check(name, True, "ok", output))
    try:
        engine.profile(state)
    except Exception as error:  # noqa: BLE001
        results.append(Check("score_record", False, f"{type(error).__name__}: {str(error)[:300]}"))
    else:
        results.append(Check("score_record", True, "ok"))
    return results
