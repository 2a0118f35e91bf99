"""Fixtures that talk to the real Kafka broker and Redis server (see tests/services.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError

from streams.kafka.admin import delete_topics, ensure_topics
from streams.redis.scores import delete_namespace
from streams.settings import Settings
from tests import schema_consumer
from tests import services as service_finder

pytestmark = pytest.mark.integration

_found: dict[str, service_finder.Services] = {}


@pytest.fixture(scope="session")
def services(request) -> service_finder.Services:
    found = service_finder.resolve()
    _found["services"] = found
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nintegration services: {found.describe()}")
    yield found
    found.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    if "services" in _found:
        terminalreporter.write_line(f"integration tests used: {_found['services'].describe()}")


@pytest.fixture
def settings(services) -> Iterator[Settings]:
    """Settings with a unique app id and topic prefix, so reruns never see stale data.

    The test's topics and Redis keys are deleted after it (its workers are stopped first).
    """
    run = uuid.uuid4().hex[:10]
    made = Settings(
        kafka_bootstrap_servers=services.kafka,
        redis_url=services.redis_url,
        app_id=f"loyalty-test-{run}",
        topic_prefix=f"test-{run}-",
        partitions=4,
    )
    yield made
    forget(made)


def forget(settings: Settings) -> None:
    """Delete the topics (the prefixed ones and the app's own) and Redis keys a test run made.

    Left behind, every run adds a few hundred partitions, and a broker holding
    thousands loads them all at start-up (minutes). A failure here warns, never fails.
    """
    try:
        delete_topics(settings.kafka_client_config(), [settings.topic_prefix, f"{settings.app_id}-"])
        delete_namespace(settings.redis_url, settings.app_id)
    except Exception as error:  # noqa: BLE001 - cleanup must not hide the test's own result
        warnings.warn(f"could not delete the topics or keys of {settings.app_id}: {error!r}", stacklevel=1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class WorkerProcess:
    """A real `loyalty worker` subprocess with its own web port and log file."""

    settings: Settings
    workdir: Path
    extra_env: dict[str, str] | None = None
    port: int = 0
    process: subprocess.Popen | None = None
    stopping: subprocess.Popen | None = None  # the process sent SIGTERM, once

    @property
    def log_path(self) -> Path:
        return self.workdir / "worker.log"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers,
            "REDIS_URL": self.settings.redis_url,
            "LOYALTY_APP_ID": self.settings.app_id,
            "LOYALTY_TOPIC_PREFIX": self.settings.topic_prefix,
            "LOYALTY_PARTITIONS": str(self.settings.partitions),
            "LOYALTY_WEB_PORT": str(self.port),
            "LOYALTY_DATA_DIR": str(self.workdir / "data"),
            **({"LOYALTY_SOURCES_DIR": self.settings.sources_dir} if self.settings.sources_dir else {}),
            **({"LOYALTY_CATALOG_FILE": self.settings.catalog_file} if self.settings.catalog_file else {}),
            **(self.extra_env or {}),
        }

    def start(self, timeout: float = 90.0) -> WorkerProcess:
        self.port = _free_port()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", "-l", "info"],
            env=self.env(), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.health()["ready"]:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.kill()  # never leave a half-started worker behind
        raise TimeoutError(f"worker not ready within {timeout} s:\n{self.log_tail()}")

    def health(self) -> dict:
        return self.get("/api/loyalty/v1/health/")

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
            return json.loads(response.read())

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "condition", interval: float = 0.3) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if predicate(health):
                return health
            time.sleep(interval)
        raise TimeoutError(f"worker never reached {what}: {self.health()}\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def signal_stop(self) -> None:
        """SIGTERM, without waiting (once): workers stopped together leave their group together."""
        if self.process is not None and self.process.poll() is None and self.stopping is not self.process:
            self.process.send_signal(signal.SIGTERM)
            self.stopping = self.process

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.signal_stop()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def start_worker(request, settings, tmp_path):
    """Factory: start a worker for this test's settings; every one started is stopped.

    When the test fails, each worker's log tail goes into the test's report.
    """
    started: list[WorkerProcess] = []

    def start(custom: Settings | None = None, env: dict[str, str] | None = None) -> WorkerProcess:
        ensure_topics(custom or settings)
        workdir = tmp_path / f"worker-{len(started)}"  # its own log and data folder
        workdir.mkdir()
        worker = WorkerProcess(custom or settings, workdir, env).start()
        started.append(worker)
        return worker

    yield start
    # All signalled first: stopped one after another, a worker could get its SIGTERM in the rebalance
    # the one before it caused by leaving, join again while stopping and hang until killed (30 s).
    for worker in started:
        worker.signal_stop()
    for worker in started:
        worker.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for worker in started:
            report.sections.append((f"worker log {worker.workdir.name}", worker.log_tail(120)))


def read_topic(settings: Settings, topic: str, *, expect: int, idle: float = 3.0, timeout: float = 60.0) -> list:
    """Every record of `topic` from the beginning: waits for `expect`, then `idle` s more for extras.

    Each record is validated against the topic's exported JSON Schema file, so
    everything the worker produces in these tests passes an outside consumer's check.
    """
    consumer = Consumer({
        **settings.kafka_client_config(),
        "group.id": f"reader-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([settings.topic(topic)])
    records, deadline, quiet_since = [], time.monotonic() + timeout, None
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.3)
            if message is None:
                if len(records) >= expect:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= idle:
                        break
                continue
            if message.error():
                if message.error().code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(message.error())
                continue
            schema_consumer.validate(topic, message.value())
            records.append(message)
            quiet_since = None
    finally:
        consumer.close()
    return records
