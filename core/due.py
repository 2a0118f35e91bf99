"""Which customers have labels falling due, by partition, in deadline order.

A derived index over the customers' states: the drivers push each state's
earliest deadline after every change, and pop the customers whose deadline the
watermark has passed. Each customer has one live deadline; a push that changes
it leaves the old heap entry behind, and popping skips entries that are no longer
a customer's live deadline. So the index holds about one entry per customer with
something pending, however many events they send, and a customer is popped once
per deadline, not once per event that ever moved it.
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
    >>> index.push(0, 10.0, "d"); index.push(0, 30.0, "d")  # d's deadline moved on
    >>> index.pop_due(0, 20.0), index.pop_due(0, 30.0)
    ([], ['d'])
    >>> for c in "xyz": index.push(2, 1.0, c)
    >>> index.pop_due(2, 1.0, limit=2), index.pop_due(2, 1.0, limit=2)
    (['x', 'y'], ['z'])
    """

    def __init__(self) -> None:
        self.heaps: dict[int, list[tuple[float, str]]] = defaultdict(list)
        self.live: dict[str, float] = {}

    def push(self, partition: int, deadline: float | None, customer_id: str) -> None:
        if deadline is None:
            self.live.pop(customer_id, None)
        elif self.live.get(customer_id) != deadline:
            self.live[customer_id] = deadline
            heapq.heappush(self.heaps[partition], (deadline, customer_id))

    def deadline(self, customer_id: str) -> float | None:
        """The customer's live deadline: the watermark passing it pops them."""
        return self.live.get(customer_id)

    def pop_due(self, partition: int, watermark: float, limit: int | None = None) -> list[str]:
        """Customers of `partition` whose live deadline is at or before `watermark`, by deadline then id.

        With `limit`, at most that many; the rest stay for the next call.
        """
        heap = self.heaps.get(partition)
        due: list[str] = []
        live = self.live
        while heap and heap[0][0] <= watermark and (limit is None or len(due) < limit):
            deadline, customer_id = heapq.heappop(heap)
            if live.get(customer_id) == deadline:
                del live[customer_id]
                due.append(customer_id)
        return due

    def due(self, partition: int, watermark: float) -> bool:
        """Whether a customer of `partition` is due at `watermark` (stale entries are dropped on the way)."""
        heap = self.heaps.get(partition)
        while heap and self.live.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return bool(heap) and heap[0][0] <= watermark

    def __len__(self) -> int:
        return len(self.live)
