"""Variant quix: Quix Streams driving the project's same pure core, one event at a time.

What a textbook Quix user would write around `core`: one `Application` (fresh group,
earliest offset, RocksDB state with its changelog topic), one StreamingDataFrame over
the three customer topics (`concat`, so the three share one state store and Quix
aligns them by record timestamp), and `sdf.apply(step, stateful=True)`. Per record
`step` does what the live agent does (`agents/customers.py`, through the same
`core.processing.Processor`): decode, the engine's step, the decision with its limits
reserved, the customer's state saved (`state.set` under the message key = customer id,
in the worker's own encoding, `core.statecodec`), the due index pushed, the served
scores written, then the record's partition swept.
Its outputs go out as the live agent sends them (same encoding, keys and headers), to
`<prefix>quix-offer-assignments`, `-decisions`, `-badge-awards`, `-labels` and `-dead-letters`, so
they never mix with the worker's. A record counts once its outputs are handed to the
producer.

Engine config, contact policy and catalog are the live worker's (`streams.runtime`),
built from the same `streams.settings`. `--limits redis` (default) runs the project's
own Lua script and key layout (`streams.redis.limits.RedisLimits`) and score hashes
(`streams.redis.scores.RedisScoreStore`) over a synchronous `redis.Redis`, namespaced
by the group; `--limits memory` uses no Redis at all
(`core.limits.MemoryLimits`, and scores are not served). Either way nothing suspends,
so the async `Processor` is driven without an event loop (`run_sync`).

Not done here (the live worker does it): the timed sweep of partitions that get no
records (its ticks). The sweep of the record's partition loads and saves OTHER
customers, which the per-key `state` cannot reach: it goes through the partition's
store transaction (`StreamingDataFrame.processing_context`), which Quix commits with
the record's offsets.

Each run is its own: at the end (or on failure) it deletes its Redis namespace and the
changelog topic Quix made for its group.

Order: Quix aligns the three topics by timestamp within a partition number only. Over
a backlog its buffered consumer drains one partition's buffer (up to
`max_partition_buffer_size` records) before the next. Labels resolve by each
partition's own watermark, so none resolves early, but the models learn in that order.
Partitions without records do not catch up here (no ticks).

    bench/setup-quix
    PYTHONPATH=.:bench bench/.venv-quix/bin/python bench/peer_quix.py \\
        --bootstrap 127.0.0.1:19092 --prefix P --expect N --group G [--redis URL] [--state-dir D]
"""

from __future__ import annotations

import shutil
import tempfile
from typing import NamedTuple

import redis
from confluent_kafka.admin import AdminClient
from quixstreams import Application, State, message_context
from quixstreams.models import TopicConfig
from quixstreams.models.serializers import Serializer
from quixstreams.state.rocksdb import RocksDBOptions
from quixstreams.utils.json import dumps as json_dumps

from core import LoyaltyEngine, load_catalog, statecodec
from core.limits import MemoryLimits
from core.outputs import Source
from core.processing import Processor, Result
from core.state import CustomerState
from schemas import encode
from streams.redis.limits import RESERVE_LUA, RedisLimits  # redis only, no Faust
from streams.redis.scores import RedisScoreStore  # redis only, no Faust
from streams.settings import Settings, get_settings  # pydantic-settings only, no Faust
from variant_common import AT_EXIT, FinishLine, arguments, fail, say, topics

settings = get_settings()
args = arguments(__doc__, **{
    "--redis": {"default": settings.redis_url},
    "--limits": {"choices": ["redis", "memory"], "default": "redis"},
    "--state-dir": {"default": None,
                    "help": "Quix state dir, kept for inspection (default: a temporary one, removed at the end)"},
})
OUTPUTS = ("offer-assignments", "decisions", "badge-awards", "labels", "dead-letters")
STATE_KEY = b"customer"
DONE = object()  # the last row `step` yields for a record: its outputs are ahead of it


class SyncRedisLimits(RedisLimits):
    """`RedisLimits` (keys, arguments, Lua script, reply) over a synchronous client."""

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(self.url, decode_responses=True)
            script = self._client.register_script(RESERVE_LUA)  # EVALSHA, loading it on NOSCRIPT

            async def run(keys, args):  # awaited by RedisLimits.reserve; never suspends
                return script(keys=keys, args=args)

            self._script = run
        return self._client


