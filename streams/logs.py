"""The worker's root logger once Faust has started: no record is built for a level nobody shows.

At a log level of WARN or above, Faust's worker puts a spinner handler on the root
logger and sets the root to DEBUG, so that every record turns its start-up spinner.
The spinner stops once the worker is up, but the root stays at DEBUG: every
`log.debug` in aiokafka's fetcher, Faust and mode then builds a record and hands it
to handlers that drop it, several per fetch, in the consumer thread and the agent's.
"""

from __future__ import annotations

import logging

from faust.utils.terminal import SpinnerHandler


def drop_spinner(root: logging.Logger | None = None) -> int:
    """Take Faust's spinner handler off `root` and raise its level to the lowest its other handlers show.

    Returns the root logger's level afterwards. A handler without a level of its own
    shows everything, so the level stays as it is then; so it does without a spinner.

    >>> root = logging.Logger("demo", logging.DEBUG)
    >>> root.addHandler(logging.StreamHandler()); root.handlers[0].setLevel(logging.WARNING)
    >>> root.addHandler(SpinnerHandler(None, level=logging.DEBUG))
    >>> logging.getLevelName(drop_spinner(root)), root.isEnabledFor(logging.DEBUG), len(root.handlers)
    ('WARNING', False, 1)
    """
    root = root if root is not None else logging.getLogger()
    spinners = [handler for handler in root.handlers if isinstance(handler, SpinnerHandler)]
    if not spinners:
        return root.level
    for handler in spinners:
        root.removeHandler(handler)
    levels = [handler.level for handler in root.handlers]
    shown = min(levels) if levels else logging.WARNING  # no handler: Python's last resort shows WARNING up
    if shown > root.level:
        root.setLevel(shown)
    return root.level
