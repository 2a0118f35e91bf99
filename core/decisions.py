"""Offer decisions: who is eligible for what, ranked, then committed once limits agree.

Deciding is pure and happens in two steps around the only I/O, the limits:

1. `Decider.consider` lists the campaigns a customer is eligible for right now,
   ranked by next best offer's expected value, and records why every other
   campaign was left out (schedule, window, audience, control group);
2. the driver asks the limits (Redis, or its twin in replay) to reserve the first
   candidate they allow;
3. `Decider.commit` turns the reservation into the assignment, the customer's new
   state and the decision trace.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from core import trials
from core.campaigns import Campaign, Catalog, offer_value
from core.features import category_shares, offer_features, rfm_inputs
from core.ids import assignment_id, decision_window, uuid5_text
from core.limits import Candidate, Reservation
from core.state import MAX_PENDING_OFFERS, CustomerState, PendingLabel
from models.suite import ModelSuite
from schemas.decisions import ConsideredOffer, DecisionTrace
from schemas.offers import OfferAssignment, OfferSnapshot

_DECISION_NAMESPACE = uuid.UUID("7f1d8e2a-4b3c-4d5e-8f60-646563697369")
# The models whose versions an assignment names.
ASSIGNMENT_MODELS = ("churn", "campaign_response", "next_best_offer")


def in_control_group(customer_id: str, campaign_id: str, share: float) -> bool:
    """A fixed share of each campaign's audience, the same on every worker and in replay.

    >>> in_control_group("cust-1", "camp", 0.0), in_control_group("cust-1", "camp", 0.5) == in_control_group("cust-1", "camp", 0.5)
    (False, True)
    """
    if share <= 0:
        return False
    digest = hashlib.blake2b(f"control|{campaign_id}|{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def _probability(decision: Decision, chosen: Option) -> float | None:
    """The policy's probability of the offer it sent: known for its top pick only."""
    if decision.options and chosen.assignment_id == decision.options[0].assignment_id:
        return round(decision.choice_probability, 6) if decision.choice_probability is not None else None
    return None


def lifecycle_stage(purchase_count: int, churn_risk: str) -> str:
    if purchase_count <= 1:
        return "acquisition"
    if churn_risk == "HIGH":
        return "win_back"
    return "growth" if purchase_count < 5 else "retention"


@dataclass(frozen=True)
class Option:
    """An eligible campaign for this customer now, with what ranked it."""

    campaign: Campaign
    offer: OfferSnapshot
    window: str
    assignment_id: str
    propensity: float
    sampled: float
    value: float
    expected_value: float
    features: dict[str, float]


@dataclass(frozen=True)
class Decision:
    customer_id: str
    trigger: str
    at: float
    trigger_event_id: str | None
    options: tuple[Option, ...]
    blocked: dict[str, str]
    held_out: tuple[str, ...]
    scores: dict[str, float]
    profile: dict = field(default_factory=dict)
    # what the options were ranked from, to rebuild one the limits recall (`Decider.commit`)
    inputs: tuple = ()
    # the versions of the models that ranked the options, for the assignment (`Decider.commit`)
    versions: dict[str, str] = field(default_factory=dict)
    # a sweep's decision: the review it answers (the customer's state fixes it, the sweep's moment does not)
    review_at: float | None = None
    # the top pick's campaign when its control group holds the customer (who then gets no offer)
    held_out_for: str | None = None
    # the policy's probability of picking its top pick among every campaign ranked (`models.uplift`)
    choice_probability: float | None = None
    ranked: tuple[str, ...] = ()
    highest_priority: str | None = None

    @property
    def key_recalls(self) -> bool:
        """No option, but an audience rule (which reads the models) is why, and the decision has a key:
        models restored from an older snapshot may have filtered out what a first run reserved."""
        keyed = self.trigger_event_id is not None or self.review_at is not None
        if not keyed or self.options:
            return False
        # or the top pick is now one whose control group holds the customer
        return self.held_out_for is not None or any(why.startswith("audience:") for why in self.blocked.values())

    @property
    def worth_tracing(self) -> bool:
        """Something got past the audience rules: the trace says what happened to it."""
        return bool(self.options or self.held_out)

    def candidates(self) -> list[Candidate]:
        day = decision_window(self.at, 1)
        return [
            Candidate(
                assignment_id=o.assignment_id, campaign_id=o.campaign.campaign_id, customer_id=self.customer_id,
                at=self.at, day=day, total_budget=o.campaign.total_budget, daily_budget=o.campaign.daily_budget,
                customer_cap=o.campaign.customer_cap, cooldown_days=o.campaign.cooldown_days,
            )
            for o in self.options
        ]


