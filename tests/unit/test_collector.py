"""The worker's garbage collector (streams.collector): young collections, survivors frozen."""

import gc

import pytest

from streams.collector import GENERATIONS, collect_all, collect_by_generations, collect_young_only, young_only


@pytest.fixture
def collector():
    """The collector as the test found it, afterwards: thresholds, callbacks, nothing frozen."""
    threshold, callbacks = gc.get_threshold(), list(gc.callbacks)
    gc.collect()
    yield
    gc.callbacks[:] = callbacks
    gc.set_threshold(*threshold)
    gc.unfreeze()
    gc.collect()


class _Node:
    def __init__(self) -> None:
        self.other = None


def _cycle() -> _Node:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a


def test_what_survives_a_young_collection_is_frozen(collector):
    collect_young_only(100)
    assert young_only() and gc.get_threshold()[0] == 100
    before = gc.get_freeze_count()
    alive = [[i] for i in range(1_000)]  # tracked objects: collections run as they are made
    assert gc.get_freeze_count() >= before + 900
    assert gc.get_count()[0] < 100
    assert len(alive) == 1_000


def test_collect_all_finds_the_cycles_that_were_frozen_and_freezes_what_lives(collector):
    collect_young_only(100)
    for _ in range(200):
        cycle = _cycle()
        gc.collect(0)  # a young collection while the cycle lives freezes it
        del cycle  # garbage now, frozen: no young collection sees it
    young_garbage = gc.collect(0)
    assert young_garbage < 50
    found = collect_all()
    assert found >= 400  # both nodes of each cycle
    assert gc.get_freeze_count() > 0 and gc.get_count()[0] < 100


def test_generations_again_after_young_only_and_with_zero(collector):
    collect_young_only(100)
    collect_by_generations()
    assert not young_only() and gc.get_threshold() == GENERATIONS
    collect_young_only(100)
    collect_young_only(0)
    assert not young_only() and gc.get_threshold() == GENERATIONS


def test_calling_it_twice_adds_one_callback(collector):
    collect_young_only(500)
    collect_young_only(500)
    assert sum(1 for callback in gc.callbacks if callback.__name__ == "_freeze_survivors") == 1
