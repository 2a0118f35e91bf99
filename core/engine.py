"""The per-event core that both the live agents and replay drive."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from core.campaigns import Catalog
from core.features import churn_features
from core.ids import assignment_id, decision_window
from core.labels import resolve_churn_on_purchase
from core.state import CustomerState, PendingLabel
from models.churn import ChurnModel
from schemas.events import EngagementEvent, PaymentEvent, PurchaseEvent
from schemas.offers import OfferAssignment


@dataclass(frozen=True)
class PurchaseOutcome:
    """What one purchase did: the new state, the scores, the offers to emit."""

    state: CustomerState
    scores: dict[str, float]
    risk_band: str
    assignments: tuple[OfferAssignment, ...]
    learned: int


@dataclass(frozen=True)
class StateOutcome:
    """An event that only changes the customer's state."""

    state: CustomerState


EngagementOutcome = StateOutcome


class LoyaltyEngine:
    """State update, label resolution, scoring, learning and decisions for one event at a time.

    The engine owns its models and mutates them as it learns; customer state goes in
    and comes out as values, so the caller decides where state lives.
    """

    def __init__(self, catalog: Catalog, churn: ChurnModel | None = None, churn_window_days: float = 30.0) -> None:
        self.catalog = catalog
        self.churn = churn if churn is not None else ChurnModel()
        self.churn_window_days = churn_window_days

    def on_purchase(self, state: CustomerState | None, event: PurchaseEvent) -> PurchaseOutcome:
        state = state if state is not None else CustomerState(event.customer_id)
        now = event.ts
        learned = 0

        if event.payment_status in ("failed", "refunded"):
            # Not a purchase: no label resolves, nothing is scored or offered.
            state = state.with_payment(f"purchase_{event.payment_status}", now)
            return PurchaseOutcome(state=state, scores={}, risk_band="", assignments=(), learned=0)

        example = resolve_churn_on_purchase(state.pending_churn, now, self.churn_window_days)
        if example is not None:
            self.churn.learn(example.features, example.label)
            learned += 1

        state = state.with_purchase(now, event.total)
        features = churn_features(state, now)
        probability = self.churn.predict_proba(features)
        if state.pending_churn is None or now >= state.pending_churn.at:
            state = replace(state, pending_churn=PendingLabel(at=now, features=features))
        scores = {"churn_probability": round(probability, 6)}

        assignments = []
        for campaign in self.catalog.active():
            window = decision_window(now, campaign.window_days)
            if state.campaign_windows.get(campaign.campaign_id) == window:
                continue  # already assigned in this window: the same id would repeat
            if not campaign.rule.matches(
                purchase_count=state.purchase_count,
                churn_probability=probability,
                basket_total=event.total,
            ):
                continue
            assignments.append(
                OfferAssignment(
                    assignment_id=assignment_id(campaign.campaign_id, event.customer_id, window),
                    campaign_id=campaign.campaign_id,
                    customer_id=event.customer_id,
                    decision_window=window,
                    offer=self.catalog.offer(campaign.offer_id),
                    offer_config=campaign.offer_config,
                    scores=scores,
                    reason=f"{campaign.name}: {campaign.rule.describe()}",
                    trigger_event_id=event.event_id,
                    issued_at=event.occurred_at,
                    expires_at=event.occurred_at + timedelta(days=campaign.expires_after_days),
                    model_versions={"churn": self.churn.version},
                )
            )
            state = state.with_assignment(campaign.campaign_id, window)

        return PurchaseOutcome(
            state=state,
            scores=scores,
            risk_band=self.churn.risk_band(probability),
            assignments=tuple(assignments),
            learned=learned,
        )

    def on_engagement(self, state: CustomerState | None, event: EngagementEvent) -> StateOutcome:
        state = state if state is not None else CustomerState(event.customer_id)
        return StateOutcome(state=state.with_engagement(event.ts))

    def on_payment(self, state: CustomerState | None, event: PaymentEvent) -> StateOutcome:
        state = state if state is not None else CustomerState(event.customer_id)
        return StateOutcome(state=state.with_payment(event.type, event.ts))
