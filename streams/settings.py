"""All configuration in one place, read from the environment (or a `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


DEV_SNAPSHOT_KEY = "development-only-snapshot-key"
DEV_API_TOKEN = "development-only-api-token"


class Settings(BaseSettings):
    """Environment variables are `LOYALTY_<FIELD>`, except the two well-known addresses."""

    model_config = SettingsConfigDict(env_prefix="LOYALTY_", env_file=".env", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "LOYALTY_KAFKA_BOOTSTRAP_SERVERS"),
        description="Comma-separated host:port list of the Kafka brokers.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:16379/0",
        validation_alias=AliasChoices("REDIS_URL", "LOYALTY_REDIS_URL"),
        description="Redis URL for the serving copy of scores (and, later, budgets and caps).",
    )
    app_id: str = Field(default="loyalty-streams", description="Faust app id: consumer group and table topic prefix.")
    topic_prefix: str = Field(default="", description="Prepended to every project topic name (tests use a unique one).")
    partitions: int = Field(default=4, ge=1, le=256, description="Partitions of every customer-keyed topic and table.")
    store: str = Field(default="memory://", description="Faust table store URL (memory:// or rocksdb://).")
    rocksdb_block_cache_mb: int = Field(
        default=32, ge=1, description="RocksDB store: block cache per partition (Faust's default is 2 GiB)."
    )
    rocksdb_write_buffer_mb: int = Field(
        default=16, ge=1, description="RocksDB store: memtable size per partition (two of them at most)."
    )
    data_dir: str = Field(default=".run/data", description="Faust data directory (table stores, worker state).")
    web_host: str = Field(default="127.0.0.1", description="Address the worker's HTTP server binds.")
    web_port: int = Field(default=6066, ge=1, le=65535, description="Port of the worker's HTTP server.")
    churn_window_days: float = Field(default=30.0, gt=0, description="No purchase within this many days counts as churn.")
    catalog_file: str | None = Field(default=None, description="Offers and campaigns JSON; the packaged catalog if unset.")
    sources_dir: str | None = Field(
        default=None, description="Folder (or file) of POS vendor mappings (YAML); each source topic is consumed."
    )
    log_level: Literal["crit", "error", "warn", "info", "debug"] = "info"
    environment: Literal["development", "production"] = Field(
        default="development", description="production refuses development defaults for secrets."
    )
    # Label windows (days of event time).
    propensity_days: float = Field(default=14.0, gt=0, description="Propensity to buy: a purchase within this many days.")
    engagement_days: float = Field(default=7.0, gt=0, description="Engagement score: an engagement within this many days.")
    payment_window_days: float = Field(default=30.0, gt=0, description="Payment default: a failure or late payment within.")
    ltv_horizon_days: float = Field(default=90.0, gt=0, description="Lifetime value: spend over this many days.")
    max_offers_per_week: int | None = Field(
        default=3, ge=0, description="Contact policy: offers per customer per 7 days of event time, all campaigns."
    )
    # Model snapshots (Redis), signed with HMAC-SHA256.
    snapshot_key: SecretStr = Field(
        default=SecretStr(DEV_SNAPSHOT_KEY), description="Key that signs model snapshots (set it outside development)."
    )
    snapshot_previous_keys: list[SecretStr] = Field(
        default_factory=list, description="Rotated-out keys still accepted when loading a snapshot (JSON list)."
    )
    snapshot_interval_seconds: float = Field(default=60.0, gt=0, description="How often the worker saves a snapshot.")
    sweep_interval_seconds: float = Field(
        default=2.0, ge=0, description="How often each of a worker's partitions is swept by a tick (0: only on records)."
    )
    # Batching: records are taken from the inputs in batches, their states written and
    # their outputs delivered once per batch. A batch closes when full or after `batch_within`.
    batch_max: int = Field(default=2000, ge=1, description="Most records the worker takes in one batch.")
    batch_within_seconds: float = Field(
        default=0.01, gt=0, description="Longest a batch waits to fill (an upper bound added to each record's latency)."
    )
    switch_interval_ms: float = Field(
        default=5.0, gt=0,
        description="Python's thread switch interval: lower hands records from Faust's consumer thread to the agent "
        "sooner, at some throughput (5 is Python's own default).",
    )
    producer_linger_ms: float = Field(default=5.0, ge=0, description="How long the output producer waits to fill a request.")

    api_token: SecretStr = Field(
        default=SecretStr(DEV_API_TOKEN), description="Bearer token the API's write endpoints require."
    )
    api_reads_need_token: bool = Field(default=False, description="Guard the read endpoints with the token too.")

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> Settings:
        if self.environment == "production" and self.snapshot_key.get_secret_value() == DEV_SNAPSHOT_KEY:
            raise ValueError("LOYALTY_SNAPSHOT_KEY must be set in production")
        if self.environment == "production" and self.api_token.get_secret_value() == DEV_API_TOKEN:
            raise ValueError("LOYALTY_API_TOKEN must be set in production")
        return self

    def snapshot_keys(self) -> list[bytes]:
        """The signing key first, then the rotated-out ones (for verification only)."""
        return [k.get_secret_value().encode() for k in (self.snapshot_key, *self.snapshot_previous_keys)]

    def engine_config(self):
        """The core's label windows (`core.engine.EngineConfig`) from these settings."""
        from core.engine import EngineConfig  # imported here: the settings load without the core

        return EngineConfig(
            churn_window_days=self.churn_window_days,
            propensity_days=self.propensity_days,
            engagement_days=self.engagement_days,
            payment_window_days=self.payment_window_days,
            ltv_horizon_days=self.ltv_horizon_days,
        )

    def contact_policy(self):
        """The contact policy (`core.limits.ContactPolicy`): offers per customer per 7 days of event time."""
        from core.limits import ContactPolicy

        return ContactPolicy(max_offers=self.max_offers_per_week, window_days=7)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def faust_broker(self) -> str:
        return ";".join(f"kafka://{hp.strip()}" for hp in self.kafka_bootstrap_servers.split(",") if hp.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The one settings instance of this process."""
    return Settings()
