"""What the worker does around its agents: restore models, index deadlines, save snapshots."""

from __future__ import annotations

import asyncio
import logging
import time

from core import statecodec
from streams.app import app
from streams.collector import collect_all, collect_by_generations, collect_young_only, young_only
from streams.logs import drop_spinner
from streams.runtime import (catalog, engine, in_order, learner_here, outbox, processor, settings, snapshots, states,
                             versions)
from streams.kafka.tables import customers

log = logging.getLogger("loyalty.lifecycle")

# LOYALTY_MODELS_FROM=learners: Redis keeps limits and served scores only.
SNAPSHOTS_NOT_USED = "not used: models from the learners' versions, watermarks from the customers' states"

ready = {"value": False, "restored": False, "customers": 0, "misfiled": 0}


# What `_create_missing_topics` did, logged once the worker's logging is set up (it runs before).
topics: dict = {"checked": False, "created": [], "error": None}


@app.on_worker_init.connect
def _create_missing_topics(sender, **kwargs) -> None:
    """Before the consumer subscribes: create the project's missing topics, as `loyalty create-topics` does.

    Without them Faust logs "Ignoring missing topic" and the worker waits, taking nothing, for topics
    no one may create. A topic whose partition count breaks co-partitioning stops the worker here,
    with the count to fix. A broker that cannot be reached or that refuses to create topics (an
    account without the right) is logged and the start goes on: Faust waits for the broker, and the
    topics may come from an operator.
    """
    # Faust sends the signal twice at a worker's start (after autodiscovery, and from its CLI): check once,
    # or a broker that cannot be reached would hold the start up for two timeouts.
    if topics["checked"]:
        return
    topics["checked"] = True
    from confluent_kafka import KafkaException

    from streams.kafka.admin import TopicMismatch, ensure_topics

    try:
        topics["created"] = [line for line in ensure_topics(settings, timeout=10.0) if ": created" in line]
    except TopicMismatch as error:
        raise SystemExit(f"loyalty worker: {error}") from None
    except KafkaException as error:  # said once logging is set up (`_after_recovery`)
        topics["error"] = str(error)


@app.on_rebalance_complete.connect
async def _after_recovery(sender, **kwargs) -> None:
    # Sent after the tables of the new assignment are recovered, before agents resume.
    # Before any record is processed: offsets commit only once our own producer delivered.
    outbox.deliver_before_commits(app.producer)
    # Faust's start-up spinner is done: its DEBUG root logger would build a record for every debug call.
    drop_spinner()
    # Each input partition from its committed offset, in order, none skipped (streams.kafka.ordering).
    in_order.guard(app.consumer)
    if not ready["restored"]:
        ready["restored"] = True
        for line in topics["created"]:
            log.info("topic %s", line)
        if topics["error"]:
            log.warning("could not check or create the topics (run `loyalty create-topics` when the broker "
                        "allows): %s", topics["error"])
        # The catalog first: no decision is taken before every offer and campaign is known.
        await asyncio.to_thread(catalog.bootstrap)
        catalog.start()
        log.info("catalog: %s", catalog.status())
        if versions is None:
            try:
                await snapshots.restore(engine)
            except Exception as error:  # noqa: BLE001 - no snapshot service: fresh models, said loudly
                snapshots.status = f"unavailable: {error}"
                log.error("could not read the model snapshot: %s", error)
        else:  # the models are the learners' versions; the partitions' watermarks come from the states
            snapshots.status = SNAPSHOTS_NOT_USED
            await asyncio.to_thread(versions.bootstrap)
            versions.start()
            log.info("models: %s", versions.status())
        if learner_here is not None:
            learner_here.start()
    states.forget()  # decoded states of partitions that may have been another worker's
    started = time.monotonic()
    seen: dict[int, float] = {}
    misfiled = {"count": 0, "examples": []}

    def deadlines():
        for key, value in customers.items():
            if not value:
                continue
            customer_id, due, at = statecodec.index_entry(value)
            if customer_id != (key.decode() if isinstance(key, bytes) else key):
                # Stored under a key that is not its customer's (a changelog written with JSON keys, before
                # keys were plain bytes): its records go to another key, and a sweep that saved it would
                # save it to another partition than the one it is visited for. Left out, said below.
                misfiled["count"] += 1
                if len(misfiled["examples"]) < 3:
                    misfiled["examples"].append(repr(key))
                continue
            if versions is not None and at is not None:  # else the snapshot has the watermarks
                partition = processor.partition(customer_id)
                seen[partition] = max(seen.get(partition, 0.0), at)
            yield customer_id, due

    indexed = processor.rebuild_due(deadlines())
    if misfiled["count"]:
        log.error("%d customer states are stored under a key other than their customer id (e.g. %s; "
                  "keys must be the customer id's plain bytes): not indexed, never swept",
                  misfiled["count"], ", ".join(misfiled["examples"]))
    ready["misfiled"] = misfiled["count"]
    if seen:
        # Each partition's watermark, at least the latest event time its customers' states record:
        # records read again after a crash sweep as of no earlier than that (with worker-learned
        # models, the snapshot keeps the watermarks with them).
        for partition, at in seen.items():
            engine.marks[partition] = max(engine.marks.get(partition, 0.0), at)
        engine.watermark = max(engine.watermark, *seen.values(), 0.0)
    ready["customers"] = indexed
    # What is alive now (models, catalog, the due index) stays alive: out of the cyclic
    # collector's scans, which otherwise walk it again and again as batches allocate; and
    # from here on, short young collections whose survivors are frozen (streams.collector).
    collect_all()
    collect_young_only(settings.gc_young_objects)
    log.info("label deadlines indexed for %d customers in %.1f s", indexed, time.monotonic() - started)
    ready["value"] = True


@app.on_partitions_revoked.connect
async def _rebalancing(sender, revoked, **kwargs) -> None:
    ready["value"] = False
    states.forget()
    collect_by_generations()  # a recovery may follow: its garbage cycles are not to be frozen


@app.timer(interval=2.0)
async def _read_again_what_was_dropped() -> None:
    # Records Faust dropped with nothing after them to show the gap (streams.kafka.ordering).
    if not ready["value"]:
        return
    assignment = app.consumer.assignment()
    seeks = {tp: offset for tp, offset in in_order.stalled(app.consumer._read_offset, after=5.0).items()
             if tp in assignment}
    if seeks:
        await app.consumer.seek_wait(seeks)


@app.timer(interval=settings.snapshot_interval_seconds)
async def _save_snapshot() -> None:
    if ready["restored"] and versions is None:
        await _save("periodic")


@app.timer(interval=settings.gc_full_every_seconds)
async def _collect_all() -> None:
    # Garbage cycles among what young collections froze (streams.collector).
    if young_only():
        started = time.perf_counter()
        found = collect_all()
        log.info("garbage collection of every object: %d unreachable, %.0f ms", found,
                 (time.perf_counter() - started) * 1000)


@app.on_before_shutdown.connect
async def _save_at_shutdown(sender, **kwargs) -> None:
    if ready["restored"]:
        if versions is None:
            await _save("shutdown")
        catalog.stop()
        if learner_here is not None:  # first: it publishes what it learned since its last version
            await asyncio.to_thread(learner_here.stop)
        if versions is not None:
            versions.stop()


async def _save(why: str) -> None:
    try:
        size = await snapshots.save(engine)
        log.info("model snapshot saved (%s, %d bytes)", why, size)
    except Exception as error:  # noqa: BLE001 - a missed snapshot is retried at the next tick
        log.error("could not save the model snapshot (%s): %s", why, error)
