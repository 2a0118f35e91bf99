"""A closed loop whose offers change what customers buy, so every campaign's true uplift is known.

The simulated population (`sim.population`) shops on its own: those are the
customers' purchases without any offer. Here the engine's offers are answered from
each customer's hidden traits: an offer of campaign C, assigned at `t`, brings the
customer in for one extra purchase within the attribution window with probability

    q = redeem_probability(traits, offer, t) x EFFECT[C]

(`sim.evaluate.redeem_probability`; `EFFECT` is each campaign's hidden strength, 0 for
an offer that does nothing), with a basket of the customer's typical spend on average,
and the offer is redeemed then. Nothing else about the customer changes.

So for each customer the engine enters into a campaign's comparison (`core.trials`),
with a window (start, end] and B = 1 if they bought in it on their own:

- purchase rate: bought with the offer minus without, in expectation (1 - B) x q;
- spend: q x their typical basket.

The campaign's true uplift is the mean of these over every customer it entered, in
either arm. An interval that is honest covers it in about 95% of seeds. The true value
of a policy over the logged treated decisions is the mean over them of
sum over eligible offers a of policy(a) x q(a) (redemptions), and the same with each q
times the typical basket (spend, plus the spend the customers would have had anyway,
the same for every policy). Policy value is logged for every offer sent, not only first
entries (`core.trials.open_decision`), and its truth is taken over the same decisions.

`python -m sim.uplift --seeds 20` runs the check the issue asks for and prints the table.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import hashlib
import heapq
import json
import multiprocessing
import random
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources

from core.campaigns import load_catalog
from core.engine import LoyaltyEngine
from core.replay import Replay
from models.uplift import POLICIES, Row, target_probability
from schemas import EngagementEvent, PurchaseEvent, encode
from schemas.events import LineItem
from sim.evaluate import redeem_probability
from sim.population import generate, topic_of

CATALOG = "uplift-catalog.json"
# Each campaign's hidden strength: how much of a customer's readiness to redeem turns into a visit.
EFFECT = {"welcome": 1.0, "discount": 1.0, "coffee": 0.0, "points": 0.6, "win-back": 1.0}
NULL_CAMPAIGN = "coffee"  # its offer does nothing


def _rng(key: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big"))


@dataclass
class UpliftRun:
    seed: int
    estimates: dict = field(default_factory=dict)  # campaign -> CampaignPerformance.uplift()
    truth: dict = field(default_factory=dict)  # campaign -> {"purchase_rate": .., "spend_per_customer": ..}
    policy_estimates: dict = field(default_factory=dict)
    policy_truth: dict = field(default_factory=dict)  # reward -> policy -> value
    trials: int = 0
    offers: int = 0
    extra_purchases: int = 0
    performance: object = None  # the run's `CampaignPerformance` fold
    as_of: float | None = None  # the watermark at the end

    def covered(self, campaign: str, measure: str) -> bool | None:
        est = self.estimates.get(campaign, {}).get(measure, {})
        if est.get("low") is None or campaign not in self.truth:
            return None
        return est["low"] <= self.truth[campaign][measure] <= est["high"]

    def covers_zero(self, campaign: str, measure: str) -> bool | None:
        est = self.estimates.get(campaign, {}).get(measure, {})
        return None if est.get("low") is None else est["low"] <= 0.0 <= est["high"]


def run(seed: int, customers: int = 1500, days: int = 180, policy: str = "nbo") -> UpliftRun:
    truths, events = generate(customers=customers, days=days, seed=seed)
    events = list(events)
    traits = {t.customer_id: t for t in truths}
    catalog = load_catalog(resources.files("sim").joinpath("data", CATALOG))
    offers = {c.campaign_id: catalog.offer(c.offer_id) for c in catalog.campaigns}
    own: dict[str, list[float]] = {}  # customer -> times of their own purchases that count
    for event in events:
        if isinstance(event, PurchaseEvent) and event.payment_status not in ("failed", "refunded"):
            own.setdefault(event.customer_id, []).append(event.ts)
    out = UpliftRun(seed)
    answers: list[tuple[float, int, object]] = []
    closed: list = []
    counter = 0

    def q(customer_id: str, campaign_id: str, at: datetime) -> float:
        return redeem_probability(traits[customer_id], offers[campaign_id], at) * EFFECT.get(campaign_id, 1.0)

    def on_output(topic: str, key, value) -> None:
        nonlocal counter
        if topic == "labels" and value.model == "uplift":
            closed.append(value)
            return
        if topic != "offer-assignments":
            return
        out.offers += 1
        rng = _rng(value.assignment_id)
        if rng.random() >= q(value.customer_id, value.campaign_id, value.issued_at):
            return
        window = catalog.campaign(value.campaign_id).attribution_window_days
        at = value.issued_at + timedelta(days=rng.uniform(0.2, min(5.0, 0.9 * window)))
        price = round(traits[value.customer_id].mean_basket * rng.uniform(0.5, 1.5), 2)
        purchase = PurchaseEvent(
            event_id=f"visit-{value.assignment_id[:18]}", customer_id=value.customer_id, store_id="store-00",
            occurred_at=at, items=[LineItem(sku="SKU-OFFER", category="grocery", quantity=1, unit_price=price)],
            total=price, currency="USD", payment_method="card", payment_status="paid")
        redeemed = EngagementEvent(
            event_id=f"redeem-{value.assignment_id[:18]}", customer_id=value.customer_id,
            occurred_at=at + timedelta(seconds=1), type="offer_redeemed", channel="app",
            campaign_id=value.campaign_id, offer_id=value.offer.offer_id, assignment_id=value.assignment_id)
        for answer in (purchase, redeemed):
            counter += 1
            heapq.heappush(answers, (answer.ts, counter, answer))
        out.extra_purchases += 1

    engine = LoyaltyEngine(catalog, policy=policy)
    replay = Replay(engine, emit=on_output)

    def feed(event) -> None:
        replay.feed(topic_of(event), event.customer_id.encode(), encode(event))

    for event in events:
        if isinstance(event, EngagementEvent) and event.type.startswith("offer_"):
            continue  # the simulator's own open-loop answers: here customers answer what they get
        while answers and answers[0][0] <= event.ts:
            feed(heapq.heappop(answers)[2])
        feed(event)
    replay.finish()

    performance = engine.models.performance
    out.performance, out.as_of = performance, engine.watermark or None
    out.trials = len(closed)
    sums: dict[str, list[float]] = {}
    rows: list[tuple[Row, dict[str, float], float]] = []
    for record in closed:
        x, cid, customer = record.features, record.ref, record.customer_id
        start, end = record.predicted_at, record.resolved_at
        times = own.get(customer, [])
        i = bisect.bisect_right(times, start.timestamp())
        bought = i < len(times) and times[i] <= end.timestamp()
        basket = traits[customer].mean_basket
        qc = q(customer, cid, start)
        if not x.get("repeat"):  # the campaign's comparison: each customer's first entry
            s = sums.setdefault(cid, [0.0, 0.0, 0.0])
            s[0] += (0.0 if bought else 1.0) * qc
            s[1] += qc * basket
            s[2] += 1
        if x["arm"] == 1.0 and x["p"] > 0:
            eligible = tuple(sorted(k[2:] for k in x if k.startswith("e:")))
            top = next((k[3:] for k in x if k.startswith("hp:")), cid)
            row = Row(cid, x["p"], eligible, top, x["redeemed"], x["spend"], x.get("v", 0.0))
            rows.append((row, {a: q(customer, a, start) for a in eligible}, basket))
    out.truth = {cid: {"purchase_rate": s[0] / s[2], "spend_per_customer": s[1] / s[2]} for cid, s in sums.items()}
    out.estimates = {cid: performance.uplift(cid) for cid in sorted(sums)}
    out.policy_estimates = performance.policy_values()
    truth: dict[str, dict[str, float]] = {"redeemed": {}, "spend": {}}
    for policy_name in POLICIES:
        redeemed = spend = 0.0
        for row, qs, basket in rows:
            if policy_name == "running":
                # the logged choice is a draw from the running policy: its q is an unbiased value
                redeemed += qs[row.campaign_id]
                spend += qs[row.campaign_id] * basket
                continue
            for a in row.eligible:
                probe = Row(a, row.propensity, row.eligible, row.highest_priority, 0.0, 0.0)
                weight = target_probability(probe, policy_name)
                redeemed += weight * qs[a]
                spend += weight * qs[a] * basket
        n = max(1, len(rows))
        truth["redeemed"][policy_name] = redeemed / n
        truth["spend"][policy_name] = spend / n  # the offers' part: the spend without them is common to all
    out.policy_truth = truth
    return out


def _run_seed(args: tuple) -> UpliftRun:
    return run(*args)


def ranking(values: dict[str, float]) -> list[str]:
    return sorted(values, key=lambda k: -values[k])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.uplift", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--json", help="write every run's figures here")
    parser.add_argument("--record", metavar="CAMPAIGN",
                        help="also print the last seed's performance record of this campaign, as the API answers it")
    parser.add_argument("--jobs", type=int, default=1,
                        help="seeds run in this many processes at once (each seed is its own closed loop)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    runs = []
    seeds = [(seed, args.customers, args.days)
             for seed in range(args.first_seed, args.first_seed + args.seeds)]
    with contextlib.ExitStack() as stack:
        if args.jobs > 1:
            pool = stack.enter_context(multiprocessing.get_context("fork").Pool(args.jobs))
            done = pool.imap(_run_seed, seeds)  # in seed order, whichever process finishes first
        else:
            done = map(_run_seed, seeds)
        for r in done:
            runs.append(r)
            print(f"seed {r.seed}: {r.trials} trials, {r.offers} offers, {r.extra_purchases} visits the offers "
                  f"brought", file=sys.stderr, flush=True)
    campaigns = sorted({c for r in runs for c in r.truth})
    print(f"{'campaign':<10} {'true rate':>10} {'covered':>8} {'true spend':>11} {'covered':>8} {'zero in':>8}")
    for cid in campaigns:
        rate = [r.covered(cid, "purchase_rate") for r in runs]
        spend = [r.covered(cid, "spend_per_customer") for r in runs]
        zero = [r.covers_zero(cid, "purchase_rate") and r.covers_zero(cid, "spend_per_customer") for r in runs]
        mean_rate = sum(r.truth[cid]["purchase_rate"] for r in runs if cid in r.truth) / len(runs)
        mean_spend = sum(r.truth[cid]["spend_per_customer"] for r in runs if cid in r.truth) / len(runs)
        print(f"{cid:<10} {mean_rate:>10.4f} {sum(map(bool, rate)):>5}/{len(runs)} {mean_spend:>11.3f} "
              f"{sum(map(bool, spend)):>5}/{len(runs)} {sum(map(bool, zero)):>5}/{len(runs)}")
    for reward in ("redeemed", "spend"):
        agree = sum(ranking(r.policy_truth[reward]) == ranking(
            {p: r.policy_estimates[reward][p]["snips"]["value"] for p in POLICIES}) for r in runs)
        agree_dr = sum(ranking(r.policy_truth[reward]) == ranking(
            {p: r.policy_estimates[reward][p]["doubly_robust"]["value"] for p in POLICIES}) for r in runs)
        print(f"policy value ({reward}): ranking as the truth in {agree}/{len(runs)} seeds (SNIPS), "
              f"{agree_dr}/{len(runs)} (doubly robust)")
    if args.record:
        from core.trials import campaign_performance

        last = runs[-1]
        record = campaign_performance(last.performance, args.record, last.performance.version, last.as_of)
        print(json.dumps({**record, "true_uplift": last.truth.get(args.record)}, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{k: v for k, v in r.__dict__.items() if k != "performance"} for r in runs], f, indent=1,
                      default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
