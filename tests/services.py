"""Finding a real Kafka broker and a real Redis server for the integration tests.

In order: addresses given in the environment (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL),
testcontainers where a Docker engine answers, else the project's own
`scripts/services up` (Kafka from Maven Central jars, Debian's redis-server).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis
from confluent_kafka.admin import AdminClient, ConfigResource

from streams.settings import redact_url

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Services:
    kafka: str
    redis_url: str
    source: str
    kafka_version: str = "unknown"
    redis_version: str = "unknown"
    _stop: list = field(default_factory=list, repr=False)

    def describe(self) -> str:
        return (
            f"Kafka broker {self.kafka} (Apache Kafka {self.kafka_version}), "
            f"Redis {redact_url(self.redis_url)} (redis {self.redis_version}), via {self.source}"
        )

    def stop(self) -> None:
        for stop in self._stop:
            stop()


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _from_containers() -> Services:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.redis import RedisContainer

    kafka = KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft().start()
    cache = RedisContainer("redis:7.4").start()
    url = f"redis://{cache.get_container_host_ip()}:{cache.get_exposed_port(6379)}/0"
    return Services(kafka.get_bootstrap_server(), url, "testcontainers", _stop=[kafka.stop, cache.stop])


def _from_script() -> Services:
    result = subprocess.run([str(ROOT / "scripts" / "services"), "up"], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/services up failed:\n{result.stderr}\n{result.stdout}")
    env = dict(re.findall(r"^export (\w+)=(\S+)$", result.stdout, re.M))
    version = re.search(r"Apache Kafka ([\w.\-]+)", result.stdout)
    services = Services(env["KAFKA_BOOTSTRAP_SERVERS"], env["REDIS_URL"], "scripts/services (local, no Docker)")
    if version:
        services.kafka_version = version.group(1)
    return services


def broker_protocol_version(bootstrap: str) -> str | None:
    """What the broker itself reports as its inter-broker protocol (e.g. 3.9-IV0)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    metadata = admin.list_topics(timeout=20)
    broker_id = str(next(iter(metadata.brokers)))
    resource = ConfigResource(ConfigResource.Type.BROKER, broker_id)
    configs = admin.describe_configs([resource])[resource].result(timeout=20)
    entry = configs.get("inter.broker.protocol.version")
    return entry.value if entry is not None else None


def resolve() -> Services:
    kafka_env, redis_env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("REDIS_URL")
    if kafka_env and redis_env:
        services = Services(kafka_env, redis_env, "environment (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL)")
    elif _docker_engine():
        services = _from_containers()
    else:
        services = _from_script()
    protocol = broker_protocol_version(services.kafka)
    if services.kafka_version == "unknown" and protocol:
        services.kafka_version = protocol.split("-")[0]
    if protocol:
        services.kafka_version += f", protocol {protocol}"
    info = redis.Redis.from_url(services.redis_url).info("server")
    services.redis_version = info["redis_version"]
    return services


CHROMIUM_BLOCKED = "blocked: Debian's chromium and chromium-driver are not installed (scripts/bootstrap installs them)"


def headless_chromium():
    """Debian's chromium, headless, driven through its chromedriver by Selenium: what the dashboard's test and
    its bench step look at the page with. None when either is not installed (scripts/bootstrap installs both)."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,2700"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(chromedriver), options=options)
