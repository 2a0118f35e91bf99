"""Where the live worker sends what the core's results yield (`core.outputs`): the outbox.

Every output, dead letters included, goes through the `Outbox`: a customer's state
record is held until the outputs put before it are delivered too, so after a crash a
record the restored state counts as seen (and skips) had its outputs, or its dead
letter, delivered. Nothing here raises into the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from core.limits import REASONS as LIMIT_REASONS
from core.outputs import Output, dead_letter
from schemas import encode
from schemas.deadletter import ErrorKind
from streams.counters import Counters
from streams.kafka.inputs import source_of
from streams.kafka.outbox import Outbox
from streams.settings import Settings

log = logging.getLogger("loyalty.dead_letters")


def block_reason(why: str) -> str:
    """A decision trace's reason for blocking a campaign, as a short label.

    >>> block_reason("limits: customer_cap"), block_reason("audience: not in segment 'vip'")
    ('customer_cap', 'audience')
    """
    head, _, rest = why.partition(":")
    if head == "limits":
        rule = rest.strip().split()[0] if rest.strip() else ""
        return rule if rule in LIMIT_REASONS else "limits unavailable"
    return head.strip()[:40]


def dead_letter_reason(error: str) -> str:
    """A dead letter's error, as a label of bounded variety: its first clause, without the values.

    >>> dead_letter_reason("not valid JSON: Expecting value: line 1 column 1 (char 0)")
    'not valid JSON'
    """
    return error.split(":", 1)[0].strip()[:60] or "unknown"


class OutputSink:
    """Puts outputs on their topics (the settings' prefixed names) and counts them."""

    def __init__(self, outbox: Outbox, settings: Settings, counters: Counters) -> None:
        self.outbox = outbox
        self.counters = counters
        self.topics: dict[str, str] = {}
        self._topic = settings.topic

    def send(self, output: Output) -> None:
        topic = self.topics.get(output.topic)
        if topic is None:
            topic = self.topics[output.topic] = self._topic(output.topic)
        self.outbox.put(topic, output.key, encode(output.record), output.headers())
        counters = self.counters
        if output.topic == "offer-assignments":
            counters.assignments_out += 1
            counters.offers_by_campaign[output.record.campaign_id] += 1
        elif output.topic == "decisions":
            for cid, why in output.record.blocked.items():
                counters.blocks[(cid, block_reason(why))] += 1
        elif output.topic == "badge-awards":
            counters.badges_out += 1
        elif output.topic == "labels":
            counters.labels_out += 1
        elif output.topic == "dead-letters":
            letter = output.record
            counters.dead_lettered[letter.source_topic] += 1
            counters.dead_letter_reasons[(letter.source_topic, dead_letter_reason(letter.error))] += 1
            counters.last_dead_letter = {"topic": letter.source_topic, "partition": letter.source_partition,
                                         "offset": letter.source_offset, "error": letter.error}
            log.warning("dead-lettered %s record: topic=%s partition=%s offset=%s reason=%s", letter.error_kind,
                        letter.source_topic, letter.source_partition, letter.source_offset, letter.error)

    def send_all(self, outputs: Iterable[Output]) -> None:
        for output in outputs:
            self.send(output)

    def reject(self, message, error: str, kind: ErrorKind = "invalid") -> None:
        """Dead-letter a Faust message the core never saw (a vendor payload that does not map)."""
        self.send(dead_letter(source_of(message), error, kind))
