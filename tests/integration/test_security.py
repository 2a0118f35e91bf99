"""Kafka with SASL/SCRAM: a second local broker (`scripts/services sasl-up`) that takes only
clients with the right password. The worker, the publisher and the CLI authenticate
from settings given as environment variables (the password from a file); a wrong
password is refused at once; no log holds the password.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas import OfferAssignment, encode
from streams.kafka.publisher import EventPublisher
from streams.settings import Settings
from tests.integration.conftest import WorkerProcess, forget, read_topic
from tests.services import ROOT
from tests.unit.factories import purchase

pytestmark = pytest.mark.integration

SERVICES = str(ROOT / "scripts" / "services")


@pytest.fixture(scope="module")
def sasl_env() -> Iterator[dict[str, str]]:
    """The SASL broker's client settings (LOYALTY_KAFKA_*), from the local script whatever the other broker is."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external and subprocess.run([SERVICES, "has-jars"], check=False).returncode != 0:
        pytest.skip("the broker is external (KAFKA_BOOTSTRAP_SERVERS) and there are no local Kafka jars or Java "
                    "for the SASL broker: run `scripts/services sasl-up` on a machine that has them")
    was_up = subprocess.run([SERVICES, "sasl-status"], check=False, capture_output=True).returncode == 0
    result = subprocess.run([SERVICES, "sasl-up"], check=False, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"scripts/services sasl-up failed:\n{result.stderr}"
    yield dict(re.findall(r"^export (\w+)=(\S+)$", result.stdout, re.MULTILINE))
    if not was_up:  # one that was already running is someone's: leave it
        subprocess.run([SERVICES, "sasl-down"], check=False, capture_output=True, timeout=120)


@pytest.fixture
def password(sasl_env) -> str:
    return Path(sasl_env["LOYALTY_KAFKA_SASL_PASSWORD_FILE"]).read_text().strip()


@pytest.fixture
def secure(sasl_env, services, password) -> Iterator[Settings]:
    run = uuid.uuid4().hex[:10]
    made = Settings(
        kafka_bootstrap_servers=sasl_env["KAFKA_BOOTSTRAP_SERVERS"], redis_url=services.redis_url,
        app_id=f"loyalty-sasl-{run}", topic_prefix=f"sasl-{run}-", partitions=2,
        kafka_security_protocol=sasl_env["LOYALTY_KAFKA_SECURITY_PROTOCOL"],
        kafka_sasl_mechanism=sasl_env["LOYALTY_KAFKA_SASL_MECHANISM"],
        kafka_sasl_username=sasl_env["LOYALTY_KAFKA_SASL_USERNAME"], kafka_sasl_password=SecretStr(password),
    )
    yield made
    forget(made)


def client_env(sasl_env: dict[str, str], **changes: str) -> dict[str, str]:
    """The LOYALTY_KAFKA_* variables a process needs (the broker address comes from its settings)."""
    return {**{k: v for k, v in sasl_env.items() if k.startswith("LOYALTY_KAFKA_")}, **changes}


def test_worker_publisher_and_cli_authenticate_with_scram(sasl_env, secure, password, start_worker, tmp_path):
    worker = start_worker(secure, env=client_env(sasl_env))  # the topics are created over SASL too
    publisher = EventPublisher(secure)
    publisher.publish(purchase("c-a", total=20, n=1))
    assert publisher.flush() == 0 and not publisher.failed

    events = tmp_path / "purchases.jsonl"
    events.write_text(encode(purchase("c-b", total=30, n=1)).decode() + "\n")
    cli = subprocess.run(
        [sys.executable, "-m", "streams.cli", "publish", str(events), "--topic", "purchases"], cwd=tmp_path,
        env={**os.environ, **client_env(sasl_env), "KAFKA_BOOTSTRAP_SERVERS": secure.kafka_bootstrap_servers,
             "LOYALTY_APP_ID": secure.app_id, "LOYALTY_TOPIC_PREFIX": secure.topic_prefix,
             "LOYALTY_PARTITIONS": str(secure.partitions)},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert cli.returncode == 0 and "published 1 events" in cli.stdout, cli.stderr

    worker.wait_for(lambda h: h["counters"]["events_in"].get(secure.topic("purchases"), 0) == 2, what="both purchases")
    records = read_topic(secure, "offer-assignments", expect=2, idle=1.0)
    assert {OfferAssignment.model_validate_json(r.value()).customer_id for r in records} == {"c-a", "c-b"}
    assert password not in worker.log_path.read_text() + cli.stdout + cli.stderr


def test_a_wrong_password_is_refused_and_never_logged(sasl_env, secure, password, tmp_path):
    wrong = f"wrong-{uuid.uuid4().hex}"
    env = client_env(sasl_env, LOYALTY_KAFKA_SASL_PASSWORD_FILE="", LOYALTY_KAFKA_SASL_PASSWORD=wrong)
    worker = WorkerProcess(secure, tmp_path, env)
    with pytest.raises(RuntimeError, match="worker exited"):
        worker.start(timeout=30)  # it exits at its first connection; a timeout would fail this test too
    log = worker.log_path.read_text()
    assert "SaslAuthenticationFailed: Authentication failed" in log
    assert wrong not in log and password not in log
