"""Faust agents: decode and validate, call the pure core, write the table, send. Nothing else.

Registered by the app's autodiscovery; nothing imports this package by hand.
"""