class Decider:
    """`policy` is "nbo" (rank by expected value) or "random" (a uniform pick among the
    eligible, seeded by the decision: the baseline next best offer has to beat)."""

    def __init__(self, catalog: Catalog, models: ModelSuite, policy: str = "nbo") -> None:
        self.catalog = catalog
        self.models = models
        self.policy = policy

    def consider(self, state: CustomerState, features: dict[str, float], scores: dict[str, float], at: float,
                 trigger: str, trigger_event_id: str | None = None, basket_total: float | None = None,
                 review_at: float | None = None) -> Decision:
        when = datetime.fromtimestamp(at, tz=timezone.utc)
        risk = self.models.churn.risk_band(scores["churn_probability"])
        rfm = self.models.rfm.predict_one(rfm_inputs(features["days_since_purchase"], state))
        profile = {
            "lifecycle_stage": lifecycle_stage(state.purchase_count, risk),
            "value_segment": rfm["value_segment"],
            "rfm_segment": rfm["segment"],
            "churn_risk": risk,
            "churn_probability": scores["churn_probability"],
            "purchase_count": state.purchase_count,
            "basket_total": basket_total,
        }
        ranked, blocked = [], {}
        shares = category_shares(state)
        for campaign in self.catalog.by_id():
            cid = campaign.campaign_id
            if not campaign.live_at(when) or not campaign.runs_on(trigger):
                continue
            window = decision_window(at, campaign.window_days)
            if state.campaign_windows.get(cid) == window:
                blocked[cid] = "already assigned in this decision window"
                continue
            refusal = campaign.audience.refusal(profile)
            if refusal is not None:
                blocked[cid] = f"audience: {refusal}"
                continue
            option = self._option(campaign, window, state.customer_id, features, shares, state.avg_basket)
            ranked.append((option, in_control_group(state.customer_id, cid, campaign.control_share)))
        ranked.sort(key=lambda ranking: (-ranking[0].expected_value, ranking[0].campaign.campaign_id))
        if self.policy == "random":
            seed = hashlib.blake2b(f"random|{state.customer_id}|{at!r}".encode(), digest_size=8).digest()
            random.Random(int.from_bytes(seed, "big")).shuffle(ranked)
        # The control group comes after the choice: a customer held out of the top pick's campaign
        # gets nothing from this decision, so both arms of the campaign's comparison are customers
        # the policy picked it for (`core.trials`). Held out of a campaign further down, or of one
        # whose comparison they already entered, they get the best of the rest, as a treated customer
        # whose campaign is cooling down does.
        held_out = tuple(o.campaign.campaign_id for o, control in ranked if control)
        ranked = [(o, control) for o, control in ranked
                  if not (control and trials.entered(state, o.campaign.campaign_id))]
        options = [o for o, control in ranked if not control]
        held_out_for = probability = top_priority = None
        if ranked:
            top, top_control = ranked[0]
            if top_control:
                held_out_for, options = top.campaign.campaign_id, []
            probability = self._choice_probability([o for o, _ in ranked], top)
            top_priority = min(ranked, key=lambda r: (-r[0].campaign.priority, r[0].campaign.campaign_id))[0]
            top_priority = top_priority.campaign.campaign_id
        # As the options were ranked: the limits may answer after later records have been learned from.
        versions = {}
        if ranked:
            ranked_by = self.models.versions()
            versions = {name: ranked_by[name] for name in ASSIGNMENT_MODELS}
        return Decision(state.customer_id, trigger, at, trigger_event_id, tuple(options), blocked, held_out,
                        scores, profile, (features, shares, state.avg_basket), versions, review_at,
                        held_out_for, probability, tuple(o.campaign.campaign_id for o, _ in ranked), top_priority)

    def _choice_probability(self, ranked: list[Option], top: Option) -> float:
        """The probability that the policy picks `top` among the `ranked` options (`models.uplift`)."""
        if self.policy == "random":
            return 1.0 / len(ranked)
        return self.models.nbo.choice_probability(
            [(o.campaign.campaign_id, o.propensity, o.value, o.campaign.priority) for o in ranked],
            top.campaign.campaign_id, key=top.assignment_id)

    def _option(self, campaign: Campaign, window: str, customer_id: str, features: dict[str, float],
                shares: dict[str, float], avg_basket: float) -> Option:
        cid = campaign.campaign_id
        offer = self.catalog.offer(campaign.offer_id)
        x = offer_features(features, offer.category, offer.lifecycle_stage, shares)
        propensity = self.models["campaign_response"].predict_one(x)
        value = offer_value(offer.category, self.catalog.config(campaign), avg_basket)
        aid = assignment_id(cid, customer_id, window)
        ev, sampled = self.models.nbo.expected_value(cid, propensity, value, campaign.priority, key=aid)
        return Option(campaign, offer, window, aid, propensity, sampled, value, ev, x)

    def _trial(self, state: CustomerState, decision: Decision, chosen: Option | None) -> CustomerState:
        """Enter the customer into the top pick's comparison (`core.trials`): treated when its offer went
        out, held out when its control group holds them. A decision whose top pick the limits refused
        enters nobody."""
        if decision.held_out_for is not None:
            cid, treated = decision.held_out_for, False
        elif chosen is not None and decision.options and chosen.assignment_id == decision.options[0].assignment_id:
            cid, treated = chosen.campaign.campaign_id, True
        else:
            return state
        logged = (decision.at, self.catalog.campaign(cid).attribution_window_days, decision.choice_probability or 1.0,
                  decision.ranked, decision.highest_priority or "", decision.scores.get("lifetime_value", 0.0))
        if trials.entered(state, cid):
            # Entered before: a treated offer still counts for policy value, in a window of its own.
            return trials.open_decision(state, chosen.assignment_id, cid, *logged) if treated else state
        return trials.open_trial(state, cid, treated, *logged)

    def _recalled(self, decision: Decision, reserved: Candidate) -> Option | None:
        """The option a decision reserved before a crash, when this run of it did not list it.

        Its window is that of the first run: a sweep redone after a crash may run later.
        """
        campaign = next((c for c in self.catalog.campaigns if c.campaign_id == reserved.campaign_id), None)
        if campaign is None or not decision.inputs:
            return None
        window = decision_window(reserved.at, campaign.window_days)
        option = self._option(campaign, window, decision.customer_id, *decision.inputs)
        return option if option.assignment_id == reserved.assignment_id else None

    def commit(self, state: CustomerState, decision: Decision, reservation: Reservation | None):
        """(new state, the assignment or None, the trace or None) for a decision the limits answered."""
        blocked = dict(decision.blocked)
        if reservation is None:
            for option in decision.options:
                blocked[option.campaign.campaign_id] = "limits: not confirmed (limits unavailable: fail closed)"
            chosen = None
        else:
            blocked.update({cid: f"limits: {why}" for cid, why in reservation.blocked.items()})
            chosen_id = reservation.chosen.assignment_id if reservation.chosen else None
            chosen = next((o for o in decision.options if o.assignment_id == chosen_id), None)
            if chosen is None and chosen_id is not None:
                chosen = self._recalled(decision, reservation.chosen)
        assignment = None
        when = datetime.fromtimestamp(decision.at, tz=timezone.utc)
        if chosen is not None:
            campaign = chosen.campaign
            expires = when + timedelta(days=campaign.expires_after_days)
            assignment = OfferAssignment(
                assignment_id=chosen.assignment_id,
                campaign_id=campaign.campaign_id,
                customer_id=decision.customer_id,
                decision_window=chosen.window,
                offer=chosen.offer,
                offer_config=campaign.offer_config,
                scores={**decision.scores, "campaign_response": round(chosen.propensity, 6),
                        "expected_value": round(chosen.expected_value, 4)},
                model_versions=decision.versions,
                choice_probability=_probability(decision, chosen),
                reason=(f"{campaign.name}: best expected value of {len(decision.options)} eligible "
                        f"({decision.trigger}); audience {campaign.audience.describe()}"),
                trigger_event_id=decision.trigger_event_id or f"sweep@{when.isoformat()}",
                issued_at=when,
                expires_at=expires,
            )
            state = state.with_assignment(campaign.campaign_id, chosen.window)
            if chosen.assignment_id not in state.pending_offers:
                if len(state.pending_offers) >= MAX_PENDING_OFFERS:
                    oldest = min(state.pending_offers, key=lambda k: state.pending_offers[k].at)
                    state = state.with_pending_offer(oldest, None)  # its label is given up, not guessed
                    self.models.pending["campaign_response"] -= 1
                self.models.pending["campaign_response"] += 1
                state = state.with_pending_offer(chosen.assignment_id, PendingLabel(
                    at=decision.at, features=chosen.features, prediction=chosen.propensity,
                    deadline=expires.timestamp(), ref=campaign.campaign_id))
        state = self._trial(state, decision, chosen)
        trace = None
        if decision.worth_tracing:
            key = decision.trigger_event_id or f"sweep@{decision.at!r}"
            trace = DecisionTrace(
                decision_id=uuid5_text(_DECISION_NAMESPACE, f"{decision.customer_id}|{key}"),
                customer_id=decision.customer_id,
                trigger=decision.trigger,
                trigger_event_id=decision.trigger_event_id,
                decided_at=when,
                eligible=[
                    ConsideredOffer(campaign_id=o.campaign.campaign_id, assignment_id=o.assignment_id,
                                    offer_id=o.offer.offer_id, response_propensity=round(o.propensity, 6),
                                    sampled_redemption=round(o.sampled, 6), offer_value=round(o.value, 4),
                                    priority=o.campaign.priority, expected_value=round(o.expected_value, 4))
                    for o in decision.options
                ],
                blocked=blocked,
                held_out=list(decision.held_out),
                held_out_for=decision.held_out_for,
                choice_probability=_probability(decision, chosen) if chosen else decision.choice_probability,
                chosen_campaign_id=chosen.campaign.campaign_id if chosen else None,
                assignment_id=chosen.assignment_id if chosen else None,
                redelivery=bool(reservation and reservation.already and chosen),
                scores=decision.scores,
                profile=decision.profile,
                model_versions=decision.versions,
            )
            state = state.with_decision({
                "decision_id": trace.decision_id, "trigger": trace.trigger, "decided_at": when.isoformat(),
                "chosen_campaign_id": trace.chosen_campaign_id, "assignment_id": trace.assignment_id,
                "held_out": list(decision.held_out),
            })
        return state, assignment, trace
