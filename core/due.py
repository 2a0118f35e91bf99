"""Which customers have labels falling due, by partition, in deadline order.

A derived index over the customers' states: the drivers push each state's
earliest deadline after every change, and pop the customers whose deadline the
watermark has passed. Entries that went stale (the state changed since) are
skipped by the caller re-checking the state, so nothing is ever removed early.
"""

from __future__ import annotations

import heapq
from collections import defaultdict


class DueIndex:
    """
    >>> index = DueIndex()
    >>> index.push(0, 50.0, "b"); index.push(0, 10.0, "a"); index.push(1, 5.0, "c")
    >>> index.pop_due(0, 20.0), index.pop_due(0, 20.0), index.pop_due(0, 60.0)
    (['a'], [], ['b'])
    """

    def __init__(self) -> None:
        self.heaps: dict[int, list[tuple[float, str]]] = defaultdict(list)

    def push(self, partition: int, deadline: float | None, customer_id: str) -> None:
        if deadline is not None:
            heapq.heappush(self.heaps[partition], (deadline, customer_id))

    def pop_due(self, partition: int, watermark: float) -> list[str]:
        """Customers of `partition` with a deadline at or before `watermark`, each once, by deadline then id."""
        heap = self.heaps.get(partition)
        due: dict[str, None] = {}
        while heap and heap[0][0] <= watermark:
            _, customer_id = heapq.heappop(heap)
            due[customer_id] = None
        return list(due)

    def __len__(self) -> int:
        return sum(len(h) for h in self.heaps.values())
