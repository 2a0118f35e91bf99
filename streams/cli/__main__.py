"""`python -m streams.cli` is the `loyalty` command."""

from streams.cli import main

main()
