"""The per-event core that both the live agents and replay drive."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from core import labels, trials
from core.admission import EPOCH, LATEST, TimeGate
from core.badges import award_badges

from core.campaigns import Catalog
from core.decisions import Decider, Decision
from core.features import (TREATMENT_FEATURES, category_shares, customer_features, offer_features, process_counts,
                           rfm_inputs)
from core.labels import LabeledExample
from core.limits import Reservation
from core.state import DAY, CustomerState, PendingLabel
from models.btyd import next_milestone
from models.columns import label_prediction, served_scores
from models.suite import ModelSuite
from schemas.decisions import DecisionTrace
from schemas.events import EngagementEvent, PaymentEvent, PurchaseEvent
from schemas.offers import BadgeAward, OfferAssignment
from schemas.scores import CustomerScores


# How many predictions of churn (or propensity) a customer may have waiting at once, spread over the window.
PREDICTIONS_PER_WINDOW = 3


@dataclass(frozen=True)
class EngineConfig:
    """Label windows, in days of event time."""

    churn_window_days: float = 30.0
    propensity_days: float = 14.0
    engagement_days: float = 7.0
    payment_window_days: float = 30.0
    ltv_horizon_days: float = 90.0
    upsell_factor: float = 1.2
    upsell_max_days: float = 120.0
    # Churn, propensity and lifetime value learn from labels over at most this many days and
    # answer over their own window, the purchase process carrying the weights to a longer one.
    learn_window_days: float = 30.0
    # Silent customers are reviewed (re-scored, and offered what a sweep campaign wants)
    # this long after their last purchase, then at growing gaps, up to `review_until_days` of silence.
    review_after_days: float = 14.0
    review_every_days: float = 7.0
    review_until_days: float = 365.0
    # Each gap between reviews is at least `review_every_days` and at least this fraction of the silence
    # so far (14, 21, 31, 47, 70, ... days): a customer is reviewed about log(silence) times, not weekly.
    review_growth: float = 0.5
    # Which event times are believed against the watermark (see `core.admission`): once it rests
    # on `time_gate_after` admitted records, at most `max_lead_days` ahead of it and `max_lag_days`
    # behind it; after `lead_resync_after` records in a row refused as ahead, the next one is
    # admitted (a real pause in traffic).
    max_lead_days: float = 8.0
    max_lag_days: float = 365.0
    # Absolute bounds (epoch seconds): events at or before the floor, or at or after the ceiling, are refused.
    earliest_event_time: float = EPOCH
    latest_event_time: float = LATEST  # 2100-01-01T00:00:00Z
    lead_resync_after: int = 100
    time_gate_after: int = 100


@dataclass(frozen=True)
class Scoring:
    """What a purchase or a review still has to do once its scores are known: predict, then decide."""

    trigger: str  # "purchase" or "sweep"
    features: dict[str, float]
    now: float
    catalog: Catalog  # the catalog as of the record: the decision is made against it
    event: PurchaseEvent | None = None
    previous_gap: float | None = None
    badges: tuple[BadgeAward, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What one event did: the new state, the scores, the offers to emit, the labels resolved."""

    state: CustomerState
    scores: dict[str, float] = field(default_factory=dict)
    risk_band: str = ""
    assignments: tuple[OfferAssignment, ...] = ()
    examples: tuple[LabeledExample, ...] = ()
    decision: Decision | None = None
    trace: DecisionTrace | None = None
    badges: tuple[BadgeAward, ...] = ()
    # A purchase or a review whose scores are still to come (`LoyaltyEngine.defer_scores`):
    # `LoyaltyEngine.finish` completes it, with the scores of a batch computed together.
    scoring: Scoring | None = None

    @property
    def learned(self) -> int:
        return len(self.examples)


