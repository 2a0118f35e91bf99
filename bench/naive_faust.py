"""Variant B: the textbook Faust agent, driving the project's pure core one event at a time.

Per event: decode, the engine's step and decision (budgets and caps reserved in
Redis), the customer's state written to a Faust table (one changelog record),
every output awaited with `topic.send`, the served scores written to Redis, then
the partition's due labels swept. The same work as variant A, none of its batching.
"""

from core import LoyaltyEngine, load_catalog
from core.limits import ContactPolicy
from core.processing import Processor
from core.state import CustomerState
from faust_variant import TOPICS, FinishLine, arguments, make_app, raw_topic, run
from schemas import encode
from streams.redis.limits import RedisLimits
from streams.redis.scores import RedisScoreStore

args = arguments(__doc__)
app = make_app(args)
finish = FinishLine("faust-naive", args.expect, args.timeout)
source = app.topic(*(f"{args.prefix}{t}" for t in TOPICS), key_type=bytes, value_type=bytes,
                   key_serializer="raw", value_serializer="raw")
outputs = {name: raw_topic(app, f"{args.prefix}{name}", args.partitions)
           for name in ("offer-assignments", "decisions", "badge-awards", "labels")}
customers = app.Table("customers", default=None, key_type=str, partitions=args.partitions)


def load(customer_id: str) -> CustomerState | None:
    stored = customers.get(customer_id)
    return CustomerState.from_dict(stored) if stored else None


def save(state: CustomerState) -> None:
    customers[state.customer_id] = state.to_dict()


engine = LoyaltyEngine(load_catalog(None))
processor = Processor(engine, load, save, RedisLimits(args.redis, args.group), ContactPolicy(max_offers=3),
                      partitions=args.partitions)
scores = RedisScoreStore(args.redis, namespace=args.group)


async def emit(result) -> None:
    if not result.rejected:  # this variant sends no dead letters
        for output in result.outputs():
            await outputs[output.topic].send(key=output.key, value=encode(output.record))
    for customer_id, values in result.scores:
        await scores.put_scores(customer_id, values)


@app.agent(source)
async def process(stream):
    async for event in stream.events():
        message = event.message
        kind = message.topic[len(args.prefix):]
        result = await processor.process(kind, message.key, message.value)
        await emit(result)
        await emit(await processor.sweep(message.partition))
        finish.add()


if __name__ == "__main__":
    run(app)
