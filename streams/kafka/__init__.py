"""The Kafka side of the worker: topics, the customer table, the outbox producer, record order, the catalog, dead letters, publishing and topic admin."""
