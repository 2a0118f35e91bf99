"""What scoring a batch at once saves: the per-record scores against `models.columns`, and a scorer's records.

Two measurements, each comparing the two paths in one run (ratios: the machine is shared):
1. The scores alone: every customer of a replayed BTYD history scored as of its end, by the
   models one record at a time (`predict_one`) and by `models.columns.ColumnScorer` in batches
   of `--batch` rows. The answers are checked equal, to the last bit.
2. A scorer's records: a loyalty simulator history driven through `core.processing.Processor`
   as the live agent drives it (process, then sweep the record's partition), with a learned
   version that does not move (`ModelSuite.frozen`, as with `LOYALTY_MODELS_FROM=learners`), one
   by one (`hold` 0) and with purchases and reviews held and scored together (`hold` 64, the
   worker's `LOYALTY_RESERVE_TOGETHER`). The outputs are checked equal.

    python bench/batch_scores.py [--customers 3000] [--days 120] [--batch 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import EngineConfig, LoyaltyEngine, load_catalog  # noqa: E402
from core.features import customer_features  # noqa: E402
from core.limits import ContactPolicy, MemoryLimits  # noqa: E402
from core.partitioning import partition_of  # noqa: E402
from core.processing import Processor  # noqa: E402
from core.replay import Replay  # noqa: E402
from models.columns import ColumnScorer  # noqa: E402
from schemas import encode  # noqa: E402
from sim import backtest as bt  # noqa: E402
from sim import population  # noqa: E402
from sim.btyd import generate  # noqa: E402


def scores(customers: int, batch: int, repeat: int) -> dict:
    _, history = generate(customers=customers, seed=1)
    engine = LoyaltyEngine(load_catalog(), config=EngineConfig())
    run = Replay(engine, partitions=1)
    run.run(("purchases", e.customer_id.encode(), encode(e)) for e in bt.purchase_events(history))
    run.finish()
    scorer = ColumnScorer(engine.models)
    rows = [customer_features(s, engine.watermark) for s in (run.states[c] for c in sorted(run.states))]
    one_by_one, batched = [], []
    for _ in range(repeat):
        engine.models.process.__dict__.pop("_memo", None)  # each customer's closed forms once, as in a sweep
        started = time.perf_counter()
        one = [scorer._one(row) for row in rows]
        one_by_one.append(time.perf_counter() - started)
        started = time.perf_counter()
        many = [answer for i in range(0, len(rows), batch) for answer in scorer.score(rows[i:i + batch])]
        batched.append(time.perf_counter() - started)
    if many != one:
        raise SystemExit("the batched scores differ from the per-record ones")
    return {"customers": len(rows), "batch": batch, "one_by_one_us": round(min(one_by_one) / len(rows) * 1e6, 1),
            "batched_us": round(min(batched) / len(rows) * 1e6, 1),
            "ratio": round(min(one_by_one) / min(batched), 2)}


def _drive(engine, records, hold: int, batch: int = 2000):
    """As the live agent: process, sweep the record's partition; settle and take the outputs every `batch`."""
    states, outputs, results = {}, [], []
    processor = Processor(engine, states.get, lambda s: states.__setitem__(s.customer_id, s), MemoryLimits(),
                          ContactPolicy(max_offers=3, window_days=7), partitions=4, hold=hold)

    def take():
        for result in results:
            outputs.extend((o.topic, o.key, o.record.model_dump_json()) for o in result.outputs())
        results.clear()

    async def run():
        for i, (topic, key, value) in enumerate(records):
            results.append(await processor.process(topic, key, value, offset=i))
            results.append(await processor.sweep(partition_of(key, 4)))
            if (i + 1) % batch == 0:
                await processor.settle()
                take()
        await processor.settle()
        take()

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started, outputs


def records(customers: int, repeat: int, days: int = 120) -> dict:
    _, events = population.generate(customers=customers, days=days, seed=3)
    history = [(population.topic_of(e), e.customer_id.encode(), e.model_dump_json().encode()) for e in events]
    half = len(history) // 2
    teacher = LoyaltyEngine(load_catalog(), config=EngineConfig())
    Replay(teacher, partitions=4).run(history[:half])  # the version: learned from the first half

    def scorer():
        engine = LoyaltyEngine(load_catalog(), config=EngineConfig(), models=copy.deepcopy(teacher.models))
        engine.models.frozen = True
        return engine

    scored = history[half:]
    alone, held = [], []
    for _ in range(repeat):  # alternated, the least of each: the machine is shared
        took, alone_out = _drive(scorer(), scored, 0)
        alone.append(took)
        took, held_out = _drive(scorer(), scored, 64)
        held.append(took)
        if held_out != alone_out:
            raise SystemExit("the scorer's outputs differ when purchases and reviews are scored together")
    return {"records": len(scored), "one_by_one_us": round(min(alone) / len(scored) * 1e6, 1),
            "together_us": round(min(held) / len(scored) * 1e6, 1), "ratio": round(min(alone) / min(held), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=120, help="days of the loyalty simulator's history")
    parser.add_argument("--batch", type=int, default=64, help="rows per batch of the scores alone")
    parser.add_argument("--repeat", type=int, default=3, help="timings taken of each path; the least is reported")
    args = parser.parse_args()
    print(json.dumps({"scores": scores(args.customers, args.batch, args.repeat), "records": records(args.customers, args.repeat, args.days)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
