"""The command line: `loyalty` is the Faust app's own CLI (worker, agents, tables...) plus the project's
commands (`commands`), what they read (`ingest`), show (`inspect`) and how they report (`progress`)."""

from __future__ import annotations


def main() -> None:
    from streams.app import app

    app.main()

