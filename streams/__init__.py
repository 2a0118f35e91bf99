"""The Faust app and its I/O, in rooms.

- `app`, `settings`, `runtime` (the worker's single instances), `lifecycle`, `counters`,
  `collector` and `logs`: the worker process itself;
- `kafka/`: topics, the customer table, the outbox, record order, the catalog, dead letters;
- `redis/`: budgets and caps, served scores, model snapshots;
- `web/`: health and model views, the HTTP API, OpenAPI, Prometheus metrics;
- `cli/`: the `loyalty` command.
"""
