"""The worker's cyclic garbage collector: short young collections while it processes records.

Nearly everything a batch allocates is freed by reference counting; the cyclic
collector's cost is walking what is still alive when it runs, and every record that
arrives meanwhile waits. With Python's generations, what survives a young collection
is walked again by each older one. Measured in the live worker at 1,000 events/s, with
the youngest generation at 50,000 objects: young collections of 15 to 88 ms, a few in
every 30 s, each the start of the slowest stretch of assignments.

While the worker processes records, `collect_young_only(young)`: a collection every
`young` objects allocated (net), and what survives it is frozen (`gc.freeze`), so each
object is walked once, young. What a frozen object refers to is not walked either, so
garbage cycles among frozen objects stay until `collect_all` unfreezes everything and
collects once: the worker does so on a timer (a couple of hundred such objects per
60,000 live records, measured) and after each recovery. A recovery itself (a table
rebuilt from its changelog: a million customers in the benchmark) runs with
`collect_by_generations`, so that what it leaves behind is not frozen before the walk
that ends it (young-only from start-up, the benchmark's million-customer worker peaked
at 1,384 MiB, its highest yet).
"""

from __future__ import annotations

import gc

# Python's generations as the worker sets them: the youngest at 50,000 objects (at 700,
# young collections spent a tenth of the worker's time), the older ones rarely.
GENERATIONS = (50_000, 20, 100)


def _freeze_survivors(phase: str, info: dict) -> None:
    if phase == "stop":
        gc.freeze()


def collect_by_generations() -> None:
    """Python's generational collection, thresholds `GENERATIONS`, nothing frozen by the collector."""
    if _freeze_survivors in gc.callbacks:
        gc.callbacks.remove(_freeze_survivors)
    gc.set_threshold(*GENERATIONS)


def collect_young_only(young: int) -> None:
    """Collect every `young` net allocations and freeze the survivors (0: `collect_by_generations`)."""
    if young <= 0:
        collect_by_generations()
        return
    # The older generations only ever hold the survivors of one young collection, so their
    # own collections are as short: Python's default ratios between them do.
    gc.set_threshold(young, 10, 10)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def young_only() -> bool:
    return _freeze_survivors in gc.callbacks


def collect_all() -> int:
    """Walk every object once (the frozen ones too): the garbage cycles found. What lives is frozen."""
    gc.unfreeze()
    try:
        return gc.collect()
    finally:
        gc.freeze()