class SyncScores:
    """`RedisScoreStore.put_scores` (same hash per customer) over a synchronous client."""

    def __init__(self, url: str, namespace: str) -> None:
        self.layout = RedisScoreStore(url, namespace)  # only its key layout is used
        self.client = redis.Redis.from_url(url, decode_responses=True)

    def put_scores(self, customer_id: str, scores: dict) -> None:
        self.client.hset(self.layout.key(customer_id), mapping={k: str(v) for k, v in scores.items()})


def clear_namespace(url: str, namespace: str) -> None:
    """Delete this run's limits and score keys, so benchmark runs do not pile up in Redis."""
    client = redis.Redis.from_url(url)
    for pattern in (f"{namespace}:limits:*", f"{namespace}:scores:*"):
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)


def run_sync(coroutine):
    """Run a coroutine that never suspends (the Processor over synchronous limits)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the processor awaited real I/O: its limits must be synchronous")


def partition_count(bootstrap: str, names: list[str]) -> int:
    """The input topics' common partition count; fails when one is missing or they differ.

    The Processor needs it to know which customers a partition owns (for the sweep), and
    without this check a wrong --prefix would have Quix create empty topics and wait.
    """
    found = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=30).topics
    counts = {name: len(found[name].partitions) for name in names if name in found and found[name].error is None}
    if len(counts) < len(names):
        fail(f"quix: missing input topics: {sorted(set(names) - set(counts))}")
    if len(set(counts.values())) != 1:
        fail(f"quix: input topics are not co-partitioned: {counts}")
    return next(iter(counts.values()))


def delete_internal_topics(bootstrap: str, group: str) -> None:
    """Delete the changelog (and any repartition) topics Quix made for this group: outside the
    prefix, nothing else would, and the state they back is gone with the run."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [name for name in admin.list_topics(timeout=10).topics
             if name.startswith((f"changelog__{group}--", f"repartition__{group}--"))]
    for future in (admin.delete_topics(names, operation_timeout=10).values() if names else ()):
        future.result()


def store_dumps(value) -> bytes:
    """The state store's serializer: a customer's state comes encoded by `core.statecodec` (the
    JSON bytes the worker's table holds) and is kept verbatim; anything else Quix serializes
    itself (a record's key, when not bytes) gets Quix's default JSON. Reads keep Quix's JSON
    `loads`, whose dict `statecodec.decode` takes."""
    return value if isinstance(value, bytes) else json_dumps(value)


class Row(NamedTuple):
    """One record to send, encoded: the rows `step` yields (besides DONE)."""

    topic: str  # base name, one of OUTPUTS
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


class Encoded(Serializer):
    """The output topics' value serializer: a row carries its value already encoded."""

    def __call__(self, row: Row, ctx) -> bytes:
        return row.value


inputs_names = topics(args.prefix)
partitions = partition_count(args.bootstrap, inputs_names)
state_dir = args.state_dir or tempfile.mkdtemp(prefix="quix-state-")
if args.state_dir is None:
    AT_EXIT.append(lambda: shutil.rmtree(state_dir, ignore_errors=True))
AT_EXIT.append(lambda: delete_internal_topics(args.bootstrap, args.group))
if args.limits == "redis":
    limits = SyncRedisLimits(args.redis, args.group)
    limits.client.ping()
    scores = SyncScores(args.redis, args.group)
    AT_EXIT.append(lambda: clear_namespace(args.redis, args.group))  # the group is fresh: so is its namespace
else:
    limits, scores = MemoryLimits(), None
engine = LoyaltyEngine(load_catalog(settings.catalog_file), config=settings.engine_config())
policy = settings.contact_policy()
tally = {"assignments": 0, "traces": 0, "badges": 0, "dead_letters": 0, "limits_errors": 0, "swept": 0}
finish = FinishLine("quix", args.expect, args.timeout, limits=args.limits, policy=repr(policy), outputs=tally)

