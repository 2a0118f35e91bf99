"""A customer's trials: the attribution windows that measure what a campaign's offer did.

A trial opens the first time the next best offer's top pick for the customer is a
campaign (`core.decisions.Decider.commit`): in the treated arm when the offer went
out, in the held-out arm when the campaign's control group holds the customer (who
then gets nothing from that decision). Until its end, by event time, the window
counts the customer's purchases and spend after the decision, and a redemption of
the campaign's offer. When the watermark passes the end, the trial is a labelled
example of model `uplift` (`models.uplift.CampaignPerformance` folds them).

Each customer enters a campaign's comparison once: later decisions would measure
the same customer again, in the same arm.

Policy value needs more: every offer the policy sent, each with the probability its
choice had. Logging only each customer's first entry per campaign keeps a sample that
earlier choices select (a customer offered A nine times in ten and B once is logged
once for each), so its importance weights do not average to one and the estimates are
biased (their mean weight was 0.59 for the uniform policy, 0.39 for "highest
priority"). So a treated decision of a campaign the customer entered before opens a
*decision window* of its own (`open_decision`), counted the same way, whose example
says `repeat` and feeds policy value only.

A decision's reward for policy value is what its own offer brought: the redemption, and
the spend of the basket that redeemed it (the customer's purchase within `BASKET_SECONDS`
of the redemption, whichever of the two arrives first). The window's whole spend is no
reward for one decision: it holds the customer's own shopping, common to every policy,
and the effects of the offers sent after it. With it as the reward, the estimated
differences between policies were about a third of the true ones, and spend ranked the
three policies right in 13 of 20 simulated seeds. The window's spend stays the measure
of the campaign's comparison with its holdout, which is about everything the offer did.

In the state, `trials` maps a campaign id to the open window as a list:
`[arm, start, end, purchases, spend, redeemed, propensity, eligible ids, highest-priority id, value, basket]`
(redeemed: 0, or the event time of its own offer's redemption, 1.0 for a later offer's or
a time unknown; value: the customer's predicted lifetime
value at the decision, a covariate for policy value; basket: the redeemed basket's spend),
and a decision window under "@" + its assignment id, the same list with the campaign id
appended; `tried` lists the campaigns whose trial has closed (the latest `MAX_TRIED`).
Windows written before `basket` existed (ten places, or eleven with a campaign id at the
tenth) are read by `upgrade`.
"""

from __future__ import annotations

from core.labels import LabeledExample
from core.state import CustomerState

DAY = 86_400.0
MAX_TRIED = 32
MAX_DECISION_WINDOWS = 8  # open at once; a decision past them is not logged for policy value
ARM, START, END, PURCHASES, SPEND, REDEEMED, PROPENSITY, ELIGIBLE, TOP, VALUE, BASKET, CAMPAIGN = range(12)
BASKET_SECONDS = 3_600.0  # a purchase this close to a redemption, before or after, is the basket that redeemed it
DECISION = "@"  # the key of a decision window: "@" + the assignment id (campaign ids cannot start with it)


def entered(state: CustomerState, campaign_id: str) -> bool:
    return campaign_id in state.trials or campaign_id in state.tried


def open_trial(state: CustomerState, campaign_id: str, treated: bool, at: float, days: float, propensity: float,
               eligible: tuple[str, ...], highest_priority: str, value: float = 0.0) -> CustomerState:
    """The state with `campaign_id`'s trial open from `at` for `days`, unless the customer entered it before.

    >>> s = open_trial(CustomerState("c"), "spring", True, 0.0, 7, 0.5, ("spring", "coffee"), "coffee")
    >>> s.trials["spring"][:6], open_trial(s, "spring", False, 1.0, 7, 0.5, (), "") is s
    ([1, 0.0, 604800.0, 0, 0.0, 0.0], True)
    """
    if entered(state, campaign_id):
        return state
    window = _window(treated, at, days, propensity, eligible, highest_priority, value)
    return state.evolve(trials={**state.trials, campaign_id: window})


