"""The backtest: our online models against the classic customer-base models, on a purchase history.

Everything before the cutoff is replayed through the same core the worker runs (the horizon is
the churn window and the lifetime-value horizon; of several horizons, the longest is, and the
same models answer over the others, as the API does for `?horizon_days=`); every customer seen
before the cutoff is then scored as of the cutoff, and the scores are judged against what
happened after it:

- churn: no purchase within `horizon` days after the cutoff;
- propensity: a purchase within the propensity window (`propensity_days`) after the cutoff;
- lifetime value: spend within `horizon` days after the cutoff;
- purchases: the days with a purchase within `horizon` days after the cutoff (BG/NBD's count).

Beside them, on the same customers, the baselines a data scientist brings (`sim.baselines`):
recency, frequency, and BG/NBD with Gamma-Gamma fitted on the pre-cutoff history by
pymc-marketing. Each classifier gets its ROC AUC and, where it gives probabilities, its Brier
score and mean prediction against the observed rate; lifetime value gets its MAE, its Spearman
rank correlation and its mean against the actual mean.

Each of our figures is also set against BG/NBD's (Gamma-Gamma's for value) as a difference with a
95% interval: a paired bootstrap over the customers (scipy's `bootstrap`, percentile method, a
fixed seed), the same resamples for both models. A difference whose interval holds zero is
*level*: on this history, the two cannot be told apart.

The history is a CSV (or whitespace-separated text) of customer id, date or time, amount and
optionally quantity and category, one transaction a row, or our own JSONL events.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from core import EngineConfig, LoyaltyEngine, load_catalog
from core.replay import Replay
from schemas import LineItem, PurchaseEvent, encode

ID_COLUMNS = ("customer_id", "customer", "id", "cust_id", "member_id")
TIME_COLUMNS = ("occurred_at", "date", "time", "datetime", "timestamp", "invoicedate")
AMOUNT_COLUMNS = ("amount", "total", "dollar_value", "spend", "value", "sales")
QUANTITY_COLUMNS = ("quantity", "qty", "number_of_cds", "units")
CATEGORY_COLUMNS = ("category", "department", "dept")


# Why `read_transactions` leaves a row out.
NO_CUSTOMER = "no customer id"
RETURN = "a negative amount (a return)"


class BacktestError(ValueError):
    """The history cannot be backtested as asked (a missing column, a bad row, no customers)."""


@dataclass(frozen=True, slots=True)
class Transaction:
    customer_id: str
    at: datetime
    amount: float
    quantity: int = 1
    category: str = "all"


def parse_time(text: str) -> datetime:
    """`19970101`, `1997-01-01`, or an ISO 8601 time; a date is taken at noon UTC, a naive time as UTC.

    >>> parse_time("19970112").isoformat(), parse_time("2014-03-08 00:00:00").isoformat()
    ('1997-01-12T12:00:00+00:00', '2014-03-08T00:00:00+00:00')
    """
    text = text.strip()
    if len(text) == 8 and text.isdigit():
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:]), 12, tzinfo=timezone.utc)
    at = datetime.fromisoformat(text)
    if len(text) == 10:
        at = at.replace(hour=12)
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)


def _column(header: Sequence[str], wanted: str | None, names: Sequence[str], what: str, required: bool = True):
    lowered = [h.strip().lower() for h in header]
    for name in ([wanted.lower()] if wanted else names):
        if name in lowered:
            return lowered.index(name)
    if required or wanted:
        raise BacktestError(f"no {what} column: give one of {', '.join(names)} (or name it with an option); "
                            f"the header has {', '.join(header)}")
    return None


def read_transactions(path: str | Path, *, id_col: str | None = None, time_col: str | None = None,
                      amount_col: str | None = None, quantity_col: str | None = None,
                      category_col: str | None = None, left_out: dict[str, int] | None = None) -> list[Transaction]:
    """The transactions of a CSV or whitespace-separated file with a header row, or of our JSONL events.

    Rows that are not a customer's purchase are left out, as the classic models' users filter them,
    and counted in `left_out` (if given) by reason: a row without a customer id (a guest sale) and a
    row with a negative amount (a return or a cancellation). Any other row that cannot be read stops
    the reading with its line number.
    """
    path = Path(path)
    left_out = {} if left_out is None else left_out
    if path.suffix == ".jsonl":
        return _from_events(path)
    with open(path, encoding="utf-8", newline="") as handle:
        first = handle.readline()
        # Commas, else semicolons (a spreadsheet's export where the comma is the decimal mark), else blanks.
        delimiter = "," if "," in first else ";" if ";" in first else None
        rows = (csv.reader(handle, delimiter=delimiter) if delimiter else (line.split() for line in handle))
        header = next(csv.reader([first], delimiter=delimiter)) if delimiter else first.split()
        columns = [
            _column(header, id_col, ID_COLUMNS, "customer id"),
            _column(header, time_col, TIME_COLUMNS, "date or time"),
            _column(header, amount_col, AMOUNT_COLUMNS, "amount"),
            _column(header, quantity_col, QUANTITY_COLUMNS, "quantity", required=False),
            _column(header, category_col, CATEGORY_COLUMNS, "category", required=False),
        ]
        out = []
        for number, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                cid, when, amount, quantity, category = (row[c] if c is not None else None for c in columns)
                if delimiter == ";":  # and a decimal comma
                    amount, quantity = amount.replace(",", "."), quantity and quantity.replace(",", ".")
                amount = float(amount)
                reason = (NO_CUSTOMER if not cid.strip() else RETURN if amount < 0 else None)
                if reason is not None:
                    left_out[reason] = left_out.get(reason, 0) + 1
                    continue
                out.append(Transaction(cid.strip(), parse_time(when), amount,
                                       max(1, int(float(quantity))) if quantity else 1,
                                       category.strip() if category else "all"))
            except (IndexError, ValueError) as error:
                raise BacktestError(f"{path}:{number}: {error}") from None
    return out


def _from_events(path: Path) -> list[Transaction]:
    from sim.population import read_jsonl

    out = []
    for topic, _, value in read_jsonl(path):
        if topic != "purchases":
            continue
        event = PurchaseEvent.model_validate_json(value)
        if event.payment_status in ("paid", "pending"):
            category = event.items[0].category if event.items else "all"
            out.append(Transaction(event.customer_id, event.occurred_at, event.total,
                                   sum(i.quantity for i in event.items) or 1, category))
    return out


def purchase_events(transactions: Iterable[Transaction]) -> list[PurchaseEvent]:
    """One purchase event per transaction, in time order (ties by customer), with ids that say where from."""
    ordered = sorted(transactions, key=lambda t: (t.at, t.customer_id))
    events = []
    for n, t in enumerate(ordered):
        unit = round(t.amount / t.quantity, 2)
        try:
            event = PurchaseEvent(
                event_id=f"bt-{n}", customer_id=t.customer_id, store_id="backtest", occurred_at=t.at,
                items=[LineItem(sku="item", category=t.category[:64] or "all", quantity=t.quantity, unit_price=unit)],
                total=round(t.amount, 2), payment_method="other",
            )
        except ValueError as error:  # an amount no point of sale sends (NaN, beyond the contract's bound)
            reason = "; ".join(e["msg"] for e in error.errors()) if hasattr(error, "errors") else str(error)
            raise BacktestError(f"customer {t.customer_id} at {t.at.isoformat()}, amount {t.amount}: {reason}") from None
        events.append(event)
    return events


@dataclass
class Actuals:
    """Per customer seen before the cutoff: what happened after it."""

    churned: dict[str, bool] = field(default_factory=dict)
    bought_soon: dict[str, bool] = field(default_factory=dict)
    spend: dict[str, float] = field(default_factory=dict)
    # Days with a purchase within the horizon: what BG/NBD counts (several baskets on one day are one).
    purchase_days: dict[str, int] = field(default_factory=dict)


def actuals(transactions: Iterable[Transaction], customers: Iterable[str], cutoff: datetime, horizon_days: float,
            propensity_days: float) -> Actuals:
    after: dict[str, list[Transaction]] = defaultdict(list)
    for t in transactions:
        if t.at > cutoff:
            after[t.customer_id].append(t)
    out = Actuals()
    horizon, soon = cutoff + timedelta(days=horizon_days), cutoff + timedelta(days=propensity_days)
    for cid in customers:
        within = [t for t in after.get(cid, ()) if t.at <= horizon]
        out.churned[cid] = not within
        out.bought_soon[cid] = any(t.at <= soon for t in after.get(cid, ()))  # the window, whatever the horizon
        out.spend[cid] = sum(t.amount for t in within)
        out.purchase_days[cid] = len({t.at.astimezone(timezone.utc).date() for t in within})
    return out


def our_scores(before: Sequence[PurchaseEvent], cutoff: datetime, horizons: Sequence[float], propensity_days: float,
               progress: Callable[[int], None] | None = None, version_every: int | None = None,
               offers: dict | None = None, learn_window_days: float | None = None) -> dict[float, dict[str, dict]]:
    """Replay the events before the cutoff through the core, then every customer's scores as of the cutoff:
    `{horizon: {customer: scores}}`.

    `horizons` are answered by the same models after one replay (the churn window and lifetime value's
    horizon are the longest; churn and value over each come from `LoyaltyEngine.at_horizon`, as the API's
    `?horizon_days=` answers).
    `version_every`: score as workers that follow a learner's versions do, one every so many examples.
    `offers`, if given, receives what the offers did during the replay (`CampaignPerformance.report`).
    `learn_window_days`: labels resolve over at most this many days (default: the engine's).
    """
    longest = max(horizons)
    # No lead rule: the history is replayed in time order, so a record far after the one before it ends a
    # pause in trade (a shop closed for a fortnight), not a clock error; the absolute range still applies.
    window = {} if learn_window_days is None else {"learn_window_days": learn_window_days}
    config = EngineConfig(churn_window_days=longest, ltv_horizon_days=longest,
                          propensity_days=propensity_days, max_lead_days=math.inf, **window)
    engine = LoyaltyEngine(load_catalog(), config=config)
    run = Replay(engine, partitions=1, version_every=version_every)
    run.run((("purchases", e.customer_id.encode(), encode(e)) for e in before), progress=progress)
    run.finish()
    if run.counts.dead_lettered:
        raise BacktestError(f"{run.counts.dead_lettered} of {run.counts.records} events were refused by the core")
    if offers is not None:
        offers.update(engine.models.performance.report())
    now = cutoff.timestamp()
    out: dict[float, dict[str, dict[str, float]]] = {h: {} for h in horizons}
    for cid, state in run.states.items():
        scores = engine.current(state, now=now).scores
        for h in horizons:
            at = engine.at_horizon(state, h, now=now)  # at the longest, the served churn and value themselves
            out[h][cid] = {**scores, "churn_probability": at["churn_probability"],
                           "lifetime_value": at["lifetime_value"], "expected_purchases": at["expected_purchases"]}
    return out


# -- metrics ---------------------------------------------------------------------------------------

def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else math.nan


def brier(labels: Sequence[bool], probabilities: Sequence[float]) -> float:
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(labels, probabilities))


def spearman(actual: Sequence[float], predicted: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    if len(set(actual)) < 2 or len(set(predicted)) < 2:
        return math.nan  # a constant ranks nothing
    return float(spearmanr(actual, predicted).statistic)


def classifier_row(name: str, labels: list[bool], scores: list[float], probabilities: bool) -> dict:
    row = {"model": name, "roc_auc": roc_auc(labels, scores), "observed_rate": sum(labels) / len(labels)}
    if probabilities:
        row["brier"] = brier(labels, scores)
        row["mean_predicted"] = sum(scores) / len(scores)
    return row


def regressor_row(name: str, actual: list[float], predicted: list[float]) -> dict:
    return {"model": name, "mae": mae(actual, predicted), "spearman": spearman(actual, predicted),
            "mean_predicted": sum(predicted) / len(predicted), "mean_actual": sum(actual) / len(actual)}


def mae(actual: Sequence[float], predicted: Sequence[float]) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(actual, predicted))


RESAMPLES = 200  # the bootstrap's resamples for each difference's interval (`--intervals`)
# Each figure's function of (truth, prediction), and whether higher is better.
FIGURES: dict[str, tuple[Callable[[Sequence[float], Sequence[float]], float], bool]] = {
    "roc_auc": (roc_auc, True), "brier": (brier, False), "mae": (mae, False), "spearman": (spearman, True),
}


def differences(truth: Sequence[float], ours: Sequence[float], theirs: Sequence[float], figures: Sequence[str],
                resamples: int = RESAMPLES, seed: int = 0) -> dict[str, dict]:
    """Ours minus theirs on each of `figures`, with a 95% interval from a paired bootstrap over customers.

    Each figure gets `{"difference", "low", "high", "verdict"}`; the verdict is "ahead" or
    "behind" for ours when the interval is clear of zero (on the better or the worse side of
    that figure), else "level".
    """
    import numpy as np
    from scipy.stats import bootstrap

    arrays = tuple(np.asarray(v, dtype=float) for v in (truth, ours, theirs))
    functions = [FIGURES[f][0] for f in figures]

    def statistic(t, o, h):
        return np.array([f(t, o) - f(t, h) for f in functions])

    point = statistic(*arrays)
    interval = bootstrap(arrays, statistic, paired=True, vectorized=False, n_resamples=resamples,
                         confidence_level=0.95, method="percentile", random_state=seed).confidence_interval
    out = {}
    for i, figure in enumerate(figures):
        low, high, higher = float(interval.low[i]), float(interval.high[i]), FIGURES[figure][1]
        if math.isnan(low) or math.isnan(high) or low <= 0 <= high:
            verdict = "level"
        else:
            verdict = "ahead" if (low > 0) == higher else "behind"
        out[figure] = {"difference": float(point[i]), "low": low, "high": high, "verdict": verdict}
    return out


# -- the run ---------------------------------------------------------------------------------------

def backtest(transactions: list[Transaction], cutoff: datetime, horizon_days: float, propensity_days: float = 14.0,
             baselines: bool = True, progress: Callable[[int], None] | None = None, total: Callable[[int], None] | None = None,
             oracle=None, version_every: int | None = None, learn_window_days: float | None = None,
             resamples: int = RESAMPLES) -> dict:
    """The whole comparison as a JSON-able dict: `{"data": ..., "churn": [rows], "propensity": ..., "lifetime_value": ...}`."""
    return backtests(transactions, cutoff, [horizon_days], propensity_days, baselines, progress, total, oracle,
                     version_every, learn_window_days, resamples)[0]


def backtests(transactions: list[Transaction], cutoff: datetime, horizons: Sequence[float], propensity_days: float = 14.0,
              baselines: bool = True, progress: Callable[[int], None] | None = None,
              total: Callable[[int], None] | None = None, oracle=None, version_every: int | None = None,
              learn_window_days: float | None = None, resamples: int = RESAMPLES,
              say: Callable[[str], None] | None = None) -> list[dict]:
    """`backtest` at each of `horizons` from one replay and one fit of the baselines: a list of its dicts.

    The models are those of a worker whose churn window is the longest horizon; the shorter ones are
    that worker's answers over them (`LoyaltyEngine.at_horizon`). `resamples`: the bootstrap's, for
    the intervals of our differences from BG/NBD (0: none). `say` hears what step is under way."""
    say = say or (lambda line: None)
    horizons = [float(h) for h in horizons]
    if not horizons or len(set(horizons)) != len(horizons) or min(horizons) <= 0:
        raise BacktestError(f"horizons must be distinct positive numbers of days, not {horizons}")
    last = max((t.at for t in transactions), default=None)
    if last is not None and last > cutoff and cutoff + timedelta(days=max(horizons)) > last + timedelta(days=1):
        # Past its last transaction a history says nothing: every customer would look churned there.
        covered = (last - cutoff).total_seconds() / 86400
        raise BacktestError(f"a horizon of {max(horizons):g} days runs past the history's last transaction "
                            f"({last:%Y-%m-%d}): it covers {covered:.0f} days after the cutoff")
    before = [e for e in purchase_events(transactions) if e.occurred_at <= cutoff]
    if total is not None:
        total(len(before))
    started = time.perf_counter()
    offers: dict = {}
    ours = our_scores(before, cutoff, horizons, propensity_days, progress, version_every, offers, learn_window_days)
    replay_seconds = time.perf_counter() - started
    customers = sorted(ours[horizons[0]])
    if not customers:
        raise BacktestError(f"no customer bought before the cutoff {cutoff.date()}")
    classic = None
    if baselines:
        from sim.baselines import classic_scores

        say("backtest: fitting BG/NBD and Gamma-Gamma (pymc-marketing)")
        classic = classic_scores(transactions, customers, cutoff, horizons, propensity_days)
    results = []
    propensity = None
    for horizon in horizons:
        scored = ours[horizon]
        truth = actuals(transactions, customers, cutoff, horizon, propensity_days)
        churned = [truth.churned[c] for c in customers]
        soon = [truth.bought_soon[c] for c in customers]
        spend = [truth.spend[c] for c in customers]
        counts = [float(truth.purchase_days[c]) for c in customers]
        predicted = {target: [scored[c][score] for c in customers] for target, score in (
            ("churn", "churn_probability"), ("propensity", "propensity_to_buy"), ("lifetime_value", "lifetime_value"))}
        result = {
            "data": {"transactions": len(transactions), "before_cutoff": len(before), "customers": len(customers),
                     "cutoff": cutoff.isoformat(), "horizon_days": horizon, "propensity_days": propensity_days,
                     "replay_seconds": round(replay_seconds, 1), "version_every": version_every,
                     "learn_window_days": learn_window_days,
                     **({"churn_window_days": max(horizons)} if len(horizons) > 1 else {})},
            "churn": [classifier_row("ours (churn)", churned, predicted["churn"], True)],
            "propensity": [classifier_row("ours (propensity)", soon, predicted["propensity"], True)],
            "lifetime_value": [regressor_row("ours (lifetime value)", spend, predicted["lifetime_value"]),
                               regressor_row("zero for everyone", spend, [0.0] * len(customers))],
            "purchases": [regressor_row("ours (expected purchases)", counts,
                                        [scored[c]["expected_purchases"] for c in customers]),
                          regressor_row("zero for everyone", counts, [0.0] * len(customers))],
        }
        # A recorded history does not answer the offers the replay sends, so every campaign's uplift here is a
        # placebo: an interval that excludes zero says the holdout comparison is broken, not that an offer works.
        result["offers"] = offers
        if classic is not None:
            for name, scores, probabilities in (("recency (days since last purchase)", classic["recency"], False),
                                                ("frequency (fewer purchases)", [-f for f in classic["frequency"]], False),
                                                ("BG/NBD P(no purchase)", classic["bgnbd_no_purchase"][horizon], True)):
                result["churn"].append(classifier_row(name, churned, scores, probabilities))
            for name, scores, probabilities in (("recency (fewer days)", [-r for r in classic["recency"]], False),
                                                ("frequency", classic["frequency"], False),
                                                ("BG/NBD P(purchase)", classic["bgnbd_purchase_soon"], True)):
                result["propensity"].append(classifier_row(name, soon, scores, probabilities))
            result["lifetime_value"].append(regressor_row("BG/NBD x Gamma-Gamma", spend, classic["bgnbd_gg_spend"][horizon]))
            result["purchases"].append(regressor_row("BG/NBD", counts, classic["bgnbd_purchases"][horizon]))
            result["baseline_parameters"] = classic["parameters"]
            if resamples:
                say(f"backtest: intervals at {horizon:g} days ({resamples} resamples)")
                if propensity is None:  # the same window at every horizon
                    propensity = differences(soon, predicted["propensity"], classic["bgnbd_purchase_soon"],
                                             ("roc_auc", "brier"), resamples)
                result["versus"] = {
                    "churn": {"against": "BG/NBD P(no purchase)", **differences(
                        churned, predicted["churn"], classic["bgnbd_no_purchase"][horizon],
                        ("roc_auc", "brier"), resamples)},
                    "propensity": {"against": "BG/NBD P(purchase)", **propensity},
                    "lifetime_value": {"against": "BG/NBD x Gamma-Gamma", **differences(
                        spend, predicted["lifetime_value"], classic["bgnbd_gg_spend"][horizon],
                        ("mae", "spearman"), resamples)},
                }
        if oracle is not None:  # `models.btyd.Parameters` the history was drawn from (`sim.btyd`)
            from sim.btyd import oracle_scores

            best = oracle_scores(transactions, customers, cutoff, horizon, propensity_days, oracle)
            result["churn"].append(classifier_row("oracle (BG/NBD, true parameters)", churned, best["none_in_horizon"],
                                                  True))
            result["propensity"].append(classifier_row("oracle (BG/NBD, true parameters)", soon, best["purchase_soon"],
                                                       True))
            result["lifetime_value"].append(regressor_row("oracle (true parameters)", spend, best["spend"]))
            result["purchases"].append(regressor_row("oracle (true parameters)", counts, best["purchases"]))
        results.append(result)
    return results


def render(result: dict) -> str:
    """The comparison as a table a person reads, each model beside the baselines."""
    d = result["data"]
    lines = [f"{d['customers']} customers, {d['before_cutoff']} of {d['transactions']} transactions before the cutoff "
             f"{d['cutoff'][:10]}; horizon {d['horizon_days']:g} days, propensity window {d['propensity_days']:g} days", ""]

    def fmt(value, digits=4):
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"

    for target, what in (("churn", "no purchase within the horizon"), ("propensity", "a purchase within the window")):
        rows = result[target]
        lines.append(f"{target}: {what} (observed rate {fmt(rows[0]['observed_rate'])})")
        lines.append(f"  {'model':<38} {'ROC AUC':>8} {'Brier':>8} {'mean predicted':>15}")
        for r in rows:
            lines.append(f"  {r['model']:<38} {fmt(r['roc_auc']):>8} {fmt(r.get('brier')):>8} "
                         f"{fmt(r.get('mean_predicted')):>15}")
        lines += _versus(result, target)
        lines.append("")
    for target, what, digits in (("lifetime_value", "lifetime value: spend within the horizon", 2),
                                 ("purchases", "purchases: days with a purchase within the horizon", 4)):
        lines.append(what)
        lines.append(f"  {'model':<38} {'MAE':>8} {'Spearman':>8} {'mean predicted':>15} {'mean actual':>12}")
        for r in result[target]:
            lines.append(f"  {r['model']:<38} {fmt(r['mae'], digits):>8} {fmt(r['spearman']):>8} "
                         f"{fmt(r['mean_predicted'], digits):>15} {fmt(r['mean_actual'], digits):>12}")
        lines += _versus(result, target)
        lines.append("")
    lines.pop()  # the blank line after the last table
    if result.get("offers", {}).get("campaigns"):
        from streams.cli.progress import render_performance

        lines += ["", "what the replay's offers did (a placebo: the history does not answer them, so no uplift "
                      "should show):", render_performance(result["offers"])]
    return "\n".join(lines)


FIGURE_NAMES = {"roc_auc": "ROC AUC", "brier": "Brier", "mae": "MAE", "spearman": "Spearman"}


def _versus(result: dict, target: str) -> list[str]:
    """The line under a table: ours minus the classic model, each figure with its interval and verdict."""
    versus = result.get("versus", {}).get(target)
    if not versus:
        return []
    parts = [f"{FIGURE_NAMES[k]} {v['difference']:+.4f} [{v['low']:+.4f}, {v['high']:+.4f}] {v['verdict']}"
             for k, v in versus.items() if k != "against"]
    return [f"  ours minus {versus['against']}, 95% interval: " + "; ".join(parts)]


def write_json(result: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(result, indent=1, default=float) + "\n", encoding="utf-8")


__all__ = ["BacktestError", "Transaction", "backtest", "backtests", "differences", "read_transactions", "render",
           "write_json"]
