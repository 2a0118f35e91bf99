"""Where a live worker's time goes: the core against everything around it (real Kafka and Redis).

The benchmark's simulator events are pre-loaded to fresh topics, and one `loyalty worker`
(a scorer by default, `LOYALTY_MODELS_FROM=learners`) takes them with its parts timed from
inside: each part's own time, without the parts it calls that are timed too. The parts:
- core: `Processor.process`, `sweep` and `settle` (decode, engine steps, scoring, decisions);
- limits: the Redis budget and cap reservations the core awaits;
- state load and state write-back (the table, the codec, the changelog records);
- outputs: building and queueing the output records (labels included: they are built here);
- served scores (Redis) and the outbox's delivery callbacks;
- batch: the agent's own loop around them;
- outside the batches: Faust taking the records in, the event loop, and idle waits.

What the worker would do with a core that cost nothing is then a bound: events over the
time not spent in the core. No timings in tests; this is a measurement to read.

    python bench/worker_split.py [--events 30000] [--learning]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = "LOYALTY_SPLIT_OUT"  # where the worker writes its timings (set by the driver)


def _instrument(out: Path) -> None:
    """In the worker process: time its parts, and write the totals about once a second."""
    import agents.customers as agent
    import streams.runtime as rt

    spent: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    stack: list[list] = []  # [label, started, time in timed parts inside]
    last = [0.0]

    def enter(label):
        stack.append([label, time.perf_counter(), 0.0])

    def leave():
        label, started, inner = stack.pop()
        took = time.perf_counter() - started
        spent[label] += took - inner
        calls[label] += 1
        if stack:
            stack[-1][2] += took

    def timed(owner, name, label):
        function = getattr(owner, name)
        if inspect.iscoroutinefunction(function):
            async def wrapper(*args, **kwargs):
                enter(label)
                try:
                    return await function(*args, **kwargs)
                finally:
                    leave()
        else:
            def wrapper(*args, **kwargs):
                enter(label)
                try:
                    return function(*args, **kwargs)
                finally:
                    leave()
        setattr(owner, name, wrapper)

    processor = rt.processor
    for name in ("process", "sweep", "settle"):
        timed(processor, name, "core")
    for name in ("reserve", "reserve_many"):
        timed(processor.limits, name, "limits")
    timed(processor, "load", "state load")
    timed(rt.states, "write_back", "state write-back")
    timed(rt.outputs, "send_all", "outputs")
    timed(rt.scores, "put_many", "served scores")
    timed(rt.outbox, "serve", "outbox callbacks")
    batch = agent.handle_batch

    async def handle_batch(events):
        enter("batch")
        try:
            return await batch(events)
        finally:
            leave()
            now = time.time()
            if now - last[0] > 1.0:
                last[0] = now
                out.write_text(json.dumps({"spent": spent, "calls": calls}))

    agent.handle_batch = handle_batch


def measure(events: int, learning: bool) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    import run as b
    from streams.settings import Settings

    stamp = f"{int(time.time())}"
    base = Settings().model_copy(update={"topic_prefix": b.made(f"split-{stamp}-"), "app_id": b.made(f"split-{stamp}")})
    records = b.simulate(5000, 180, 7, events)
    b.log(f"pre-loading {len(records):,} events ...")
    b.preload(base, records)
    workdir = ROOT / ".run" / "bench" / f"split-{stamp}"
    out = workdir / "split.json"
    env = {OUT: str(out), **({} if learning else b.SCORER_ENV)}
    worker = b.Worker(base, workdir, 6250, env, command=[sys.executable, str(Path(__file__).resolve()), "worker",
                                                          "-l", "warn"])
    try:
        worker.wait_ready()
        counters = b.wait_handled([worker], len(records), timeout=1200)[0]
        time.sleep(1.5)  # the last totals written
    finally:
        worker.stop()
        b.clean_up(base)  # its topics and Redis keys
    wall = counters["last_handled_at"] - counters["first_handled_at"]
    timings = json.loads(out.read_text())
    spent = timings["spent"]
    handled = b.handled(counters)
    parts = {label: round(seconds, 2) for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1])}
    parts["outside the batches"] = round(wall - sum(spent.values()), 2)
    core = spent.get("core", 0.0)
    return {"worker": "learning" if learning else "scorer", "events": handled, "wall_seconds": round(wall, 2),
            "events_per_s": round(handled / wall, 1), "seconds": parts,
            "us_per_event": {label: round(seconds / handled * 1e6, 1) for label, seconds in parts.items()},
            "share": {label: round(seconds / wall, 3) for label, seconds in parts.items()},
            "core_free_bound_events_per_s": round(handled / max(wall - core, 1e-9), 1)}


def main() -> int:
    if os.environ.get(OUT) and sys.argv[1:2] == ["worker"]:
        _instrument(Path(os.environ[OUT]))
        from streams.cli import main as cli
        sys.argv = ["loyalty", *sys.argv[1:]]
        cli()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30000)
    parser.add_argument("--learning", action="store_true", help="the worker that learns (default: a scorer)")
    args = parser.parse_args()
    print(json.dumps(measure(args.events, args.learning), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
