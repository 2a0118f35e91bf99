"""All configuration in one place, read from the environment (or a `.env` file)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, AwareDatetime, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

if TYPE_CHECKING:
    import ssl

DEV_SNAPSHOT_KEY = "development-only-snapshot-key"
DEV_API_TOKEN = "development-only-api-token"

# The settings that hold a secret. Each one can also be read from a file: the same
# variable with `_FILE` appended names it (LOYALTY_KAFKA_SASL_PASSWORD_FILE, REDIS_URL_FILE...).
SECRET_FIELDS = ("kafka_sasl_password", "kafka_ssl_key_password", "snapshot_key", "snapshot_previous_keys",
                 "api_token", "redis_url")
KAFKA_TLS = ("SSL", "SASL_SSL")


def redact_url(url: str) -> str:
    """The URL with its password, if any, replaced: `redis://:***@host:6379/0`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def env_names(name: str, field: FieldInfo) -> list[str]:
    """The environment variables a setting is read from."""
    if isinstance(field.validation_alias, AliasChoices):
        return [str(choice) for choice in field.validation_alias.choices]
    return [f"LOYALTY_{name.upper()}"]


class SecretFiles(PydanticBaseSettingsSource):
    """`<VARIABLE>_FILE=path`: a secret's value read from a file (a trailing newline is dropped)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every secret at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in SECRET_FIELDS:
            field = self.settings_cls.model_fields[name]
            for variable in env_names(name, field):
                path = os.environ.get(f"{variable}_FILE")
                if not path:
                    continue
                if os.environ.get(variable):
                    raise ValueError(f"set {variable} or {variable}_FILE, not both")
                try:
                    text = Path(path).read_text().rstrip("\r\n")
                except OSError as error:
                    raise ValueError(f"{variable}_FILE: cannot read {path}: {error.strerror}") from None
                values[name] = self.decode_complex_value(name, field, text) if self.field_is_complex(field) else text
        return values


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
    earliest_event_time: AwareDatetime = Field(
        default=datetime(1970, 1, 1, tzinfo=timezone.utc), ge=datetime(1970, 1, 1, tzinfo=timezone.utc),
        description="Events at or before this time are refused (ISO 8601 with an offset; 1970-01-01 at the earliest).",
    )
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
    learn_window_days: float = Field(
        default=30.0, gt=0,
        description="Churn, propensity and lifetime value learn from labels over at most this many days; a longer "
                    "window's answer carries their weights with the purchase process.",
    )
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
    # Where the models that learn from labels come from: the worker's own learning, or the versions
    # `loyalty learner` publishes to the `models` topic (the worker then sends labels and learns nothing).
    models_from: Literal["worker", "learners"] = Field(
        default="worker", description="'worker': each worker learns its own models; 'learners': score with the "
                                      "versions a `loyalty learner` publishes to the models topic."
    )
    models_learner: str = Field(default="all", description="Which learner's versions to follow (its name).")
    # For small deployments: the workers run the learner themselves, one of them at a time.
    learner_in_worker: bool = Field(
        default=False, description="With models_from 'learners': one worker of the group also runs the learner "
                                   "of every model (the others take over when it leaves)."
    )
    learner_every_examples: int = Field(default=1000, ge=1, description="In-worker learner: a version after this "
                                                                         "many new examples...")
    learner_every_seconds: float = Field(default=60.0, gt=0, description="...or this long after the first "
                                                                         "unpublished one.")
    sweep_interval_seconds: float = Field(
        default=2.0, ge=0, description="How often each of a worker's partitions is swept by a tick (0: only on records)."
    )
    # Batching: records are taken from the inputs in batches, their states written and
    # their outputs delivered once per batch. A batch closes when full or after `batch_within`.
    batch_max: int = Field(default=2000, ge=1, description="Most records the worker takes in one batch.")
    # Faust's take_events waits this long after every batch even when records are waiting:
    # 2 ms measured p50/p99 latency about half of 10 ms's at 1,000 events/s, with the same
    # throughput (a full batch still closes at once); 1 ms made batches too small.
    batch_within_seconds: float = Field(
        default=0.002, gt=0, description="Longest a batch waits to fill (an upper bound added to each record's latency)."
    )
    # Offer decisions whose budgets and caps are reserved with Redis together, in one round
    # trip, instead of one by one (the same answers: see `core.processing.Processor`).
    reserve_together: int = Field(
        default=64, ge=0, description="Most offer decisions reserved with Redis in one round trip (0: one by one).",
    )
    # A reservation whose reply was lost may have run: it is sent again until Redis answers,
    # for at most this long (`streams.redis.limits`).
    limits_in_doubt_seconds: float = Field(
        default=30.0, gt=0,
        description="Longest a reservation in doubt (Redis may have run it, its reply was lost) is sent again.",
    )
    switch_interval_ms: float = Field(
        default=5.0, gt=0,
        description="Python's thread switch interval: lower hands records from Faust's consumer thread to the agent "
        "sooner, at some throughput (5 is Python's own default).",
    )
    # The cyclic garbage collector (streams.collector): its pauses stall every record in flight.
    gc_young_objects: int = Field(
        default=5000, ge=0,
        description="Objects allocated between two garbage collections, whose survivors are then frozen "
        "(0: Python's generations, the youngest at 50,000 objects).",
    )
    gc_full_every_seconds: float = Field(
        default=600.0, gt=0, description="How often every object is walked once, for garbage cycles among the frozen.",
    )
    producer_linger_ms: float = Field(default=5.0, ge=0, description="How long the output producer waits to fill a request.")
    session_timeout_seconds: float = Field(
        default=10.0, ge=6, le=300,
        description="A worker silent this long is out of the group and its partitions move (Faust's own default is 60).",
    )

    api_token: SecretStr = Field(
        default=SecretStr(DEV_API_TOKEN), description="Bearer token the API's write endpoints require."
    )
    api_reads_need_token: bool = Field(default=False, description="Guard the read endpoints with the token too.")
    dashboard_refresh_seconds: float = Field(default=3.0, ge=0.5, le=300.0,
                                             description="How often the dashboard page reads the figures again.")

    # Kafka security, for every client: the worker's Faust consumer and producer, the
    # output producer, the catalog, the CLI (see `kafka_client_config`, `faust_broker_config`).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="How clients talk to the brokers: TLS (SSL), SASL, both, or neither."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="SASL mechanism (with SASL_PLAINTEXT or SASL_SSL)."
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    kafka_ssl_ca_file: str | None = Field(
        default=None, description="CA certificates (PEM) that verify the brokers; the system's when unset."
    )
    kafka_ssl_cert_file: str | None = Field(default=None, description="Client certificate (PEM), for mutual TLS.")
    kafka_ssl_key_file: str | None = Field(default=None, description="The client certificate's private key (PEM).")
    kafka_ssl_key_password: SecretStr | None = Field(default=None, description="Password of that key, if encrypted.")
    kafka_ssl_check_hostname: bool = Field(
        default=True, description="Check that a broker's certificate names the host connected to."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, SecretFiles(settings_cls), env_settings, dotenv_settings, file_secret_settings

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "redis_url" else value

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> Settings:
        if self.environment == "production" and self.snapshot_key.get_secret_value() == DEV_SNAPSHOT_KEY:
            raise ValueError("LOYALTY_SNAPSHOT_KEY must be set in production")
        if self.environment == "production" and self.api_token.get_secret_value() == DEV_API_TOKEN:
            raise ValueError("LOYALTY_API_TOKEN must be set in production")
        return self

    @model_validator(mode="after")
    def _learner_in_worker_scores_its_versions(self) -> Settings:
        if self.learner_in_worker and (self.models_from != "learners" or self.models_learner != "all"):
            raise ValueError("LOYALTY_LEARNER_IN_WORKER needs LOYALTY_MODELS_FROM=learners "
                             "(and LOYALTY_MODELS_LEARNER=all, the learner it runs)")
        return self

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> Settings:
        protocol = self.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        if sasl and (not self.kafka_sasl_username or self.kafka_sasl_password is None):
            raise ValueError(f"LOYALTY_KAFKA_SASL_USERNAME and LOYALTY_KAFKA_SASL_PASSWORD are needed with {protocol}")
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password is not None):
            raise ValueError(f"a SASL user is set but LOYALTY_KAFKA_SECURITY_PROTOCOL is {protocol}")
        tls_files = (self.kafka_ssl_ca_file, self.kafka_ssl_cert_file, self.kafka_ssl_key_file)
        if protocol not in KAFKA_TLS and any(tls_files):
            raise ValueError(f"Kafka TLS files are set but LOYALTY_KAFKA_SECURITY_PROTOCOL is {protocol}")
        if bool(self.kafka_ssl_cert_file) != bool(self.kafka_ssl_key_file):
            raise ValueError("LOYALTY_KAFKA_SSL_CERT_FILE and LOYALTY_KAFKA_SSL_KEY_FILE go together")
        return self

    @property
    def redis_url_redacted(self) -> str:
        """The Redis URL without its password: the one to print."""
        return redact_url(self.redis_url)

    def kafka_client_config(self) -> dict[str, str]:
        """confluent-kafka (librdkafka) settings every client starts from: the brokers and how to reach them."""
        protocol = self.kafka_security_protocol
        config = {"bootstrap.servers": self.kafka_bootstrap_servers, "security.protocol": protocol}
        if protocol.startswith("SASL_") and self.kafka_sasl_username and self.kafka_sasl_password is not None:
            config |= {
                "sasl.mechanism": self.kafka_sasl_mechanism,
                "sasl.username": self.kafka_sasl_username,
                "sasl.password": self.kafka_sasl_password.get_secret_value(),
            }
        if protocol in KAFKA_TLS:
            config["ssl.endpoint.identification.algorithm"] = "https" if self.kafka_ssl_check_hostname else "none"
            key_password = self.kafka_ssl_key_password.get_secret_value() if self.kafka_ssl_key_password else None
            files = {
                "ssl.ca.location": self.kafka_ssl_ca_file,
                "ssl.certificate.location": self.kafka_ssl_cert_file,
                "ssl.key.location": self.kafka_ssl_key_file,
                "ssl.key.password": key_password,
            }
            config |= {key: value for key, value in files.items() if value}
        return config

    def kafka_ssl_context(self) -> ssl.SSLContext:
        """The TLS context of the Faust (aiokafka) clients, from the same settings as `kafka_client_config`."""
        import ssl

        context = ssl.create_default_context(cafile=self.kafka_ssl_ca_file)
        context.check_hostname = self.kafka_ssl_check_hostname
        if self.kafka_ssl_cert_file:
            password = self.kafka_ssl_key_password.get_secret_value() if self.kafka_ssl_key_password else None
            context.load_cert_chain(self.kafka_ssl_cert_file, self.kafka_ssl_key_file, password=password)
        return context

    def faust_broker_config(self) -> dict[str, Any]:
        """`broker` and `broker_credentials` for `faust.App` (SASL and/or TLS credentials, or None)."""
        import faust  # imported here: the settings load without Faust

        protocol = self.kafka_security_protocol
        context = self.kafka_ssl_context() if protocol in KAFKA_TLS else None
        credentials: faust.SASLCredentials | faust.SSLCredentials | None = None
        if protocol.startswith("SASL_") and self.kafka_sasl_password is not None:
            credentials = faust.SASLCredentials(
                username=self.kafka_sasl_username, password=self.kafka_sasl_password.get_secret_value(),
                mechanism=self.kafka_sasl_mechanism, ssl_context=context,
            )
        elif context is not None:
            credentials = faust.SSLCredentials(context)
        return {"broker": self.faust_broker, "broker_credentials": credentials}

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
            learn_window_days=self.learn_window_days,
            earliest_event_time=self.earliest_event_time.timestamp(),
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
