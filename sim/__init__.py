"""The simulation lab: simulated customers, and the checks that replay them through the core.

Used by commands (`loyalty simulate`, `loyalty evaluate-nbo`, `loyalty check-models`), the
benchmark and the tests; the worker never imports it.
"""
