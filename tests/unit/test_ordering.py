"""`streams.kafka.ordering.InOrder`: records of a partition in offset order, none skipped, none committed unprocessed."""

import asyncio
from collections import namedtuple

from streams.kafka.ordering import InOrder

TP = namedtuple("TP", "topic partition")
Record = namedtuple("Record", "topic tp offset")
P0, P1, OTHER = TP("purchases", 0), TP("purchases", 1), TP("other", 0)


def record(offset: int, tp: TP = P0) -> Record:
    return Record(tp.topic, tp, offset)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_dropped_record_stops_the_partition_until_it_is_read_again():
    order = InOrder(["purchases"])
    order.reset({P0: 10, OTHER: 3})
    assert [order.is_next_offset(record(o)) for o in (10, 11)] == [True, True]
    assert not order.is_next_offset(record(13)) and not order.is_next_offset(record(14))  # 12 never came
    assert order.take_seeks() == {P0: 12} and order.take_seeks() == {}
    assert [order.is_next_offset(record(o)) for o in (12, 13, 14)] == [True, True, True]  # read again, in order
    assert not order.is_next_offset(record(13))  # processed already
    assert order.dropped == 2


def test_nothing_is_processed_before_the_start_of_a_partition_is_known():
    order = InOrder(["purchases"])
    assert not order.is_next_offset(record(0))  # before the first seek: no assignment known
    order.reset({P0: 4, P1: None})  # P1 has no committed offset: its start comes later
    assert not order.is_next_offset(record(7, P1))
    assert order.is_next_offset(record(4))
    order.started({P1: 2})
    assert order.take_seeks() == {P1: 2}  # it refused a record meanwhile: from the start again
    assert order.is_next_offset(record(2, P1)) and not order.is_next_offset(record(5, TP("purchases", 9)))  # not ours


def test_the_status_names_each_partitions_next_offset_and_those_still_waiting_for_their_start():
    order = InOrder(["purchases"])
    order.reset({P0: 4, P1: None})
    assert not order.is_next_offset(record(6))  # 4 and 5 never came: read again from 4
    assert order.status({P0: 6}) == {"expected": {"purchases:0": [4, 6]}, "pending": ["purchases:1"],
                                     "seeks": {"purchases:0": 4}}


def test_what_commits_is_what_the_agent_finished_never_what_faust_acked():
    order = InOrder(["purchases"])
    order.reset({P0: 5, P1: None})
    assert order.committable(P0, 9) == 5  # nothing finished yet: the start
    assert order.is_next_offset(record(5)) and order.is_next_offset(record(6))
    assert order.committable(P0, 7) == 5  # processed, but their batch is not done
    order.finished(P0, 5)
    order.finished(P0, 6)
    assert order.committable(P0, 7) == 7
    assert order.committable(P0, 12) == 7 and order.held == 2  # Faust acked 7..11 (and 5..8 at first), unseen
    # Faust commits nothing when an unacked record heads its list (a broker outage can leave one): we do.
    assert order.committable(P0, None) == 7
    assert order.committable(P1, 3) is None  # start not known: nothing commits
    assert order.committable(OTHER, 40) == 40


def test_a_batch_that_finishes_after_a_seek_commits_nothing_of_the_generation_before():
    order = InOrder(["purchases"])
    order.reset({P0: 5})
    assert order.is_next_offset(record(5)) and order.is_next_offset(record(6))
    order.reset({P0: 5})  # a rebalance while the batch waited: the partition is read again from 5
    order.finished(P0, 6)
    assert order.committable(P0, None) == 5
    order.reset({P0: 20})  # another worker had gone further
    order.finished(P0, 6)
    assert order.committable(P0, None) == 20


def test_a_partition_read_past_what_was_processed_is_read_again_once_it_stalls():
    clock = Clock()
    order = InOrder(["purchases"], clock=clock)
    order.reset({P0: 5, P1: 0})
    assert order.is_next_offset(record(5))
    clock.now = 3.0
    assert order.stalled({P0: 8, P1: None}, after=5.0) == {}  # not long enough
    clock.now = 6.0
    assert order.stalled({P0: 8, P1: None}, after=5.0) == {P0: 6}
    assert order.stalled({P0: 8}, after=5.0) == {}  # one seek per wait
    assert order.is_next_offset(record(6))
    clock.now = 20.0
    assert order.stalled({P0: 6}, after=5.0) == {}  # everything read was processed


def test_the_guard_learns_the_starts_at_each_seek_and_caps_commits():
    class Consumer:
        def __init__(self) -> None:
            self._read_offset: dict = {}

        async def perform_seek(self):
            self._read_offset.update({P0: 30, P1: None})

        def assignment(self):
            return {P0, P1, OTHER}

        async def earliest_offsets(self, *tps):
            return {tp: 0 for tp in tps}

        def _new_offset(self, tp):
            return 99

        _acked = {P0: [31, 28, 29, 40]}
        _acked_index = {P0: {31, 28, 29, 40}}

    consumer, order = Consumer(), InOrder(["purchases"])
    order.guard(consumer)
    order.guard(consumer)  # once only
    asyncio.run(consumer.perform_seek())
    assert order.expected == {P0: 30, P1: 0} and not order.pending
    assert consumer._new_offset(P0) == 30 and consumer._new_offset(OTHER) == 99
    assert order.is_next_offset(record(30)) and order.is_next_offset(record(31))
    order.finished(P0, 30)
    order.finished(P0, 31)
    assert consumer._new_offset(P0) == 32
    assert consumer._acked[P0] == [40] and consumer._acked_index[P0] == {40}  # acks below the commit dropped


def test_a_partition_is_read_to_end_when_every_topic_of_it_was_processed_up_to_its_high_watermark():
    order = InOrder(["purchases", "other"])
    order.reset({P0: 3, OTHER: 0, P1: 0})
    ends = {P0: 4, OTHER: 0}
    topics = ["purchases", "other"]
    assert not order.read_to_end(0, topics, ends.get)  # purchases 0 has offset 3 still to read
    assert order.is_next_offset(record(3))
    assert order.read_to_end(0, topics, ends.get)
    ends[OTHER] = None  # no fetch response yet: not known to be the end
    assert not order.read_to_end(0, topics, ends.get)
    assert not order.read_to_end(1, topics, {P1: 0}.get)  # other 1 is not assigned here
