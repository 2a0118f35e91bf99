"""The worker's root logger once Faust's start-up spinner is done (streams.logs)."""

import logging

from faust.utils.terminal import SpinnerHandler

from streams.logs import drop_spinner


def test_drop_spinner_raises_the_root_to_what_its_handlers_show():
    root = logging.Logger("demo", logging.DEBUG)
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    root.addHandler(handler)
    root.addHandler(SpinnerHandler(None, level=logging.DEBUG))
    assert drop_spinner(root) == logging.WARNING
    assert root.handlers == [handler] and not root.isEnabledFor(logging.DEBUG)


def test_drop_spinner_keeps_the_level_a_handler_without_one_asks_for():
    root = logging.Logger("demo", logging.DEBUG)
    root.addHandler(logging.StreamHandler())  # no level of its own: shows everything
    root.addHandler(SpinnerHandler(None, level=logging.DEBUG))
    assert drop_spinner(root) == logging.DEBUG
    assert [type(h) for h in root.handlers] == [logging.StreamHandler]


def test_drop_spinner_leaves_a_root_without_a_spinner_alone():
    root = logging.Logger("demo", logging.DEBUG)
    handler = logging.StreamHandler()
    handler.setLevel(logging.ERROR)
    root.addHandler(handler)
    assert drop_spinner(root) == logging.DEBUG and root.handlers == [handler]
