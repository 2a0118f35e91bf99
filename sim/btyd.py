"""A purchase history drawn from the classic models' own generative process, with its truth kept.

BG/NBD: each customer's purchase rate (per day) is drawn from Gamma(r, alpha) and their dropout
probability from Beta(a, b); while alive they buy at that rate, and after each repeat purchase they
drop out with that probability. Gamma-Gamma: each customer's spend per purchase is Gamma(p, nu)
with nu drawn from Gamma(q, gamma). The default parameters are those published for the CDNOW panel
(Fader, Hardie and Lee 2005; r 0.243, alpha 4.414 weeks, a 0.793, b 2.426; Gamma-Gamma p 6.25,
q 3.74, gamma 15.44). Customers are acquired over the first `acquire_days`, as CDNOW's cohort was.

Because the parameters are known, the best prediction the history allows is known too: BG/NBD and
Gamma-Gamma's closed forms at the true parameters (`oracle_scores`). That is the oracle a model's
backtest stands beside.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from datetime import datetime, timedelta, timezone

from models.btyd import Parameters
from sim.backtest import Transaction

# CDNOW's published estimates, with alpha turned from weeks into days.
CDNOW = Parameters(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426, p=6.25, q=3.74, gamma=15.44)
START = datetime(2020, 1, 1, 12, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Trait:
    """One customer's hidden truth."""

    customer_id: str
    born: float  # day of the first purchase
    rate: float  # purchases per day while alive
    dropout: float  # probability of dropping out after each repeat purchase
    died: float | None  # the day they dropped out, if they did within the history
    spend_scale: float  # nu: their spend per purchase is Gamma(p, nu)


def generate(customers: int = 5000, days: int = 546, acquire_days: int = 84, seed: int = 1,
             params: Parameters = CDNOW, start: datetime = START) -> tuple[list[Trait], list[Transaction]]:
    """Traits and transactions (time-ordered) of `customers` customers over `days` days.

    >>> traits, history = generate(customers=200, seed=3)
    >>> len(traits), len({t.customer_id for t in history}), history == sorted(history, key=lambda t: t.at)
    (200, 200, True)
    """
    rng = random.Random(seed)
    traits, history = [], []
    for n in range(customers):
        cid = f"bt{n:06d}"
        born = rng.uniform(0.0, acquire_days)
        rate = rng.gammavariate(params.r, 1.0 / params.alpha)
        dropout = rng.betavariate(params.a, params.b)
        nu = rng.gammavariate(params.q, 1.0 / params.gamma)
        at, died = born, None
        history.append(_transaction(rng, cid, start, at, params.p, nu))
        while True:
            at += rng.expovariate(rate) if rate > 0 else float("inf")
            if at >= days:
                break
            history.append(_transaction(rng, cid, start, at, params.p, nu))
            if rng.random() < dropout:
                died = at
                break
        traits.append(Trait(cid, born, rate, dropout, died, nu))
    history.sort(key=lambda t: (t.at, t.customer_id))
    return traits, history


def _transaction(rng: random.Random, cid: str, start: datetime, day: float, p: float, nu: float) -> Transaction:
    amount = max(0.01, round(rng.gammavariate(p, 1.0 / nu), 2))
    return Transaction(cid, start + timedelta(days=day), amount)


def oracle_scores(history: list[Transaction], customers: list[str], cutoff: datetime, horizon_days: float,
                  propensity_days: float, params: Parameters = CDNOW) -> dict[str, list[float]]:
    """BG/NBD and Gamma-Gamma at the true parameters, from each customer's history before the cutoff.

    Days with a purchase count once, as the classic models' summaries count them.
    """
    days: dict[str, dict[int, float]] = {}
    for t in history:
        if t.at <= cutoff:
            day = int((t.at - START).total_seconds() // 86400)
            spend = days.setdefault(t.customer_id, {})
            spend[day] = spend.get(day, 0.0) + t.amount
    end = (cutoff - START).total_seconds() / 86400
    out: dict[str, list[float]] = {"none_in_horizon": [], "purchase_soon": [], "spend": [], "purchases": []}
    for cid in customers:
        spend = days.get(cid, {})
        ordered = sorted(spend)
        first = ordered[0]
        x, t_x, T = len(ordered) - 1, float(ordered[-1] - first), float(int(end) - first)
        m = sum(spend[d] for d in ordered[1:]) / x if x else 0.0
        out["none_in_horizon"].append(params.none_within(x, t_x, T, horizon_days))
        out["purchase_soon"].append(1.0 - params.none_within(x, t_x, T, propensity_days))
        purchases = params.expected_purchases(x, t_x, T, horizon_days)
        out["purchases"].append(purchases)
        out["spend"].append(purchases * params.spend_per_purchase(x, m))
    return out


def write_csv(history: list[Transaction], path) -> int:
    """The history as the CSV `loyalty backtest` reads: customer_id,date,amount."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("customer_id,occurred_at,amount\n")
        for t in history:
            handle.write(f"{t.customer_id},{t.at.isoformat()},{t.amount:.2f}\n")
    return len(history)


def write_truth(traits: list[Trait], path, **meta) -> None:
    """The parameters the history was drawn from (the oracle's) and each customer's hidden traits."""
    Path(path).write_text(json.dumps({"population": "btyd", "parameters": asdict(CDNOW), **meta,
                                      "customers": [asdict(t) for t in traits]}) + "\n", encoding="utf-8")


def read_truth(path) -> Parameters:
    """The parameters of a truth file `write_truth` wrote."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("population") != "btyd":
        raise ValueError(f"{path}: not the truth of a btyd population (loyalty simulate --population btyd --truth)")
    return Parameters(**data["parameters"])
