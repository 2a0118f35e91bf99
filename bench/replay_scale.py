"""Replay rate against the number of customers, at the same purchases per customer (no Kafka, no Redis).

Histories come from `sim.btyd` (BG/NBD and Gamma-Gamma at CDNOW's parameters, 546 days): most
customers go silent, which is what made reviews the cliff. Each size is replayed through the core
the worker runs (`core.replay.Replay`, as `loyalty backtest` does) and reports records/s, customer
visits by the sweep, and the time per record.

    python bench/replay_scale.py [--customers 10000,50000,200000] [--scorer] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import EngineConfig, LoyaltyEngine, load_catalog  # noqa: E402
from core.replay import Replay  # noqa: E402
from schemas import encode  # noqa: E402
from sim import backtest as bt  # noqa: E402
from sim.btyd import generate  # noqa: E402


def measure(customers: int, seed: int = 1, scorer: bool = False) -> dict:
    _, history = generate(customers=customers, seed=seed)
    events = bt.purchase_events(history)
    engine = LoyaltyEngine(load_catalog(), config=EngineConfig())
    # A scorer (LOYALTY_MODELS_FROM=learners): its models fixed, the labels sent to the learners, not learned.
    engine.models.frozen = scorer
    run = Replay(engine, partitions=4)
    visits = 0
    on_watermark = engine.on_watermark

    reviewed = [False]  # whether the visit under way made a review (scores) or only met deadlines

    def counted(state, until=None):
        nonlocal visits
        visits += 1
        outcome = on_watermark(state, until)
        reviewed[0] = bool(outcome.scores)
        return outcome

    engine.on_watermark = counted
    # Time inside visits (a review or a deadline of one silent customer) and inside records (a
    # purchase, less the visits it makes first): what a review costs against a purchase.
    spent = {"visits": 0.0, "records": 0.0, "reviews": 0.0, "reviewed": 0}
    processor = run.processor
    visit, process = processor._visit, processor.process

    async def timed_visit(*args, **kwargs):
        started, reviewed[0] = time.perf_counter(), False
        try:
            return await visit(*args, **kwargs)
        finally:
            took = time.perf_counter() - started
            spent["visits"] += took
            if reviewed[0]:
                spent["reviews"] += took
                spent["reviewed"] += 1

    async def timed_process(*args, **kwargs):
        started, inside = time.perf_counter(), spent["visits"]
        try:
            return await process(*args, **kwargs)
        finally:
            spent["records"] += time.perf_counter() - started - (spent["visits"] - inside)

    processor._visit, processor.process = timed_visit, timed_process
    records = [("purchases", e.customer_id.encode(), encode(e)) for e in events]
    started = time.perf_counter()
    run.run(records)
    run.finish()
    seconds = time.perf_counter() - started
    us_visit = spent["visits"] / max(1, visits) * 1e6
    us_review = spent["reviews"] / max(1, spent["reviewed"]) * 1e6
    us_purchase = spent["records"] / len(records) * 1e6
    return {"customers": customers, "scorer": scorer, "records": len(records), "seconds": round(seconds, 1),
            "records_per_s": round(len(records) / seconds), "us_per_record": round(seconds / len(records) * 1e6),
            "sweep_visits": visits, "reviews": spent["reviewed"], "us_per_visit": round(us_visit),
            "us_per_review": round(us_review), "us_per_purchase": round(us_purchase),
            "visit_over_purchase": round(us_visit / us_purchase, 3),
            "review_over_purchase": round(us_review / us_purchase, 3), "dead_lettered": run.counts.dead_lettered}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", default="10000,50000,200000")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--scorer", action="store_true",
                        help="models fixed, as a worker scores with the learners apart (LOYALTY_MODELS_FROM=learners)")
    args = parser.parse_args()
    rows = []
    for n in (int(c) for c in args.customers.split(",")):
        row = measure(n, scorer=args.scorer)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
