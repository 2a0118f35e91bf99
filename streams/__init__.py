"""The Faust app and everything it does I/O with: settings, topics, tables, web, CLI, Redis."""
