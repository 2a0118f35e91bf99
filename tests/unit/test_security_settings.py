"""Security settings: client configs per protocol, secrets from files, nothing secret in repr or URLs."""

from __future__ import annotations

import os

import faust
import pytest
from pydantic import SecretStr

from streams.settings import Settings, redact_url
from tests.services import Services

SASL = {"kafka_sasl_username": "svc", "kafka_sasl_password": SecretStr("kafka-pw-1")}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No setting from the environment of the run (e.g. an `eval $(scripts/services sasl-env)`)."""
    for name in os.environ:
        if name.startswith("LOYALTY_") or name.removesuffix("_FILE") in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"):
            monkeypatch.delenv(name)


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_plaintext_is_the_default_and_has_no_credentials():
    s = settings(kafka_bootstrap_servers="k1:9092,k2:9092")
    assert s.kafka_client_config() == {"bootstrap.servers": "k1:9092,k2:9092", "security.protocol": "PLAINTEXT"}
    assert s.faust_broker_config() == {"broker": "kafka://k1:9092;kafka://k2:9092", "broker_credentials": None}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext(mechanism):
    s = settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism=mechanism, **SASL)
    assert s.kafka_client_config() == {
        "bootstrap.servers": "127.0.0.1:19092", "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism, "sasl.username": "svc", "sasl.password": "kafka-pw-1",
    }
    credentials = s.faust_broker_config()["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_PLAINTEXT", mechanism)
    assert (credentials.username, credentials.password, credentials.ssl_context) == ("svc", "kafka-pw-1", None)


def test_sasl_ssl_verifies_the_broker_and_its_name_unless_told_not_to():
    s = settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512", **SASL)
    config = s.kafka_client_config()
    assert config["security.protocol"] == "SASL_SSL" and config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["ssl.endpoint.identification.algorithm"] == "https" and "ssl.ca.location" not in config
    credentials = s.faust_broker_config()["broker_credentials"]
    assert credentials.protocol.value == "SASL_SSL" and credentials.ssl_context.check_hostname

    relaxed = settings(kafka_security_protocol="SASL_SSL", kafka_ssl_check_hostname=False, **SASL)
    assert relaxed.kafka_client_config()["ssl.endpoint.identification.algorithm"] == "none"
    context = relaxed.faust_broker_config()["broker_credentials"].ssl_context
    assert not context.check_hostname and context.verify_mode.name == "CERT_REQUIRED"


def test_ssl_with_a_ca_and_a_client_certificate():
    s = settings(kafka_security_protocol="SSL", kafka_ssl_ca_file="/etc/kafka/ca.pem",
                 kafka_ssl_cert_file="/etc/kafka/client.pem", kafka_ssl_key_file="/etc/kafka/client.key",
                 kafka_ssl_key_password=SecretStr("key-pw-1"))
    assert s.kafka_client_config() == {
        "bootstrap.servers": "127.0.0.1:19092", "security.protocol": "SSL",
        "ssl.endpoint.identification.algorithm": "https", "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.certificate.location": "/etc/kafka/client.pem", "ssl.key.location": "/etc/kafka/client.key",
        "ssl.key.password": "key-pw-1",
    }
    assert isinstance(settings(kafka_security_protocol="SSL").faust_broker_config()["broker_credentials"],
                      faust.SSLCredentials)


@pytest.mark.parametrize(("values", "message"), [
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "svc"}, "are needed with SASL_SSL"),
    ({**SASL}, "a SASL user is set but LOYALTY_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"kafka_ssl_ca_file": "/ca.pem"}, "TLS files are set but LOYALTY_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cert_file": "/c.pem"}, "go together"),
])
def test_incomplete_security_settings_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        settings(**values)


def test_every_secret_can_come_from_a_file(tmp_path, monkeypatch):
    files = {
        "LOYALTY_KAFKA_SASL_PASSWORD": "kafka-pw-2\n",  # a trailing newline, as `echo` writes
        "LOYALTY_KAFKA_SSL_KEY_PASSWORD": "key-pw-2",
        "LOYALTY_SNAPSHOT_KEY": "snap-key-2\n",
        "LOYALTY_SNAPSHOT_PREVIOUS_KEYS": '["old-key-1", "old-key-2"]\n',
        "LOYALTY_API_TOKEN": "api-token-2\n",
        "REDIS_URL": "rediss://:redis-pw-2@cache:6380/0?ssl_ca_certs=/ca.pem\n",
    }
    for variable, text in files.items():
        (tmp_path / variable).write_text(text)
        monkeypatch.setenv(f"{variable}_FILE", str(tmp_path / variable))
    monkeypatch.setenv("LOYALTY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LOYALTY_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("LOYALTY_ENVIRONMENT", "production")  # no development secret is left
    s = settings()
    assert s.kafka_client_config()["sasl.password"] == "kafka-pw-2"
    assert s.kafka_client_config()["ssl.key.password"] == "key-pw-2"
    assert s.snapshot_keys() == [b"snap-key-2", b"old-key-1", b"old-key-2"]
    assert s.api_token.get_secret_value() == "api-token-2"
    assert s.redis_url == "rediss://:redis-pw-2@cache:6380/0?ssl_ca_certs=/ca.pem"
    assert s.redis_url_redacted == "rediss://:***@cache:6380/0?ssl_ca_certs=/ca.pem"


def test_a_secret_set_twice_or_an_unreadable_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "token").write_text("t")
    monkeypatch.setenv("LOYALTY_API_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("LOYALTY_API_TOKEN", "t")
    with pytest.raises(ValueError, match="set LOYALTY_API_TOKEN or LOYALTY_API_TOKEN_FILE, not both"):
        settings()
    monkeypatch.delenv("LOYALTY_API_TOKEN")
    monkeypatch.setenv("LOYALTY_API_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="LOYALTY_API_TOKEN_FILE: cannot read .*missing: No such file"):
        settings()


def test_no_secret_in_repr_str_or_printed_urls():
    secrets = ["kafka-pw-1", "key-pw-3", "snap-key-3", "old-key-3", "api-token-3", "redis-pw-3"]
    s = settings(
        redis_url="redis://:redis-pw-3@cache:6379/0", kafka_security_protocol="SASL_SSL",
        kafka_ssl_key_password=SecretStr("key-pw-3"), snapshot_key=SecretStr("snap-key-3"),
        snapshot_previous_keys=[SecretStr("old-key-3")], api_token=SecretStr("api-token-3"), **SASL,
    )
    shown = [repr(s), str(s), s.redis_url_redacted, repr(s.faust_broker_config()),
             Services(s.kafka_bootstrap_servers, s.redis_url, "test").describe()]
    assert not [secret for secret in secrets for text in shown if secret in text]
    assert "redis://:***@cache:6379/0" in repr(s)


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
    ("rediss://user:pw@host/1", "rediss://user:***@host/1"),
    ("redis://host:6379/0", "redis://host:6379/0"),
    ("redis://user@host/0", "redis://user@host/0"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown
