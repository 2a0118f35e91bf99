"""Purchases, engagements, payments and ticks in; state, learning, scores and offers out.

One agent takes the three customer topics and the ticks together, in batches, and
hands each record to `core.processing.Processor` exactly as replay does: process it,
then sweep the labels that fell due in its partition by that partition's own latest
event time (a tick only sweeps, and lets a partition read to its end catch up with
the others' watermark). One agent, not one per topic, so no two coroutines ever hold
the same customer's state at once.

Per batch, not per record: each changed customer's state is written to the table once
(`BatchStates`), the served scores go to Redis in one call (a Lua script), offer decisions
reserve their budgets and caps together (up to `reserve_together` in one round trip, see
`Processor`), and the outputs go through one confluent-kafka producer (`Outbox`) that must
deliver them all before Faust commits the offsets of their records. The learning inside the core stays per
record, in consumption order, so batching changes nothing that replay would compute
differently.
"""

from __future__ import annotations

import logging
import time

from core.processing import Result
from schemas.topics import CUSTOMER_EVENTS
from streams.app import app
from streams.kafka import topics
from streams.kafka.inputs import refuse_headers, source_of
from streams.runtime import counters, in_order, outbox, outputs, processor, scores, settings, states, versions
from streams.web.metrics import record_latency

log = logging.getLogger("loyalty.agents")

# Customers per sweep call (and served scores per Redis call) when many are due at once.
SWEEP_CHUNK = 1000
# Which core step a record of each input topic takes ("ticks" only sweeps its partition).
KIND_OF = {settings.topic(name): name for name in (*CUSTOMER_EVENTS, "ticks")}
CUSTOMER_TOPICS = [settings.topic(name) for name in CUSTOMER_EVENTS]

inputs = app.topic(
    *KIND_OF, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    partitions=settings.partitions,
)


@app.agent(inputs, name="agents.customers.process_customers")
async def process_customers(stream):
    async for batch in stream.take_events(settings.batch_max, within=settings.batch_within_seconds):
        await handle_batch(batch)


async def handle_batch(batch) -> None:
    started = time.perf_counter()
    if versions is not None:
        versions.swap()  # between batches: one batch, one model version
    served: dict[str, dict] = {}
    results: list[Result] = []  # in consumption order, until the processor holds no decision
    states.begin(batch)
    handled = []
    for event in batch:
        message = event.message
        if not in_order.is_next_offset(message):
            continue
        handled.append(message)
        kind = KIND_OF[message.topic]
        if versions is not None:
            versions.scoring(kind, message.partition, message.offset)
        if kind != "ticks":
            counters.events_in[message.topic] += 1
            result = (refuse_headers(kind, message.headers)
                      or await processor.process(kind, message.key, message.value, message.offset))
            if result.redelivered:
                counters.redelivered[message.topic] += 1
            elif result.rejected:
                if result.failure is not None:
                    log.error("processing failed at %s:%s@%s: %s", message.topic, message.partition, message.offset,
                              result.failure)
                outputs.send_all(result.outputs(source_of(message)))
            else:
                counters.processed[message.topic] += 1
                results.append(result)
        await _sweep(message.partition, results, served, caught_up=kind == "ticks" and _read_to_end(message.partition))
        if not processor.holding:
            _emit_all(results, served)
        if states.full:  # a state is written only after the outputs of the records it holds
            await _settle(results, served)
            states.write_back()
    await _settle(results, served)
    states.write_back()
    await _serve(served)
    outbox.serve()
    seeks = in_order.take_seeks()
    if seeks:  # in the consumer's thread: Faust's `seek` calls aiokafka from this one, across threads
        await app.consumer.seek_wait(seeks)
    elapsed = time.perf_counter() - started
    for message in handled:
        in_order.finished(message.tp, message.offset)  # its offset may commit now
        if KIND_OF[message.topic] != "ticks":
            record_latency.observe(elapsed)
            counters.mark_handled(message.topic)


def _read_to_end(partition: int) -> bool:
    """Has this worker processed `partition` of every customer topic up to the end it last saw?

    Then a tick lets the partition's watermark catch up with the latest event time of all
    the worker's partitions (`Processor.sweep`): its silent customers' labels resolve. While
    records of it wait, its own latest event time rules, so none resolves before its time.
    """
    def highwater(tp):
        try:
            return app.consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - revoked meanwhile, or no client yet: not known
            return None

    return in_order.read_to_end(partition, CUSTOMER_TOPICS, highwater)


async def _sweep(partition: int, results: list[Result], served: dict[str, dict], caught_up: bool = False) -> None:
    """Sweep in chunks: when the watermark jumps, a partition can have thousands of customers due."""
    while True:
        result = await processor.sweep(partition, limit=SWEEP_CHUNK, caught_up=caught_up)
        results.append(result)
        if not result.more:
            return
        await _settle(results, served)
        if len(served) >= SWEEP_CHUNK:
            await _serve(served)
            served.clear()
        if states.full:
            states.write_back()


async def _settle(results: list[Result], served: dict[str, dict]) -> None:
    """Reserve the decisions held (one round trip to Redis), then queue every result's outputs in order."""
    await processor.settle()
    _emit_all(results, served)


def _emit_all(results: list[Result], served: dict[str, dict]) -> None:
    for result in results:
        _emit(result, served)
    results.clear()


def _emit(result: Result, served: dict[str, dict]) -> None:
    """Queue what a record or a sweep produced (`Result.outputs`, as replay sends it); keep its scores to serve."""
    outputs.send_all(result.outputs())
    for customer_id, values in result.scores:
        served.setdefault(customer_id, {}).update(values)
    counters.examples_learned += result.learned
    counters.limits_errors += result.limits_errors


async def _serve(served: dict[str, dict]) -> None:
    try:
        await scores.put_many(served.items())
    except Exception as error:  # noqa: BLE001 - the serving copy must not stop the stream
        counters.redis_errors += 1
        log.warning("could not write the scores of %d customers to Redis: %s", len(served), error)


if settings.sweep_interval_seconds > 0:

    @app.timer(interval=settings.sweep_interval_seconds)
    async def send_ticks() -> None:
        """One tick to each partition this worker owns; the agent sweeps it in event time."""
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.ticks.get_topic_name()}
        for partition in sorted(owned):
            await topics.ticks.send(value=b"{}", partition=partition)