class LoyaltyEngine:
    """State update, label resolution, learning, scoring and decisions, one event at a time.

    The engine owns its models and the watermark (the latest event time seen) and
    mutates them; customer state goes in and comes out as values, so the caller
    decides where state lives. Same events in the same order give the same outputs.

    Labels resolve, and silent customers are reviewed, by the watermark of the
    customer's partition (`mark`: the latest event time of the partition the driver
    set as `lane`), not by the latest of all. A worker reading a backlog takes its
    partitions unevenly, and a customer whose next purchase still waits in a slower
    partition must not be called churned meanwhile. A partition with nothing left to
    read catches up with the rest through `advance`. One partition: the two are one.
    """

    def __init__(
        self,
        catalog: Catalog,
        models: ModelSuite | None = None,
        config: EngineConfig | None = None,
        churn_window_days: float | None = None,
        policy: str = "nbo",
    ) -> None:
        config = config or EngineConfig()
        if churn_window_days is not None:
            config = EngineConfig(**{**config.__dict__, "churn_window_days": churn_window_days})
        self.catalog = catalog
        self.config = config
        self.models = models if models is not None else ModelSuite(
            ltv_horizon_days=config.ltv_horizon_days, treatment_features=TREATMENT_FEATURES,
            churn_window_days=config.churn_window_days, propensity_days=config.propensity_days,
            learn_window_days=config.learn_window_days)
        self.watermark = 0.0
        self.marks: dict[int, float] = {}  # partition -> its latest event time
        self.lane = 0  # the partition of the customer being processed
        self.policy = policy
        self.time_gate = TimeGate.from_config(config)
        # Purchases and reviews stop before their scores, for a driver to score many together and
        # `finish` each (`core.processing.Processor`, with models that do not move between them).
        self.defer_scores = False

    @property
    def mark(self) -> float:
        """The watermark of the partition being processed (`lane`)."""
        return self.marks.get(self.lane, 0.0)

    def advance(self, partition: int) -> None:
        """A partition with nothing left to read: its watermark catches up with the latest of all."""
        self.marks[partition] = max(self.marks.get(partition, 0.0), self.watermark)

    @property
    def churn(self):
        return self.models.churn

    # ------------------------------------------------------------------ events
    def check_event_time(self, event) -> None:
        """Raise `InvalidEvent` if the watermark does not believe the event's time (`core.admission`).

        Drivers call it on each decoded event before its step; a refused event changes nothing.
        """
        self.time_gate.check_event_time(event.ts, self.watermark)

    def on_purchase(self, state: CustomerState | None, event: PurchaseEvent) -> Outcome:
        state, now, examples = self._begin(state, event)
        if event.payment_status in ("failed", "refunded"):
            # Not a purchase: nothing is scored or offered; a failure is a payment issue.
            state = state.with_payment(f"purchase_{event.payment_status}", now)
            if event.payment_status == "failed":
                state, resolved = labels.on_payment_issue(state, now)
                examples += resolved
            return self._learned(Outcome(state), examples)

        previous_gap = (now - state.last_purchase_at) / DAY if state.last_purchase_at is not None else None
        state, resolved = labels.on_purchase(state, now, event.total)
        examples += resolved
        state = trials.on_purchase(state, now, event.total)
        categories: dict[str, float] = {}
        for item in event.items:
            categories[item.category] = categories.get(item.category, 0.0) + item.quantity * item.unit_price
        basket = None
        if categories:
            # The basket and the customer's parameters before it, for a learner; the scorer of a
            # version (frozen) updates the customer's own parameters only.
            reco = self.models.recommendation
            basket = LabeledExample("recommendation", reco.example(state.reco, categories), 0.0, 0.0, None, now, now)
            with reco.customer(event.customer_id, state.reco) as profile:
                if self.models.frozen:
                    reco.learn_customer(event.customer_id, categories, now)
                else:
                    reco.observe(event.customer_id, categories)
                    reco.learn_one({"customer_id": event.customer_id}, categories)
            state = state.evolve(reco=profile.parameters)
        state = state.with_purchase(now, event.total, categories)
        # RFM's quantiles learn every purchase: an example of its own, so a learner learns it too.
        examples.append(LabeledExample("rfm", rfm_inputs(state.gap_days_last, state), 0.0, 0.0, None, now, now))
        self.models.learn(examples)
        if basket is not None:  # learned above, with the customer's parameters: sent, not learned again
            examples.append(basket)

        features = customer_features(state, now)
        state, badges = award_badges(state, event, streak_weeks=state.purchase_streak_weeks)
        scoring = Scoring("purchase", features, now, self.catalog, event, previous_gap, tuple(badges))
        if self.defer_scores:
            return Outcome(state, examples=tuple(examples), scoring=scoring)
        return self.finish(Outcome(state, examples=tuple(examples), scoring=scoring), self._scores(features))

    def on_engagement(self, state: CustomerState | None, event: EngagementEvent) -> Outcome:
        state, now, examples = self._begin(state, event)
        state, resolved = labels.on_engagement(state, now, event.type, event.campaign_id, event.assignment_id)
        examples += resolved
        if event.type == "offer_redeemed":
            state = trials.on_redeemed(state, now, event.campaign_id, event.assignment_id)
        state = state.with_engagement(now)
        self.models.learn(examples)
        features = customer_features(state, now)
        p = self.models["engagement"].predict_one(features)
        state = self._predict(state, "engagement", features, p, now, self.config.engagement_days)
        state, badges = award_badges(state, event, streak_weeks=state.purchase_streak_weeks)
        return Outcome(state, examples=tuple(examples), badges=tuple(badges))

    def on_payment(self, state: CustomerState | None, event: PaymentEvent) -> Outcome:
        state, now, examples = self._begin(state, event)
        if event.type in ("payment_failed", "payment_late"):
            state, resolved = labels.on_payment_issue(state, now)
            examples += resolved
        state = state.with_payment(event.type, now)
        self.models.learn(examples)
        if event.type == "bill_due":
            features = customer_features(state, now)
            p = self.models["payment_default"].predict_one(features)
            state = self._predict(state, "payment_default", features, p, now, self.config.payment_window_days)
        return Outcome(state, examples=tuple(examples))

    def on_watermark(self, state: CustomerState, until: float | None = None) -> Outcome:
        """The sweep: resolve labels the partition's watermark has passed, and review a silent customer when due.

        A review re-scores the customer and lets the campaigns that run on the sweep decide:
        the customers a win-back campaign wants send no events. It happens at its own time
        (`next_review_at`), with what fell due before it resolved first and nothing after it,
        so whichever visit finds it due, at whatever watermark, the same review comes out; what
        remains due comes up at the next visit (`state.due_at()`). `until`: up to that time
        instead of the partition's watermark (a record's own customer, before the record).
        """
        mark = self.mark if until is None else until
        review = state.next_review_at
        reviewing = self.review_due(state, mark)
        upto = review if reviewing else mark
        state, examples = self._milestones(state, upto)
        state, resolved = labels.on_watermark(state, upto)
        examples += resolved
        state, closed = trials.on_watermark(state, upto)
        examples += closed
        self.models.learn(examples)
        if not reviewing:
            return Outcome(state, examples=tuple(examples))
        cfg, now = self.config, review
        silent_days = (now - state.last_purchase_at) / DAY
        gap = max(cfg.review_every_days, silent_days * cfg.review_growth)
        next_review = now + gap * DAY if silent_days + gap <= cfg.review_until_days else None
        state = state.evolve(next_review_at=next_review)
        scoring = Scoring("sweep", customer_features(state, now), now, self.catalog)
        if self.defer_scores:
            return Outcome(state, examples=tuple(examples), scoring=scoring)
        return self.finish(Outcome(state, examples=tuple(examples), scoring=scoring), self._scores(scoring.features))

    def finish(self, outcome: Outcome, scores: dict[str, float],
               labels: dict[str, float] | None = None) -> Outcome:
        """Complete a purchase or a review with its scores: its predictions for their labels, then its decision.

        `labels`: churn's, propensity's and lifetime value's predictions over their label windows, if
        already computed (`models.columns.ColumnScorer`); otherwise asked of the models here.
        """
        scoring, state = outcome.scoring, outcome.state
        features, now, cfg = scoring.features, scoring.now, self.config
        decider = Decider(scoring.catalog, self.models, self.policy)
        if scoring.trigger == "sweep":
            # Predictions as of the silence too: otherwise the models only ever learn from the
            # moment of a purchase, where days since the last one is always zero.
            # A review predicts even while earlier predictions of the task wait (`_predict`'s spacing):
            # with a long window, the silent weeks are most of what the model must learn. Not lifetime
            # value: its calibration scales by spend seen over spend predicted, and the reviews' near-zero
            # answers made that ratio run away (mean 800 where 24 was spent, CDNOW, 182 days).
            state = self._predict_buying(state, features, scores, now, labels=labels)
            decision = decider.consider(state, features, scores, now, "sweep", review_at=now)
            return Outcome(state, scores, self.churn.risk_band(scores["churn_probability"]), (), outcome.examples,
                           decision=decision)
        event = scoring.event
        value = self.models["lifetime_value"]
        state = self._predict_buying(state, features, scores, now, scoring.previous_gap, labels=labels)
        state = self._predict(state, "upsell", features, scores["upsell_propensity"], now, cfg.upsell_max_days,
                              extra=state.avg_basket * cfg.upsell_factor)
        ltv = labels["lifetime_value"] if labels is not None else label_prediction(
            value, features, scores["lifetime_value"])
        state = self._predict(state, "lifetime_value", features, ltv, now, value.horizon_days, spaced=True)
        state = self._predict(state, "engagement", features, scores["engagement_score"] / 100, now, cfg.engagement_days)
        state = state.evolve(next_review_at=now + cfg.review_after_days * DAY)
        decision = decider.consider(state, features, scores, now, "purchase", event.event_id, event.total)
        return Outcome(state, scores, self.churn.risk_band(scores["churn_probability"]), (), outcome.examples,
                       decision=decision, badges=scoring.badges)

    def soonest_deadline(self, scoring: Scoring) -> float:
        """The soonest deadline `finish` could leave the customer with: a prediction's window, the next
        review after a purchase, or an offer's expiry or comparison window from the catalog it decides with."""
        cfg, m = self.config, self.models
        days = [m["churn"].horizon_days, m["propensity"].horizon_days]
        if scoring.trigger == "purchase":
            days += [m["lifetime_value"].horizon_days, cfg.engagement_days, cfg.upsell_max_days, cfg.review_after_days]
        return scoring.now + min(*days, scoring.catalog.shortest_window_days()) * DAY

    def decider(self) -> Decider:
        return Decider(self.catalog, self.models, self.policy)

    def commit(self, outcome: Outcome, reservation: Reservation | None) -> Outcome:
        """Apply what the limits answered to a decision: the assignment, the new state, the trace."""
        if outcome.decision is None:
            return outcome
        state, assignment, trace = self.decider().commit(outcome.state, outcome.decision, reservation)
        return replace(outcome, state=state, assignments=(assignment,) if assignment else (), trace=trace)

    # ------------------------------------------------------------------ scores
    def current(self, state: CustomerState, now: float | None = None) -> Outcome:
        """The flat scores of this customer as of `now` (default the watermark: what the serving copy keeps)."""
        scores = self._scores(customer_features(state, self.watermark if now is None else now))
        return Outcome(state, scores, self.churn.risk_band(scores["churn_probability"]))

    def at_horizon(self, state: CustomerState, days: float, now: float | None = None) -> dict:
        """Churn (no purchase within `days`), lifetime value (spend within `days`) and expected purchase days
        within them, as of `now` (default the watermark), for any horizon: the same models, their weights
        learned over their label windows and the purchase process's closed forms over `days`
        (`LinearClassifier.predict_at`). ValueError for a horizon that is not a positive number of days."""
        now = self.watermark if now is None else now
        features = customer_features(state, now)
        churn, value = self.models["churn"], self.models["lifetime_value"]
        return {
            "days": days,
            "churn_probability": round(churn.predict_at(features, days), 6),
            "lifetime_value": round(value.predict_at(features, days), 2),
            "expected_purchases": round(value.purchases_at(features, days), 4),
            "learned_over_days": churn.horizon_days,
        }

    def recommendations(self, state: CustomerState) -> list[dict]:
        """The customer's top categories (their own parameters come from their state)."""
        reco = self.models.recommendation
        with reco.customer(state.customer_id, state.reco):
            return reco.predict_one({"customer_id": state.customer_id})

    def as_of(self, ts: float | None = None) -> str:
        """`ts` (default: the watermark) as an ISO time."""
        return datetime.fromtimestamp(self.watermark if ts is None else ts, tz=timezone.utc).isoformat()

    def profile(self, state: CustomerState, now: float | None = None) -> CustomerScores:
        """Every model's answer for this customer as of `now` (default: the watermark)."""
        now = self.watermark if now is None else now
        features = customer_features(state, now)
        scores = self._scores(features)
        explanation = self.churn.explanation(features)
        rfm = self.models.rfm.predict_one(rfm_inputs(features["days_since_purchase"], state))
        shares = category_shares(state)
        response = {
            c.campaign_id: round(self._response(features, c.offer_id, shares), 6) for c in self.catalog.active()
        }
        return CustomerScores(
            customer_id=state.customer_id,
            as_of=datetime.fromtimestamp(now, tz=timezone.utc),
            churn={k: v for k, v in explanation.items() if k != "contributions"},
            propensity_to_buy=scores["propensity_to_buy"],
            engagement_score=scores["engagement_score"],
            campaign_response=response,
            upsell_propensity=scores["upsell_propensity"],
            payment_default_risk=scores["payment_default_risk"],
            lifetime_value=scores["lifetime_value"],
            rfm=rfm,
            recommendations=self.recommendations(state),
            last_decisions=state.recent_decisions,
            badges=state.badges,
            model_versions=self.models.versions(),
        )

    # ------------------------------------------------------------------ steps
    def _begin(self, state: CustomerState | None, event) -> tuple[CustomerState, float, list[LabeledExample]]:
        """Move the watermark and first resolve what fell due before this event."""
        state = state if state is not None else CustomerState(event.customer_id)
        now = event.ts
        self.watermark = max(self.watermark, now)
        self.marks[self.lane] = mark = max(self.mark, now)
        state, examples = self._milestones(state, now)
        state, resolved = labels.on_watermark(state, mark)
        return state, now, examples + list(resolved)

    def _learned(self, outcome: Outcome, examples: list[LabeledExample]) -> Outcome:
        self.models.learn(examples)
        return Outcome(outcome.state, outcome.scores, outcome.risk_band, outcome.assignments, tuple(examples))

    def _scores(self, features: dict[str, float]) -> dict[str, float]:
        return served_scores(self.models, features)

    def _predict_buying(self, state, features, scores, now, previous_gap: float | None = None,
                        labels: dict[str, float] | None = None) -> CustomerState:
        """Churn's and propensity's predictions, spaced over their label windows, at a purchase or a review.

        `previous_gap`: at a purchase, the gap it closed, graded beside them as the heuristic to beat (the
        longer the gap, the likelier the next is long; mapped monotonically into [0, 1], which keeps its
        ranking and so its ROC AUC).
        """
        churn, propensity = self.models["churn"], self.models["propensity"]
        gap = None if previous_gap is None else 1.0 - math.exp(-previous_gap / churn.horizon_days)
        if labels is None:
            labels = {"churn": label_prediction(churn, features, scores["churn_probability"]),
                      "propensity": label_prediction(propensity, features, scores["propensity_to_buy"])}
        state = self._predict(state, "churn", features, labels["churn"], now, churn.horizon_days, baseline=gap,
                              spaced=True)
        return self._predict(state, "propensity", features, labels["propensity"],
                             now, propensity.horizon_days, baseline=None if gap is None else 1.0 - gap, spaced=True)

    @staticmethod
    def review_due(state: CustomerState, at: float) -> bool:
        """A review of this silent customer falls due by `at`."""
        return state.next_review_at is not None and state.next_review_at <= at and state.last_purchase_at is not None

    def _milestones(self, state: CustomerState, until: float) -> tuple[CustomerState, list[LabeledExample]]:
        """The customer as the purchase process sees them at each milestone age reached by `until`.

        Each is an example of task `process` (features x, t_x, T, m; no label), learned first in
        the record's examples and sent to `labels` with them, so a learner sees the process
        learn in the worker's order. The state is as it was at the milestone: whatever changed
        it since would have come first.
        """
        at = state.next_milestone_at
        if at is None or at > until or state.first_purchase_at is None:
            return state, []
        first = state.first_purchase_at
        x, t_x, m = process_counts(state)
        # The first milestone shows what changed since the last one shown; later ones here, nothing.
        x0, m0 = state.shown_repeat_days, state.shown_repeat_spend
        observations = []
        while at is not None and at <= until:
            age = (at - first) / DAY
            observations.append(LabeledExample("process", {"x": float(x), "t_x": float(t_x), "T": age, "m": float(m),
                                                           "x0": float(x0), "m0": float(m0)}, 0.0, 0.0, None, at, at))
            x0, m0 = x, m
            following = next_milestone(age)
            at = None if following is None else first + following * DAY
        return state.evolve(next_milestone_at=at, shown_repeat_days=x, shown_repeat_spend=m), observations

    def _predict(self, state, task, features, prediction, now, days, baseline=None, extra=0.0,
                 spaced=False) -> CustomerState:
        """Store a prediction for its label, unless one for this task is still pending.

        `spaced`: unless one for this task was made within the last third of its window. A customer
        then has at most about three of the task pending, each under its own key (`labels.task_of`).
        """
        key = task
        if task in state.pending:
            if not spaced:
                return state
            latest = max(p.at for k, p in state.pending.items() if labels.task_of(k) == task)
            key = f"{task}@{int(now)}"
            if now - latest < days * DAY / PREDICTIONS_PER_WINDOW or key in state.pending:
                return state
        self.models.pending[task] += 1
        # Rounded as stored: full float precision would only lengthen every state record.
        label = PendingLabel(at=now, features=features, prediction=round(prediction, 6), deadline=now + days * DAY,
                             baseline=None if baseline is None else round(baseline, 6), extra=round(extra, 2))
        return state.with_pending(key, label)

    def _response(self, features: dict[str, float], offer_id: str, shares: dict[str, float] | None = None) -> float:
        offer = self.catalog.offer(offer_id)
        x = offer_features(features, offer.category, offer.lifecycle_stage, shares)
        return self.models["campaign_response"].predict_one(x)
