"""One record of a customer-keyed topic, start to finish, for any driver.

The Faust agents and the replay command both call `Processor.process` and then
`Processor.sweep` for every record, in the order they consume them, so the same
records in the same order give the same state, learning, scores and outputs.
Where the state lives (a Faust table or a dict) and which limits answer (Redis or
its in-memory twin) is the driver's business: it passes `load`, `save` and `limits`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

from core.decisions import Decision
from core.due import DueIndex
from core.engine import LoyaltyEngine, Outcome
from core.limits import ContactPolicy, Limits, Reservation
from core.labels import LabeledExample
from core.outputs import Output, Source, dead_letter, label_key, label_record
from core.partitioning import partition_of
from core.state import DAY, CustomerState
from models.columns import ColumnScorer
from schemas import InvalidEvent, decode
from schemas.decisions import DecisionTrace
from schemas.offers import BadgeAward, OfferAssignment
from schemas.topics import CUSTOMER_EVENTS

MODELS = CUSTOMER_EVENTS

log = logging.getLogger("loyalty.processing")
LOG_EVERY = 100  # of the decisions failed closed, the first and every this-many-th are logged


@dataclass
class Result:
    """What a record (or a sweep) produced: outputs to send, scores to serve, or why it is a dead letter."""

    assignments: list[OfferAssignment] = field(default_factory=list)
    traces: list[DecisionTrace] = field(default_factory=list)
    badges: list[BadgeAward] = field(default_factory=list)
    examples: list[tuple[str, LabeledExample]] = field(default_factory=list)  # (customer id, example)
    scores: list[tuple[str, dict[str, str | float]]] = field(default_factory=list)
    invalid: str | None = None
    failure: str | None = None
    learned: int = 0
    swept: int = 0
    limits_errors: int = 0
    redelivered: bool = False  # the customer's state had applied this record already: nothing done
    more: bool = False  # a sweep stopped at its limit: more customers of the partition are due
    waiting: int = 0  # outcomes not in it yet: they wait for `Processor.settle` (see `Processor`)

    @property
    def rejected(self) -> bool:
        """The record is a dead letter: invalid, or the core failed on it."""
        return self.invalid is not None or self.failure is not None

    def outputs(self, source: Source | None = None) -> Iterator[Output]:
        """The records to send, in the order every driver sends them (`core.outputs`).

        A rejected record gives its dead letter, for which the driver names its `source`, and
        whatever came before it (a review of its customer that fell due first).
        """
        if self.rejected:
            if source is None:
                raise ValueError("a rejected record's dead letter needs its source")
            if self.invalid is not None:
                yield dead_letter(source, self.invalid)
            else:
                yield dead_letter(source, self.failure, "processing")
        for assignment in self.assignments:
            yield Output("offer-assignments", assignment.campaign_id.encode(), assignment)
        for trace in self.traces:
            yield Output("decisions", trace.customer_id.encode(), trace)
        for award in self.badges:
            yield Output("badge-awards", award.customer_id.encode(), award)
        for customer_id, example in self.examples:
            yield Output("labels", label_key(example.task), label_record(customer_id, example))

    def add(self, outcome: Outcome, as_of: str | None) -> None:
        self.assignments.extend(outcome.assignments)
        if outcome.trace is not None:
            self.traces.append(outcome.trace)
        self.badges.extend(outcome.badges)
        self.learned += outcome.learned
        if outcome.examples:
            customer_id = outcome.state.customer_id
            self.examples.extend((customer_id, example) for example in outcome.examples)
        if outcome.scores and as_of is not None:
            self.scores.append((outcome.state.customer_id, served_scores(outcome, as_of)))


def served_scores(outcome: Outcome, as_of: str) -> dict[str, str | float]:
    """The flat score record the serving copy (Redis) keeps per customer."""
    return {**outcome.scores, "churn_risk_band": outcome.risk_band, "as_of": as_of}


def decision_key(decision: Decision) -> str | None:
    """What the limits remember a decision's offer by: the customer and its event, or its review."""
    if decision.trigger_event_id is not None:
        return f"{decision.customer_id}|{decision.trigger_event_id}"
    if decision.review_at is not None:
        return f"{decision.customer_id}|review@{decision.review_at!r}"
    return None


def _request(decision: Decision | None) -> tuple | None:
    """What a decision asks of the limits, (candidates, key), or None when it asks nothing.

    The decision an event led to is remembered with the limits, keyed by the event: if the
    event comes again after a crash, the same offer comes out, even if models restored from
    an older snapshot would now rank or filter the campaigns otherwise, down to none (then
    the limits are asked only to recall). A sweep's decision is keyed by the review it
    answers, which the restored state holds again: the sweep that redoes it may run at
    another watermark.
    """
    if decision is None or not (decision.options or decision.key_recalls):
        return None
    return decision.candidates(), decision_key(decision)


