"""Each input partition in offset order, no record skipped: what a Faust rebalance can break.

Found by the crash test (tests/integration/test_crash.py). Around a rebalance Faust's
stream drops records it fetched for an older consumer generation, and acks them
unprocessed (its fast Cython path acks them without going through the consumer); its
fetcher counts a jump in offsets as a "gap" that it acks too. Either way an offset can
commit past a record no one processed, and that customer's state misses it for good.

`InOrder` keeps, for every input partition of the current assignment, the offset the
agent must see next: where Faust's seek to the committed offsets put it (`guard`).

* a record at that offset is processed, and the next one is expected;
* a record past it means one was dropped: it is not processed, and the partition is
  sought back to the missing offset (`take_seeks`), so the records come again, in order;
* a record before it was processed already: not again;
* a record of a partition whose start is not known yet is not processed: it comes again.

What commits is the agent's own count, not Faust's acks (`committable`): the offset after
the last record whose batch the agent finished (`finished`), never past the next expected.
Faust commits the first unbroken run of offsets it acked, and refuses to commit when the
lowest acked one is past its committed offset. A record it handed over across a broker outage
and never acked then stalls that partition's commits for good, though the agent processed
everything after it (the fault test found payments' four partitions stuck that way).
Records Faust dropped with nothing after them are found by `stalled`, which a timer
turns into seeks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

log = logging.getLogger("loyalty.ordering")


class InOrder:
    def __init__(self, topics: Iterable[str], clock=time.monotonic) -> None:
        self.topics = frozenset(topics)
        self.clock = clock
        self.expected: dict = {}  # TP -> next offset to process
        self.pending: set = set()  # TPs assigned whose start is not known yet
        self.refused: set = set()  # pending TPs a record of which was refused
        self.seeks: dict = {}  # TP -> offset to read again from
        self.sought: dict = {}  # TP -> the offset last sought to (one seek per gap)
        self.progress: dict = {}  # TP -> when its expected offset last moved
        self.dropped = 0  # records Faust handed over out of order
        self.done: dict = {}  # TP -> the offset after the last record whose batch finished
        self.held = 0  # commits held back below what Faust acked

    def reset(self, starts: Mapping) -> None:
        """After a seek to the committed offsets: where each partition starts (None: not known yet)."""
        ours = {tp: offset for tp, offset in starts.items() if tp.topic in self.topics}
        self.expected = {tp: offset for tp, offset in ours.items() if offset is not None}
        self.pending = {tp for tp, offset in ours.items() if offset is None}
        self.done = dict(self.expected)
        self.refused.clear()
        self.seeks.clear()
        self.sought.clear()
        now = self.clock()
        self.progress = {tp: now for tp in ours}

    def started(self, starts: Mapping) -> None:
        """The starts of pending partitions, learnt later; those that refused a record read again."""
        for tp, offset in starts.items():
            if tp in self.pending:
                self.pending.discard(tp)
                self.expected[tp] = self.done[tp] = offset
                if tp in self.refused:
                    self.seeks[tp] = self.sought[tp] = offset

    def is_next_offset(self, message) -> bool:
        """Is this record its partition's next offset, so the agent processes it now?"""
        tp, offset = message.tp, message.offset
        expected = self.expected.get(tp)
        if expected is None:  # not assigned here, or its start not known yet
            if tp in self.pending:
                self.refused.add(tp)
            return False
        if offset == expected:
            self.expected[tp] = offset + 1
            self.progress[tp] = self.clock()
            return True
        if offset < expected:  # processed already
            return False
        self.dropped += 1
        if self.sought.get(tp) != expected:
            self.seeks[tp] = self.sought[tp] = expected
            log.warning("%s: record %d came before %d, which never did: reading again from %d",
                        tp, offset, expected, expected)
        return False

    def finished(self, tp, offset: int) -> None:
        """The batch holding this record (which `is_next_offset` let through) is done: its states and outputs
        are queued, so its offset may commit. A record of a generation before the last seek is ignored."""
        expected = self.expected.get(tp)
        if expected is not None and offset < expected and offset + 1 > self.done.get(tp, -1):
            self.done[tp] = offset + 1

    def committable(self, tp, offset):
        """The offset that commits for `tp` when Faust would commit `offset` (None: nothing commits)."""
        if tp.topic not in self.topics:
            return offset
        done = self.done.get(tp)
        if done is None:
            return None
        expected = self.expected.get(tp, done)
        if offset is not None and offset > expected:  # Faust acked records the agent never saw
            self.held += 1
        return min(done, expected)

    def stalled(self, read: Mapping, after: float) -> dict:
        """Partitions Faust read past the expected offset while it did not move for `after` seconds."""
        now = self.clock()
        found = {}
        for tp, expected in self.expected.items():
            last_read = read.get(tp)
            if last_read is not None and last_read >= expected and now - self.progress.get(tp, now) > after:
                found[tp] = expected
                self.progress[tp] = now  # one seek per wait
        return found

    def read_to_end(self, partition: int, topics: Iterable[str], highwater) -> bool:
        """Is `partition` of every one of `topics` assigned here and processed up to its high watermark?

        `highwater(tp)` is the offset the next record produced to `tp` will get, as the
        client last saw it (None: not seen yet, which is not the end).
        """
        for name in topics:
            matches = [(tp, offset) for tp, offset in self.expected.items()
                       if tp.topic == name and tp.partition == partition]
            if not matches:
                return False
            tp, expected = matches[0]
            end = highwater(tp)
            if end is None or end < 0 or expected < end:
                return False
        return True

    def status(self, read: Mapping | None = None) -> dict:
        """Per partition: the offset the agent expects next (and Faust's read offset), the partitions whose start
        is not known yet, and the seeks asked for. What to look at when a partition does not move."""
        read = read or {}
        return {
            "expected": {f"{tp.topic}:{tp.partition}": [offset, read.get(tp)]
                         for tp, offset in sorted(self.expected.items())},
            "pending": sorted(f"{tp.topic}:{tp.partition}" for tp in self.pending),
            "seeks": {f"{tp.topic}:{tp.partition}": offset for tp, offset in sorted(self.sought.items())},
        }

    def take_seeks(self) -> dict:
        seeks, self.seeks = self.seeks, {}
        return seeks

    def guard(self, consumer) -> None:
        """Hook Faust's consumer: learn the starts at each seek to the committed offsets, cap commits."""
        if getattr(consumer, "_in_order_guard", False):
            return
        perform_seek, new_offset = consumer.perform_seek, consumer._new_offset

        async def seek_then_reset() -> None:
            await perform_seek()
            # No await between the seek and the reset: no record is judged against the old starts.
            self.reset({tp: consumer._read_offset.get(tp) for tp in consumer.assignment()})
            if self.pending:
                self.started(await consumer.earliest_offsets(*self.pending))

        def capped(tp):
            offset = self.committable(tp, new_offset(tp))
            if tp.topic in self.topics and offset is not None:
                # Faust's acks below what commits are of no further use: an unacked record among them
                # would keep every later ack in its list, sorted again at each commit.
                acked = consumer._acked.get(tp)
                stale = [o for o in acked if o < offset] if acked else ()
                if stale:
                    acked[:] = [o for o in acked if o >= offset]
                    consumer._acked_index[tp].difference_update(stale)
            return offset

        consumer.perform_seek = seek_then_reset
        consumer._new_offset = capped
        consumer._in_order_guard = True
