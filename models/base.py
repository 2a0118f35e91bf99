"""The one contract every model in `models/` answers through, as River's estimators do.

A dict goes in and a plain answer comes out; nothing does I/O, and neither verb changes
its input. A model's `version` says how much it has learned, and every score, decision
and report names it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class OnlineModel(Protocol):
    """Learn from one example, predict for one, say which version answered."""

    def learn_one(self, x: dict, y: Any) -> None:
        """Learn from one example: features `x` and what was observed, `y`."""

    def predict_one(self, x: dict) -> Any:
        """The model's answer for features `x`, without learning from them."""

    @property
    def version(self) -> str:
        """Names the model and how many examples it has learned from."""
