"""Turning pending predictions into labeled examples, by event time only.

Each function takes a customer's state and what just happened (an event, or the
watermark passing deadlines) and returns the state without the predictions it
resolved, plus the labeled examples. Learning from them is someone else's job
(`models.suite.ModelSuite.learn`), so it can later move to a process of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.state import CustomerState, PendingLabel

# What each task's label means, and how it resolves when its deadline passes first.
TASKS = {
    "churn": "no purchase within the churn window (known at the first purchase, taught when the window passes)",
    "propensity": "a purchase within the propensity window (known at the first purchase, taught when it passes)",
    "engagement": "an engagement within the engagement window (0 when it passes)",
    "upsell": "the next basket beats the average basket by the upsell factor (0 when none comes in time)",
    "payment_default": "a payment fails or is late within the payment window (0 when it passes)",
    "lifetime_value": "spend over the horizon (the sum when it passes)",
    "campaign_response": "the offer is accepted or redeemed before it expires (0 on dismissal or expiry)",
}

# Churn and propensity resolve at their deadline whatever happens: a purchase within the window
# marks the pending prediction (`extra` 1) and this is its label then.
BOUGHT = {"churn": 0.0, "propensity": 1.0}

ON_DEADLINE = {
    "churn": 1.0, "propensity": 0.0, "engagement": 0.0, "upsell": 0.0, "payment_default": 0.0,
}


@dataclass(frozen=True)
class LabeledExample:
    task: str
    features: dict[str, float]
    label: float
    prediction: float
    baseline: float | None
    predicted_at: float
    resolved_at: float
    ref: str | None = None


def task_of(key: str) -> str:
    """The task of a pending label's key: `churn`, or `churn@<time>` for a later one of the same task.

    >>> task_of("churn"), task_of("churn@1700000000")
    ('churn', 'churn')
    """
    return key.partition("@")[0]


def _example(task: str, pending: PendingLabel, label: float, at: float) -> LabeledExample:
    return LabeledExample(task, pending.features, float(label), pending.prediction, pending.baseline, pending.at, at, pending.ref)


def _live(pending: PendingLabel | None, at: float) -> bool:
    """A pending label this event can resolve: made before it, deadline not yet passed."""
    return pending is not None and pending.at <= at and (pending.deadline is None or at <= pending.deadline)


def on_purchase(state: CustomerState, at: float, total: float) -> tuple[CustomerState, list[LabeledExample]]:
    """A purchase at `at`: upsell resolves; churn (0) and propensity (1) are known, and wait for their
    deadline to be taught (`on_watermark`); spend adds to lifetime value.

    >>> s = CustomerState("c").with_pending("churn", PendingLabel(at=0.0, features={}, deadline=30 * 86400.0))
    >>> s, examples = on_purchase(s, 10 * 86400.0, 25.0)
    >>> examples, s.pending["churn"].extra
    ([], 1.0)
    >>> [(e.task, e.label) for e in on_watermark(s, 30 * 86400.0)[1]]
    [('churn', 0.0)]
    """
    examples = []
    for key, pending in sorted(state.pending.items()):
        task = task_of(key)
        if task not in ("churn", "propensity", "upsell") or not _live(pending, at):
            continue
        if task == "upsell":
            examples.append(_example(task, pending, float(total > pending.extra), at))
            state = state.with_pending(key, None)
        elif not pending.extra:
            # Known now, learned at the deadline: a window's outcome is taught when every outcome
            # of a window opened then is known, so quick purchases do not teach before the silences.
            state = state.with_pending(key, replace(pending, extra=1.0))
    for key, ltv in sorted(state.pending.items()):
        if task_of(key) == "lifetime_value" and _live(ltv, at):
            state = state.with_pending(key, replace(ltv, extra=round(ltv.extra + total, 2)))
    return state, examples


def on_engagement(
    state: CustomerState, at: float, kind: str, campaign_id: str | None = None, assignment_id: str | None = None,
) -> tuple[CustomerState, list[LabeledExample]]:
    """An engagement resolves the engagement label (1) and, for offer responses, the offer's."""
    examples = []
    pending = state.pending.get("engagement")
    if _live(pending, at):
        examples.append(_example("engagement", pending, 1.0, at))
        state = state.with_pending("engagement", None)
    if kind in ("offer_accepted", "offer_redeemed", "offer_dismissed"):
        state = state.with_offer_outcome(kind.removeprefix("offer_"))
        key = assignment_id if assignment_id in state.pending_offers else _latest_offer(state, campaign_id)
        offer = state.pending_offers.get(key) if key else None
        if _live(offer, at):
            examples.append(_example("campaign_response", offer, float(kind != "offer_dismissed"), at))
            state = state.with_pending_offer(key, None)
    return state, examples


def _latest_offer(state: CustomerState, campaign_id: str | None) -> str | None:
    matching = [(p.at, k) for k, p in state.pending_offers.items() if campaign_id and p.ref == campaign_id]
    return max(matching)[1] if matching else None


def on_payment_issue(state: CustomerState, at: float) -> tuple[CustomerState, list[LabeledExample]]:
    """A failed or late payment resolves the payment default label as 1."""
    pending = state.pending.get("payment_default")
    if not _live(pending, at):
        return state, []
    return state.with_pending("payment_default", None), [_example("payment_default", pending, 1.0, at)]


def on_watermark(state: CustomerState, watermark: float) -> tuple[CustomerState, list[LabeledExample]]:
    """Event time reached `watermark`: every pending label whose deadline passed resolves.

    >>> s = CustomerState("c").with_pending("churn", PendingLabel(at=0.0, features={}, deadline=30.0))
    >>> on_watermark(s, 29.0)[1], [(e.task, e.label) for e in on_watermark(s, 30.0)[1]]
    ([], [('churn', 1.0)])
    """
    examples = []
    for key, pending in sorted(state.pending.items()):
        if pending.deadline is not None and pending.deadline <= watermark:
            task = task_of(key)
            label = pending.extra if task == "lifetime_value" else ON_DEADLINE[task]
            if task in BOUGHT and pending.extra:  # a purchase came within the window (`on_purchase`)
                label = BOUGHT[task]
            examples.append(_example(task, pending, label, pending.deadline))
            state = state.with_pending(key, None)
    for key, pending in sorted(state.pending_offers.items()):
        if pending.deadline is not None and pending.deadline <= watermark:
            examples.append(_example("campaign_response", pending, 0.0, pending.deadline))
            state = state.with_pending_offer(key, None).with_offer_outcome("expired")
    return state, examples
