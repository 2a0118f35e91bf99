"""`loyalty`: the Faust app's own CLI (worker, agents, tables...) plus the project's commands."""

from __future__ import annotations


def main() -> None:
    from streams.app import app

    app.main()


if __name__ == "__main__":
    main()
