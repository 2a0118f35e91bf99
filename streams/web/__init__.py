"""The worker's web server: health and model views, the HTTP API, its OpenAPI document, Prometheus metrics."""