def _window(treated: bool, at: float, days: float, propensity: float, eligible: tuple[str, ...],
            highest_priority: str, value: float) -> list:
    """A window as the state keeps it, nothing counted yet."""
    return [int(treated), at, at + days * DAY, 0, 0.0, 0.0, round(propensity, 6), sorted(eligible), highest_priority,
            round(value, 2), 0.0]


def upgrade(window: list) -> list:
    """A window as this layout has it, from one written before the redeemed basket was kept.

    >>> upgrade([1, 0.0, 9.0, 0, 0.0, 1, 0.5, ["a"], "a", 2.0, "a"]), upgrade([1, 0.0, 9.0, 0, 0.0, 0, 0.5, [], "", 0.0])
    ([1, 0.0, 9.0, 0, 0.0, 1.0, 0.5, ['a'], 'a', 2.0, 0.0, 'a'], [1, 0.0, 9.0, 0, 0.0, 0.0, 0.5, [], '', 0.0, 0.0])
    """
    if len(window) == BASKET:
        window = [*window, 0.0]
    elif len(window) == BASKET + 1 and isinstance(window[BASKET], str):
        window = [*window[:BASKET], 0.0, window[BASKET]]
    else:
        return window
    window[REDEEMED] = float(window[REDEEMED])  # was 1 for redeemed, its time unknown: still truthy
    return window


def open_decision(state: CustomerState, assignment_id: str, campaign_id: str, at: float, days: float,
                  propensity: float, eligible: tuple[str, ...], highest_priority: str,
                  value: float = 0.0) -> CustomerState:
    """A treated decision's own window, for policy value: the customer entered the campaign's comparison before.

    >>> s = open_decision(CustomerState("c"), "a-1", "spring", 0.0, 7, 0.5, ("spring", "coffee"), "coffee")
    >>> s.trials["@a-1"][:6], s.trials["@a-1"][CAMPAIGN], entered(s, "spring")
    ([1, 0.0, 604800.0, 0, 0.0, 0.0], 'spring', False)
    """
    key = DECISION + assignment_id
    if key in state.trials or sum(k.startswith(DECISION) for k in state.trials) >= MAX_DECISION_WINDOWS:
        return state
    window = [*_window(True, at, days, propensity, eligible, highest_priority, value), campaign_id]
    return state.evolve(trials={**state.trials, key: window})


def on_purchase(state: CustomerState, at: float, total: float) -> CustomerState:
    """A purchase at `at` counts in every open window it falls in (after the decision, up to the end), and is
    the redeemed basket of a window whose redemption came first, within `BASKET_SECONDS` of it.

    >>> s = open_trial(CustomerState("c"), "spring", False, 0.0, 7, 0.5, ("spring",), "spring")
    >>> on_purchase(on_purchase(s, 3 * DAY, 12.5), 8 * DAY, 9.0).trials["spring"][3:5]
    [1, 12.5]
    """
    if not state.trials:
        return state
    changed = None
    for cid, window in state.trials.items():
        counts = window[START] < at <= window[END]
        basket = window[REDEEMED] and not window[BASKET] and abs(at - window[REDEEMED]) <= BASKET_SECONDS
        if counts or basket:
            changed = changed or dict(state.trials)
            updated = list(window)
            if counts:
                updated[PURCHASES] += 1
                updated[SPEND] = round(updated[SPEND] + total, 2)
            if basket:
                updated[BASKET] = round(total, 2)
            changed[cid] = updated
    return state.evolve(trials=changed) if changed else state