app = Application(
    broker_address=args.bootstrap, consumer_group=args.group, auto_offset_reset="earliest", state_dir=state_dir,
    rocksdb_options=RocksDBOptions(dumps=store_dumps),
    # Keyed outputs land where the worker's (aiokafka, murmur2) would put them.
    producer_extra_config={"partitioner": "murmur2_random"},
)
sdf = None  # the concatenated frame; `step` needs it for the partition's store transaction
for name in inputs_names:
    frame = app.dataframe(app.topic(name, key_deserializer="bytes", value_deserializer="bytes"))
    sdf = frame if sdf is None else sdf.concat(frame)
out_config = TopicConfig(num_partitions=partitions, replication_factor=1)
out_topics = {base: app.topic(f"{args.prefix}quix-{base}", key_serializer="bytes", value_serializer=Encoded(),
                              config=out_config) for base in OUTPUTS}


class Current:
    """The record being processed: its customer's `State`, and its partition's store transaction."""

    state: State | None = None
    customer: str | None = None
    transaction = None

    def state_of(self, customer_id: str) -> State:
        if customer_id == self.customer:
            return self.state
        # The sweep: another customer of this partition, under the prefix Quix gives its records
        # (a bytes key is used verbatim).
        return self.transaction.as_state(prefix=customer_id.encode())

    def load(self, customer_id: str) -> CustomerState | None:
        stored = self.state_of(customer_id).get(STATE_KEY)
        return statecodec.decode(stored) if stored else None

    def save(self, state: CustomerState) -> None:
        self.state_of(state.customer_id).set(STATE_KEY, statecodec.encode(state))


current = Current()
processor = Processor(engine, current.load, current.save, limits, policy, partitions=partitions)


def emit(result: Result, source: Source | None = None) -> list[Row]:
    """What a record or a sweep produced, as every driver sends it (`Result.outputs`)."""
    rows = [Row(o.topic, o.key, encode(o.record), o.headers()) for o in result.outputs(source)]
    if scores is not None:
        for customer_id, values in result.scores:
            scores.put_scores(customer_id, values)
    tally["assignments"] += len(result.assignments)
    tally["traces"] += len(result.traces)
    tally["badges"] += len(result.badges)
    tally["dead_letters"] += result.rejected
    tally["limits_errors"] += result.limits_errors
    tally["swept"] += result.swept
    return rows


def step(value: bytes, key: bytes | None, timestamp: int, headers, state: State) -> list:
    context = message_context()
    current.state, current.customer = state, key.decode(errors="replace") if key else None
    current.transaction = sdf.processing_context.checkpoint.get_store_transaction(
        stream_id=sdf.stream_id, partition=context.partition)
    kind = context.topic[len(args.prefix):]
    result = run_sync(processor.process(kind, key, value))
    if result.failure is not None:
        say(f"quix: processing failed at {context.topic}:{context.partition}@{context.offset}: {result.failure}")
    rows = emit(result, Source(context.topic, context.partition, context.offset, key, value, timestamp / 1000))
    # The record belongs to this partition, so the sweep's state writes land in the right store.
    rows += emit(run_sync(processor.sweep(context.partition)))
    return [*rows, DONE]


def count(row) -> None:
    # The rows of an expanded record run through the whole pipeline one by one, so by the
    # time its DONE row gets here, each of its outputs has been handed to the producer.
    if row is DONE:
        finish.add()


sdf.apply(step, stateful=True, expand=True, metadata=True) \
    .update(count) \
    .filter(lambda row: row is not DONE) \
    .set_headers(lambda row, key, timestamp, headers: row.headers) \
    .to_topic(lambda row, key, timestamp, headers: out_topics[row.topic], key=lambda row: row.key)

say(f"quix: {' + '.join(inputs_names)} ({partitions} partitions) -> {args.prefix}quix-*; "
    f"limits {args.limits}; {policy}; state in {state_dir}")
finish.watch()
try:
    app.run()
except Exception as error:  # noqa: BLE001 - report any failure as the variant's
    fail(f"quix: {type(error).__name__}: {error}")
fail(f"quix: stopped at {finish.count}/{args.expect}")
