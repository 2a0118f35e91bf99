"""Which event times the core believes, against its watermark: the rule live and replay share.

Event time drives everything here. The engine's watermark (the latest event time it
has seen) resolves pending labels and triggers the reviews of silent customers; it
never goes back. One record stamped in 2099 would move it decades ahead and resolve
every pending label at once, with wrong labels; one stamped in 2001 would give its
customer a 25-year history, predictions whose windows closed long ago, and offers
that expired before they were made.

Two rules, both deterministic (no wall clock), so replay refuses exactly the records
the live worker refused, in the same order:

1. absolute: `occurred_at` after `EngineConfig.earliest_event_time` (a setting, 1970-01-01 by
   default and at the earliest: long-running programmes import old history; the epoch itself
   is refused, as the mark of an unset time) and before `latest_event_time` (2100-01-01);
2. relative to the watermark, here, once it rests on `EngineConfig.time_gate_after`
   (100) records admitted by this engine: at most `EngineConfig.max_lead_days` (8)
   ahead of it and at most `EngineConfig.max_lag_days` (365) behind it.

Eight days ahead lets through a week's pause in a stream and a weekly upload, and
bounds what one bad record can do to about one engagement window (7 days) of labels.
A year behind leaves room for one partition lagging far behind another when a worker
catches up on a backlog (the watermark spans every partition it owns), while a record
from years ago is refused.

A hundred records is the evidence either way. Before them, a watermark resting on a
handful of records (a test, a demo, a sparse vendor feed, the first moments after a
start) says little about what time it is, and records months apart are all taken.
After them, a real pause longer than `max_lead_days` (no events at all for more than
a week, or a worker restarted on an old snapshot's watermark) would make every record
"ahead"; so after `EngineConfig.lead_resync_after` (100) records in a row refused as
ahead, with none admitted between, the next one is admitted and moves the watermark.
One bad record, or a few, never does that; the records refused before it are in the
dead letters and can be sent again.

>>> gate = TimeGate(max_lead_days=8, max_lag_days=365, resync_after=2, trust_after=1)
>>> gate.check_event_time(1_800_000_000.0, watermark=0.0)  # no watermark yet: only the absolute range
>>> gate.check_event_time(1_800_000_000.0 + 30 * 86400, watermark=1_800_000_000.0)
Traceback (most recent call last):
...
schemas.codec.InvalidEvent: occurred_at 2027-02-14T08:00:00+00:00 is 30.0 days ahead of the event-time watermark 2027-01-15T08:00:00+00:00 (at most 8 days)
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from schemas.codec import InvalidEvent

DAY = 86400.0
EPOCH = 0.0  # 1970-01-01T00:00:00Z: the earliest floor there is
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp()

log = logging.getLogger("loyalty.admission")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


class TimeGate:
    """Admits or refuses (`InvalidEvent`) one event time against the watermark; counts refusals ahead."""

    def __init__(self, max_lead_days: float = 8.0, max_lag_days: float = 365.0, resync_after: int = 100,
                 trust_after: int = 100, earliest: float = EPOCH, latest: float = LATEST) -> None:
        self.earliest = earliest
        self.latest = latest
        self.max_lead = max_lead_days * DAY
        self.max_lag = max_lag_days * DAY
        self.max_lead_days = max_lead_days
        self.max_lag_days = max_lag_days
        self.resync_after = resync_after
        self.trust_after = trust_after
        self.admitted = 0  # records admitted by this gate (the watermark's evidence)
        self.refused_ahead = 0  # records refused as ahead since the last one admitted
        self.resyncs = 0  # times the watermark was let through a pause longer than max_lead_days

    @classmethod
    def from_config(cls, config) -> TimeGate:
        return cls(config.max_lead_days, config.max_lag_days, config.lead_resync_after, config.time_gate_after,
                   config.earliest_event_time, config.latest_event_time)

    def check_event_time(self, ts: float, watermark: float) -> None:
        """Return if an event at `ts` may be processed now, else raise `InvalidEvent` saying why."""
        if ts <= self.earliest:
            raise InvalidEvent(f"occurred_at {_iso(ts)} is not after {_iso(self.earliest)} (the earliest event time)")
        if ts >= self.latest:
            raise InvalidEvent(f"occurred_at {_iso(ts)} is not before {_iso(self.latest)}")
        if watermark > 0 and self.admitted >= self.trust_after:
            if ts > watermark + self.max_lead:
                if self.refused_ahead < self.resync_after:
                    self.refused_ahead += 1
                    raise InvalidEvent(
                        f"occurred_at {_iso(ts)} is {(ts - watermark) / DAY:.1f} days ahead of the event-time "
                        f"watermark {_iso(watermark)} (at most {self.max_lead_days:g} days)"
                    )
                self.resyncs += 1
                log.warning("%d records in a row were ahead of the watermark %s: admitting one at %s",
                            self.refused_ahead, _iso(watermark), _iso(ts))
            elif ts < watermark - self.max_lag:
                raise InvalidEvent(
                    f"occurred_at {_iso(ts)} is {(watermark - ts) / DAY:.0f} days behind the event-time "
                    f"watermark {_iso(watermark)} (at most {self.max_lag_days:g} days)"
                )
        self.refused_ahead = 0
        self.admitted += 1