def on_redeemed(state: CustomerState, at: float, campaign_id: str | None,
                assignment_id: str | None = None) -> CustomerState:
    """The campaign's offer was redeemed within its treated window (and the assignment's own decision window).

    The redeemed offer's own window is the assignment's decision window when it has one, else the campaign's
    trial. That window's redeemed basket is the customer's latest purchase if it is within `BASKET_SECONDS`
    of the redemption; otherwise the purchase that comes within them (`on_purchase`). The campaign's trial,
    when a later offer was redeemed, counts the redemption without its time (1.0), so no basket.

    >>> s = open_decision(CustomerState("c"), "a-1", "spring", 0.0, 7, 0.5, ("spring",), "spring")
    >>> on_redeemed(s, DAY, "spring", "a-1").trials["@a-1"][REDEEMED], on_redeemed(s, DAY, "spring", "a-2") is s
    (86400.0, True)
    >>> bought = s.with_purchase(DAY - 60, 18.5)
    >>> on_redeemed(bought, DAY, "spring", "a-1").trials["@a-1"][BASKET]
    18.5
    """
    last = state.last_purchase_at
    basket = state.last_basket if last is not None and abs(at - last) <= BASKET_SECONDS else 0.0
    decision = None if assignment_id is None else DECISION + assignment_id
    own = decision if decision in state.trials else campaign_id
    changed = None
    for key in (campaign_id, decision):
        window = state.trials.get(key) if key else None
        if window is None or not window[ARM] or not window[START] <= at <= window[END] or window[REDEEMED]:
            continue
        changed = changed or dict(state.trials)
        updated = list(window)
        if key == own:
            updated[REDEEMED] = at or 1.0  # an event time, never 0: 0 says not redeemed
            if basket and not updated[BASKET]:
                updated[BASKET] = round(basket, 2)
        else:
            updated[REDEEMED] = 1.0
        changed[key] = updated
    return state.evolve(trials=changed) if changed else state


def example_features(window: list) -> dict[str, float]:
    x = {"arm": float(window[ARM]), "purchases": float(window[PURCHASES]), "spend": float(window[SPEND]),
         "redeemed": 1.0 if window[REDEEMED] else 0.0, "basket": float(window[BASKET]),
         "p": float(window[PROPENSITY]),
         "days": round((window[END] - window[START]) / DAY, 6), "v": float(window[VALUE])}
    x.update({f"e:{cid}": 1.0 for cid in window[ELIGIBLE]})
    if window[TOP]:
        x[f"hp:{window[TOP]}"] = 1.0
    if len(window) > CAMPAIGN:
        x["repeat"] = 1.0  # a decision window: policy value only, not the campaign's comparison
    return x


def on_watermark(state: CustomerState, mark: float) -> tuple[CustomerState, list[LabeledExample]]:
    """Windows the watermark has passed close: each is an example of model `uplift` (label: its spend).

    >>> s = open_trial(CustomerState("c"), "spring", True, 0.0, 7, 0.5, ("spring",), "spring")
    >>> s, examples = on_watermark(on_purchase(s, DAY, 20.0), 7 * DAY)
    >>> s.trials, s.tried, [(e.task, e.ref, e.features["purchases"], e.label) for e in examples]
    ({}, ['spring'], [('uplift', 'spring', 1.0, 20.0)])
    """
    closed = [cid for cid, window in state.trials.items() if window[END] <= mark]
    if not closed:
        return state, []
    examples = []
    for key in sorted(closed):
        window = state.trials[key]
        cid = window[CAMPAIGN] if len(window) > CAMPAIGN else key
        examples.append(LabeledExample("uplift", example_features(window), float(window[SPEND]), float(window[PROPENSITY]),
                                       None, window[START], window[END], cid))
    trials = {key: w for key, w in state.trials.items() if key not in closed}
    tried = [*state.tried, *sorted(k for k in closed if not k.startswith(DECISION))][-MAX_TRIED:]
    return state.evolve(trials=trials, tried=tried), examples


def due(state: CustomerState) -> float | None:
    return min((w[END] for w in state.trials.values()), default=None)


def performance_record(engine, campaign_id: str) -> dict:
    """What `GET /campaigns/{id}/performance/` answers, and replay reports: the campaign's uplift as of the
    watermark, from the fold of the closed trials the engine's models hold, and which version that is
    (the `performance` topic's record, `schemas.performance`)."""
    models = engine.models
    version = models.performance.version + (f"@{models.source}" if models.source else "")
    return campaign_performance(models.performance, campaign_id, version, engine.watermark or None)


def campaign_performance(performance, campaign_id: str, version: str, as_of: float | None) -> dict:
    from datetime import datetime, timezone

    stamp = None if as_of is None else datetime.fromtimestamp(as_of, tz=timezone.utc).isoformat()
    return {"as_of": stamp, "model_version": version, **performance.uplift(campaign_id)}
