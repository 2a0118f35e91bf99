"""The order in which the worker takes the records of one fetch: oldest first, across partitions.

Faust's default takes one record of each topic, then of each partition, in turn. The
three input topics carry different numbers of records per day, so in a backlog (a
restart, a replay of history through Kafka, the benchmark's pre-loaded topics) the
sparser topics ran days ahead of the denser ones in event time: the watermark, which
is the latest event time seen, moved past deadlines that the records still queued
in the other partitions would have settled. Taking the records of a fetch by their
Kafka timestamp, as Kafka Streams does, keeps the partitions together in time; each
partition's records still come in offset order.
"""

from __future__ import annotations

import heapq
from typing import Any, Iterator, Mapping

from faust.types import TP
from faust.types.transports import SchedulingStrategyT


class OldestFirst(SchedulingStrategyT):
    def iterate(self, records: Mapping[TP, list]) -> Iterator[tuple[TP, Any]]:
        runs = [[(record.timestamp, n, i, tp, record) for i, record in enumerate(messages)]
                for n, (tp, messages) in enumerate(records.items())]
        for _, _, _, tp, record in heapq.merge(*runs):
            yield tp, record
