"""The worker takes the records of a fetch oldest first across partitions, each partition in offset order."""

from types import SimpleNamespace

from faust.types import TP

from streams.kafka.scheduling import OldestFirst


def records(tp: TP, *stamps: int) -> list:
    return [SimpleNamespace(timestamp=ms, offset=i, tp=tp) for i, ms in enumerate(stamps)]


def test_a_fetch_comes_oldest_first_across_topics_and_partitions():
    sparse, dense0, dense1 = TP("payments", 0), TP("engagements", 0), TP("engagements", 1)
    fetched = {
        sparse: records(sparse, 10, 40, 70, 100),  # fewer records, further in time
        dense0: records(dense0, 10, 20, 30, 40, 50),
        dense1: records(dense1, 15, 25, 35),
    }
    taken = list(OldestFirst().iterate(fetched))
    stamps = [record.timestamp for _, record in taken]
    assert stamps == sorted(stamps)
    # Faust's own strategy takes one of each in turn: the sparse topic would reach 100
    # while the dense partitions are still at 30 and 35.
    assert [tp for tp, _ in taken][:3] == [sparse, dense0, dense1]  # equal times: fetch order
    assert sorted((tp, r.offset) for tp, r in taken) == sorted((tp, r.offset) for tp, rs in fetched.items() for r in rs)


def test_each_partition_keeps_its_offset_order_even_when_its_timestamps_go_back():
    a, b = TP("purchases", 0), TP("purchases", 1)
    fetched = {a: records(a, 50, 10, 60), b: records(b, 20, 30)}
    taken = list(OldestFirst().iterate(fetched))
    assert [r.offset for tp, r in taken if tp == a] == [0, 1, 2]
    assert [r.offset for tp, r in taken if tp == b] == [0, 1]
    assert len(taken) == 5


def test_an_empty_fetch_gives_nothing():
    assert list(OldestFirst().iterate({})) == []
    assert list(OldestFirst().iterate({TP("ticks", 0): []})) == []
