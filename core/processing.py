"""One record of a customer-keyed topic, start to finish, for any driver.

The Faust agents and the replay command both call `Processor.process` and then
`Processor.sweep` for every record, in the order they consume them, so the same
records in the same order give the same state, learning, scores and outputs.
Where the state lives (a Faust table or a dict) is the driver's business: it
passes `load` and `save`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from core.due import DueIndex
from core.engine import LoyaltyEngine, Outcome
from core.partitioning import partition_of
from core.state import CustomerState
from schemas import EngagementEvent, InvalidEvent, PaymentEvent, PurchaseEvent, decode
from schemas.offers import OfferAssignment

MODELS = {"purchases": PurchaseEvent, "engagements": EngagementEvent, "payments": PaymentEvent}


@dataclass
class Result:
    """What a record produced: offers to send, a score update to serve, or why it is a dead letter."""

    assignments: tuple[OfferAssignment, ...] = ()
    scores: tuple[str, dict[str, str | float]] | None = None
    invalid: str | None = None
    failure: str | None = None
    learned: int = 0
    swept: int = 0
    sweep_scores: list[tuple[str, dict[str, str | float]]] = field(default_factory=list)


def served_scores(outcome: Outcome, as_of: str) -> dict[str, str | float]:
    """The flat score record the serving copy (Redis) keeps per customer."""
    return {**outcome.scores, "churn_risk_band": outcome.risk_band, "as_of": as_of}


class Processor:
    def __init__(
        self,
        engine: LoyaltyEngine,
        load: Callable[[str], CustomerState | None],
        save: Callable[[CustomerState], None],
        partitions: int = 1,
    ) -> None:
        self.engine = engine
        self.load = load
        self.save = save
        self.partitions = partitions
        self.due = DueIndex()

    def process(self, kind: str, key: bytes | None, value: bytes | None) -> Result:
        """`kind` is the base topic name (purchases, engagements, payments)."""
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
        try:
            outcome = step(self.load(event.customer_id), event)
        except Exception as error:  # noqa: BLE001 - one bad event must not stop the partition
            return Result(failure=f"{type(error).__name__}: {error}")
        self._store(outcome.state)
        scores = (event.customer_id, served_scores(outcome, event.occurred_at.isoformat())) if outcome.scores else None
        return Result(outcome.assignments, scores, learned=outcome.learned)

    def sweep(self, partition: int, result: Result | None = None) -> Result:
        """Resolve the labels of `partition`'s customers that the watermark has passed."""
        result = result or Result()
        for customer_id in self.due.pop_due(partition, self.engine.watermark):
            state = self.load(customer_id)
            if state is None:
                continue
            outcome = self.engine.on_watermark(state)
            self._store(outcome.state)
            if outcome.examples:
                result.learned += outcome.learned
                result.swept += 1
                # Scores as of now, not as of the customer's last event: a silent customer's risk moves.
                current = self.engine.current(outcome.state)
                result.sweep_scores.append((customer_id, served_scores(current, self.engine.as_of())))
        return result

    def _store(self, state: CustomerState) -> None:
        self.save(state)
        self.due.push(self.partition(state.customer_id), state.due_at(), state.customer_id)

    def partition(self, customer_id: str) -> int:
        return partition_of(customer_id, self.partitions)

    def rebuild_due(self, states) -> int:
        """After a restart or rebalance: index the deadlines of the states this driver holds."""
        self.due = DueIndex()
        n = 0
        for state in states:
            self.due.push(self.partition(state.customer_id), state.due_at(), state.customer_id)
            n += 1
        return n
