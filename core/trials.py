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

In the state, `trials` maps a campaign id to the open window as a list:
`[arm, start, end, purchases, spend, redeemed, propensity, eligible ids, highest-priority id, value]`
(value: the customer's predicted lifetime value at the decision, a covariate for policy value),
and `tried` lists the campaigns whose trial has closed (the latest `MAX_TRIED`).
"""

from __future__ import annotations

from core.labels import LabeledExample
from core.state import CustomerState

DAY = 86_400.0
MAX_TRIED = 32
ARM, START, END, PURCHASES, SPEND, REDEEMED, PROPENSITY, ELIGIBLE, TOP, VALUE = range(10)


def entered(state: CustomerState, campaign_id: str) -> bool:
    return campaign_id in state.trials or campaign_id in state.tried


def open_trial(state: CustomerState, campaign_id: str, treated: bool, at: float, days: float, propensity: float,
               eligible: tuple[str, ...], highest_priority: str, value: float = 0.0) -> CustomerState:
    """The state with `campaign_id`'s trial open from `at` for `days`, unless the customer entered it before.

    >>> s = open_trial(CustomerState("c"), "spring", True, 0.0, 7, 0.5, ("spring", "coffee"), "coffee")
    >>> s.trials["spring"][:6], open_trial(s, "spring", False, 1.0, 7, 0.5, (), "") is s
    ([1, 0.0, 604800.0, 0, 0.0, 0], True)
    """
    if entered(state, campaign_id):
        return state
    window = [int(treated), at, at + days * DAY, 0, 0.0, 0, round(propensity, 6), sorted(eligible), highest_priority,
              round(value, 2)]
    return state.evolve(trials={**state.trials, campaign_id: window})


def on_purchase(state: CustomerState, at: float, total: float) -> CustomerState:
    """A purchase at `at` counts in every open window it falls in (after the decision, up to the end).

    >>> s = open_trial(CustomerState("c"), "spring", False, 0.0, 7, 0.5, ("spring",), "spring")
    >>> on_purchase(on_purchase(s, 3 * DAY, 12.5), 8 * DAY, 9.0).trials["spring"][3:5]
    [1, 12.5]
    """
    if not state.trials:
        return state
    changed = None
    for cid, window in state.trials.items():
        if window[START] < at <= window[END]:
            changed = changed or dict(state.trials)
            updated = list(window)
            updated[PURCHASES] += 1
            updated[SPEND] = round(updated[SPEND] + total, 2)
            changed[cid] = updated
    return state.evolve(trials=changed) if changed else state


def on_redeemed(state: CustomerState, at: float, campaign_id: str | None) -> CustomerState:
    """The campaign's offer was redeemed within its treated window."""
    window = state.trials.get(campaign_id) if campaign_id else None
    if window is None or not window[ARM] or not window[START] <= at <= window[END] or window[REDEEMED]:
        return state
    updated = list(window)
    updated[REDEEMED] = 1
    return state.evolve(trials={**state.trials, campaign_id: updated})


def example_features(window: list) -> dict[str, float]:
    x = {"arm": float(window[ARM]), "purchases": float(window[PURCHASES]), "spend": float(window[SPEND]),
         "redeemed": float(window[REDEEMED]), "p": float(window[PROPENSITY]),
         "days": round((window[END] - window[START]) / DAY, 6), "v": float(window[VALUE])}
    x.update({f"e:{cid}": 1.0 for cid in window[ELIGIBLE]})
    if window[TOP]:
        x[f"hp:{window[TOP]}"] = 1.0
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
    for cid in sorted(closed):
        window = state.trials[cid]
        examples.append(LabeledExample("uplift", example_features(window), float(window[SPEND]), float(window[PROPENSITY]),
                                       None, window[START], window[END], cid))
    trials = {cid: w for cid, w in state.trials.items() if cid not in closed}
    tried = [*state.tried, *sorted(closed)][-MAX_TRIED:]
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