@dataclass
class _Waiting:
    """An outcome not yet in its result: a decision waiting for the limits, or one queued behind it."""

    result: Result
    outcome: Outcome
    as_of: str | None  # None: no scores to serve (a sweep that only resolved labels)
    applied: tuple[str, int] | None = None  # (topic, offset) the state records once committed
    request: tuple | None = None  # (candidates, reservation key) when it waits for the limits
    unscored: bool = False  # a purchase or review waiting for its scores (`LoyaltyEngine.defer_scores`)


class Processor:
    """Drives the engine for one record or one sweep: load, step, decide, reserve, commit, save.

    With `hold` > 0, decisions do not wait for the limits one by one: up to `hold` of
    them are reserved together by `settle`, in one call (`Limits.reserve_many`, one round
    trip to Redis). Meanwhile the records go on; what they produce waits in order behind
    the first decision held, so a result is complete, and its outputs in replay's order,
    once `result.waiting` is 0. Nothing a held decision changes is read before it is
    settled: a record or a sweep that loads a customer with a decision held settles
    first, and so does a sweep whose watermark could reach that customer's next deadline.
    The reservations answer as one by one in the same order would, the models' versions
    are taken when the options are ranked, so the outputs and states are replay's. The
    driver calls `settle` before it emits or writes anything (`holding` says when to).

    With models that do not move between records (`ModelSuite.frozen`: a scorer, its learners
    apart), purchases and reviews wait the same way for their scores: `settle` scores the
    ones held together (`models.columns.ColumnScorer`, the per-record answers to the last bit),
    then predicts and decides for each in order, then reserves. A held customer is settled
    before anything reads them, and a sweep settles before its watermark could reach the
    soonest deadline a held one could be left with (`LoyaltyEngine.soonest_deadline`).
    """

    def __init__(
        self,
        engine: LoyaltyEngine,
        load: Callable[[str], CustomerState | None],
        save: Callable[[CustomerState], None],
        limits: Limits,
        policy: ContactPolicy | None = None,
        partitions: int = 1,
        hold: int = 0,
    ) -> None:
        self.engine = engine
        self.load = load
        self.save = save
        self.limits = limits
        self.policy = policy or ContactPolicy(max_offers=None)
        self.partitions = partitions
        self.due = DueIndex()
        self.hold = hold
        self._queue: list[_Waiting] = []
        self._held = 0
        self.failed_closed = 0  # decisions the limits could not confirm: no offer (the log names 1 in LOG_EVERY)
        self._customers: set[str] = set()  # those with a decision held
        # partition -> the earliest deadline a held decision could leave one of its customers with,
        # where that is before the deadline the index holds for them
        self._earliest: dict[int, float] = {}

    @property
    def defers(self) -> bool:
        """Purchases and reviews wait for their scores, to be scored together: decisions are held, and the
        models do not move between records."""
        return self.hold > 0 and self.engine.models.frozen

    @property
    def holding(self) -> bool:
        """Outcomes wait for `settle`."""
        return bool(self._queue)

    async def process(self, kind: str, key: bytes | None, value: bytes | None, offset: int | None = None) -> Result:
        """`kind` is the base topic name (purchases, engagements, payments).

        With the record's `offset`, the customer's state remembers it: after a crash the
        records since the last committed offset come again, and those whose effect the
        restored state already holds are recognised and skipped (their outputs were
        delivered before that state was: see `streams.kafka.outbox`).
        """
        try:
            event = decode(MODELS[kind], value)
            if key != event.customer_id.encode():
                # Under another key the record sits on another partition than the
                # customer's state: processing it would split that state.
                raise InvalidEvent(f"record key {key!r} is not the customer_id {event.customer_id!r}")
        except InvalidEvent as error:
            return Result(invalid=error.reason)
        except Exception as error:  # noqa: BLE001 - whatever the bytes, the stream goes on
            return Result(invalid=f"undecodable ({type(error).__name__}): {error}")
        step = {"purchases": self.engine.on_purchase, "engagements": self.engine.on_engagement,
                "payments": self.engine.on_payment}[kind]
        if event.customer_id in self._customers:
            await self.settle()
        self.engine.defer_scores = self.defers
        self.engine.lane = self.partition(event.customer_id)
        result = Result()
        try:
            state = self.load(event.customer_id)
            # A record the state holds already is done, whatever the checks below would say now.
            if offset is not None and state is not None and state.applied.get(kind, -1) >= offset:
                return Result(redelivered=True)
            try:
                self.engine.check_event_time(event)  # an event time the watermark believes (core.admission)
            except InvalidEvent as error:
                return Result(invalid=error.reason)
            # A review of this customer that fell due by this record's time comes first, as a sweep
            # would have made it had the partition's watermark got there before the record: a
            # partition read in a backlog is not, and replay's always is.
            while state is not None and self.engine.review_due(state, event.ts):
                await self._visit(event.customer_id, result, until=event.ts)
                state = self.load(event.customer_id)
            outcome = step(state, event)
        except Exception as error:  # noqa: BLE001 - one bad event must not stop the partition
            log.exception("processing failed")
            result.failure = f"{type(error).__name__}: {error}"
            return result
        await self._decide(outcome, result, event.occurred_at.isoformat(), None if offset is None else (kind, offset))
        return result

    async def sweep(self, partition: int, limit: int | None = None, caught_up: bool = False) -> Result:
        """Labels the partition's watermark has passed, and reviews of silent customers, in `partition`.

        `caught_up`: the driver knows the partition has nothing left to read, so its
        watermark first catches up with the latest event time of all (`LoyaltyEngine.advance`).
        Otherwise it stays at the partition's own latest event time.

        With `limit`, at most that many customers; `result.more` says to call again. Calling
        again until it is false does exactly what one call without a limit does: customers
        swept push only deadlines past the watermark, which this sweep does not reach.
        """
        result = Result()
        engine = self.engine
        engine.lane = partition
        if caught_up:
            engine.advance(partition)
        while True:
            if self._earliest.get(partition, math.inf) <= engine.mark:
                await self.settle()
            due = self.due.pop_due(partition, engine.mark, limit)
            for customer_id in due:
                await self._visit(customer_id, result)
            # A visit that made a review stops there, and what else the watermark passed comes up
            # again (`LoyaltyEngine.on_watermark`): in this call, or with `limit`, in the next.
            if limit is not None or not due:
                break
        result.more = limit is not None and (len(due) == limit or self.due.due(partition, engine.mark))
        return result

    async def _visit(self, customer_id: str, result: Result, until: float | None = None) -> None:
        """One sweep visit of a customer (`LoyaltyEngine.on_watermark`), settled before it returns."""
        if customer_id in self._customers:
            await self.settle()
        state = self.load(customer_id)
        if state is None:
            return
        self.engine.defer_scores = self.defers
        outcome = self.engine.on_watermark(state, until)
        # A review re-scores the customer as of its time (`on_watermark`); a visit that only resolved labels
        # or showed the customer to the purchase process does not: scoring costs more than the visit.
        if outcome.examples or outcome.decision is not None or outcome.scoring is not None:
            result.swept += 1
        # Scores served as of the review they come from (held ones included); none from a visit that made none.
        if outcome.scoring is not None:
            as_of = self.engine.as_of(outcome.scoring.now)
        elif outcome.scores:
            as_of = self.engine.as_of(outcome.decision.at if outcome.decision else self.engine.mark)
        else:
            as_of = None
        await self._decide(outcome, result, as_of)
        # Settled before the sweep goes on, so a customer still due comes up again in it with what the
        # decision left them; a review waiting for its scores need not be when the soonest deadline it
        # can be left with is past this watermark (the next sweep settles first, `sweep`). A record's
        # own customer (`until`) is read again at once: settled.
        if customer_id in self._customers and not (
                outcome.scoring is not None and until is None
                and self._earliest.get(self.partition(customer_id), math.inf) > self.engine.mark):
            await self.settle()

    async def _decide(self, outcome: Outcome, result: Result, as_of: str | None,
                      applied: tuple[str, int] | None = None) -> None:
        """Reserve and commit the outcome's decision, save the state, put the outcome in `result`."""
        if outcome.scoring is not None:  # its scores come with the others held (`settle`)
            await self._hold(_Waiting(result, outcome, as_of, applied, unscored=True),
                             self.engine.soonest_deadline(outcome.scoring))
            return
        decision = outcome.decision
        request = _request(decision)
        if request is not None and self.hold:
            # The earliest deadline the committed state can have: its own or the offer's expiry.
            expiry = min((o.campaign.expires_after_days for o in decision.options), default=0.0) * DAY
            await self._hold(_Waiting(result, outcome, as_of, applied, request), decision.at + expiry)
            return
        reservation: Reservation | None = Reservation(chosen=None, already=False, blocked={})
        if request is not None:
            try:
                reservation = await self.limits.reserve(request[0], self.policy, request[1])
            except Exception as error:  # noqa: BLE001 - fail closed: no offer the limits did not confirm
                self._failed_closed(decision.customer_id, error)
                result.limits_errors += 1
                reservation = None
        self._commit(result, outcome, as_of, applied, reservation)

    async def _hold(self, waiting: _Waiting, soonest: float) -> None:
        """Queue an outcome for `settle`, and settle once `hold` wait.

        `soonest`: the earliest deadline what it still has to do (a reservation, its scores) could
        give the customer, besides their state's own. If that is before the one the index holds for
        them, no entry would wake the sweep: the partition's sweep settles first when it gets there.
        """
        self._queue.append(waiting)
        waiting.result.waiting += 1
        self._held += 1
        state = waiting.outcome.state
        due = state.due_at()
        deadline = min(math.inf if due is None else due, soonest)
        indexed = self.due.deadline(state.customer_id)
        if indexed is None or deadline < indexed:
            partition = self.partition(state.customer_id)
            self._earliest[partition] = min(self._earliest.get(partition, math.inf), deadline)
        self._customers.add(state.customer_id)
        if self._held >= self.hold:
            await self.settle()

    def _commit(self, result: Result, outcome: Outcome, as_of: str | None, applied: tuple[str, int] | None,
                reservation: Reservation | None) -> None:
        outcome = self.engine.commit(outcome, reservation)
        state = outcome.state
        if applied is not None:
            kind, offset = applied
            state = state.evolve(applied={**state.applied, kind: offset})
        self._store(state)
        if as_of is None and not outcome.examples:
            return
        if self._queue:  # behind a held decision: its place in the outputs comes later
            self._queue.append(_Waiting(result, outcome, as_of))
            result.waiting += 1
        else:
            result.add(outcome, as_of)

    async def settle(self) -> None:
        """Reserve the held decisions in one call, commit them, and complete the results waiting, in order."""
        if not self._queue:
            return
        queue, self._queue, self._held = self._queue, [], 0
        self._customers.clear()
        self._earliest.clear()
        unscored = [w for w in queue if w.unscored]
        if unscored:
            scored = ColumnScorer(self.engine.models).score([w.outcome.scoring.features for w in unscored])
            for waiting, (scores, labels) in zip(unscored, scored):
                try:
                    outcome = self.engine.finish(waiting.outcome, scores, labels)
                except Exception:  # noqa: BLE001 - one bad scoring must not stop the others: its state, unscored
                    log.exception("finishing a scoring failed for %s", waiting.outcome.state.customer_id)
                    outcome = replace(waiting.outcome, scoring=None)
                waiting.outcome = outcome
                waiting.request = _request(outcome.decision)
        requests = [(w.request[0], self.policy, w.request[1]) for w in queue if w.request is not None]
        try:
            answers = await self.limits.reserve_many(requests)
        except Exception as error:  # noqa: BLE001 - fail closed: no offer the limits did not confirm
            answers = [error] * len(requests)
        answer = iter(answers)
        for waiting in queue:
            waiting.result.waiting -= 1
            if waiting.request is None:
                if waiting.unscored:  # scored above, no offer to reserve
                    self._commit(waiting.result, waiting.outcome, waiting.as_of, waiting.applied,
                                 Reservation(chosen=None, already=False, blocked={}))
                else:
                    waiting.result.add(waiting.outcome, waiting.as_of)
                continue
            reservation = next(answer)
            if isinstance(reservation, Exception):
                self._failed_closed(waiting.outcome.state.customer_id, reservation)
                waiting.result.limits_errors += 1
                reservation = None
            self._commit(waiting.result, waiting.outcome, waiting.as_of, waiting.applied, reservation)

    def _failed_closed(self, customer_id: str, error: Exception) -> None:
        """Log a decision the limits could not confirm: the first and every `LOG_EVERY`-th, not each of an outage's."""
        self.failed_closed += 1
        if self.failed_closed == 1 or self.failed_closed % LOG_EVERY == 0:
            log.warning("limits unavailable, no offer for %s (failed closed: %d so far): %s",
                        customer_id, self.failed_closed, error)

    def _store(self, state: CustomerState) -> None:
        self.save(state)
        self.due.push(self.partition(state.customer_id), state.due_at(), state.customer_id)

    def partition(self, customer_id: str) -> int:
        return partition_of(customer_id, self.partitions)

    def rebuild_due(self, deadlines) -> int:
        """After a restart or rebalance: index `(customer_id, earliest deadline)` of the states this driver holds."""
        self.due = DueIndex()
        n = 0
        for customer_id, deadline in deadlines:
            self.due.push(self.partition(customer_id), deadline, customer_id)
            n += 1
        return n
