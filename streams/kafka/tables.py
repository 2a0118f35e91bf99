"""Per-customer state, changelog-backed, co-partitioned with the customer-keyed topics."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterable

from faust.streams import _current_event  # the context variable a table write reads (FIELD-NOTES)
from faust.types import EventT

from core import CustomerState, statecodec
from core.partitioning import partition_of
from streams.app import app, settings

# Values are `core.statecodec` bytes (compact JSON), stored and changelogged as they are:
# one changelog record per changed customer per batch. Faust's changelog recovery only
# rebuilds int/float/str/bytes or Faust models (with `dict` it fails with a swallowed
# warning and never finishes), so the table holds bytes (value_type bytes: the raw serializer).
# RocksDB keeps one database per partition, each with Faust's defaults of a 2 GiB block
# cache and three 64 MiB memtables: bounded here so a worker's memory stays bounded.
ROCKSDB_OPTIONS = {
    "block_cache_size": settings.rocksdb_block_cache_mb << 20,
    "write_buffer_size": settings.rocksdb_write_buffer_mb << 20,
    "max_write_buffer_number": 2,
}

customers = app.Table(
    "customers",
    options=dict(ROCKSDB_OPTIONS) if settings.store.startswith("rocksdb") else None,
    default=None,
    key_type=str,
    value_type=bytes,
    partitions=settings.partitions,
    help="Per-customer purchase, engagement, payment, label and offer state.",
)
# Keys as plain bytes, as on every customer-keyed topic: with Faust's JSON keys (`"c-1"`, quoted)
# its table routing hashed another key than the topics' partitioner did, so the API forwarded a
# customer to a worker that did not hold them. Same key bytes, same murmur2 partition, same owner.
customers.key_serializer = "raw"
customers.changelog_topic = customers.changelog_topic.derive(key_serializer="raw")


class BatchStates:
    """The states one batch of records touches: read from the table once, written back once.

    The agent calls `begin` with the batch, the processor loads and saves through `load`
    and `save`, and `write_back` then writes each changed customer's final state once:
    into the table's store, and as one changelog record through the `Outbox`
    (librdkafka), to the partition the table itself would pick, once the outputs
    put before it are delivered (so a restored state never holds an undelivered offer). Faust's own path
    (`table[key] = value`) sends each changelog record through its Python producer
    buffer, which held the worker to a few hundred records a second. A customer seen
    five times in a batch costs one changelog record, not five.

    The last `keep` states written stay decoded between batches (busy customers are not
    decoded again at every batch); a rebalance must `forget` them, since the partitions
    they belong to may have been another worker's meanwhile.

    When the watermark jumps, one sweep can make thousands of customers due at once:
    past `spill_at` changed states (`full`), the agent writes back early, once it has queued
    the outputs of the records those states hold, so the memory a batch holds stays
    bounded however many customers it touches.

    The store of a partition is chosen by the current event (RocksDB keeps one database
    per partition), so each write runs with an event of that partition as the current one.
    """

    def __init__(self, outbox, table=customers, partitions: int = settings.partitions, spill_at: int = 2000,
                 keep: int = 10_000) -> None:
        self.outbox = outbox
        self.table = table
        self.partitions = partitions
        self.spill_at = spill_at
        self.keep = keep
        self.cache: dict[str, CustomerState | None] = {}
        self.warm: OrderedDict[str, CustomerState] = OrderedDict()
        self.changed: set[str] = set()
        self.events: dict[int, EventT] = {}

    def begin(self, events: Iterable[EventT]) -> None:
        """The batch's events: each changed customer's partition must have one among them."""
        self.events = {event.message.partition: event for event in events}

    def forget(self) -> None:
        """Drop the states kept between batches (after a rebalance)."""
        self.warm.clear()

    def load(self, customer_id: str) -> CustomerState | None:
        try:
            return self.cache[customer_id]
        except KeyError:
            pass
        state = self.warm.get(customer_id)
        if state is not None:
            self.cache[customer_id] = state
            return state
        stored = self.table.get(customer_id)
        state = self.cache[customer_id] = statecodec.decode(stored) if stored else None
        return state

    def save(self, state: CustomerState) -> None:
        self.cache[state.customer_id] = state
        self.changed.add(state.customer_id)

    @property
    def full(self) -> bool:
        """`spill_at` states changed: time to write back early (once their records' outputs are queued)."""
        return len(self.changed) >= self.spill_at

    def write_back(self) -> int:
        """Write every changed state (and forget the cached ones)."""
        store = self.table.data
        changelog = self.table.changelog_topic.get_topic_name()
        token = _current_event.get(None)
        warm = self.warm
        written = 0
        try:
            for customer_id in self.changed:
                partition = partition_of(customer_id, self.partitions)
                _current_event.set(weakref.ref(self.events[partition]))
                state = self.cache[customer_id]
                value = statecodec.encode(state)
                store[customer_id] = value
                self.outbox.put_after_outputs(changelog, store._encode_key(customer_id), value, partition=partition)
                warm[customer_id] = state
                warm.move_to_end(customer_id)
                written += 1
            while len(warm) > self.keep:
                warm.popitem(last=False)
        finally:
            _current_event.set(token)
            self.cache.clear()
            self.changed.clear()
        return written
