"""A worker started where not everything is ready: before anyone ran `loyalty create-topics` (it makes
the topics it needs, and refuses a topic whose partition count would break co-partitioning), and
without its Redis (it starts, and /health/ says so)."""

from __future__ import annotations

import socket

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from streams.kafka.admin import PROJECT_TOPICS
from tests.integration.conftest import WorkerProcess
from tests.integration.test_dashboard import browser  # noqa: F401 - the fixture
from tests.integration.test_services import listed_topics

pytestmark = pytest.mark.integration


def test_a_worker_creates_its_missing_topics_and_starts_without_its_redis_saying_so(settings, tmp_path, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    admin = AdminClient(settings.kafka_client_config())
    wanted = {settings.topic(base) for base in PROJECT_TOPICS}
    assert not wanted & set(admin.list_topics(timeout=10).topics)  # nothing made for this run yet
    with socket.socket() as sock:  # a port nothing listens on, for Redis
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    worker = WorkerProcess(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"}), tmp_path)
    try:
        worker.start()  # ready: it took its partitions of the customer topics
        health = worker.health()
        browser.get(f"http://127.0.0.1:{worker.port}/dashboard/")  # the page flags it beside the workers
        figure = WebDriverWait(browser, 60, poll_frequency=0.3).until(
            lambda d: (e := d.find_element("id", "workers")).text.startswith("1") and e)
        assert figure.text == "1 · Redis unreachable on 1" and figure.get_attribute("class") == "flag"
    finally:
        worker.stop()
    assert {p.split(":")[0] for p in health["assigned_partitions"]} >= {
        settings.topic("purchases"), settings.topic("engagements"), settings.topic("payments")}
    assert health["redis"]["reachable"] is False and str(port) in health["redis"]["error"]
    listed_topics(admin, lambda topics: wanted <= topics)
    metadata = admin.list_topics(timeout=10).topics
    assert len(metadata[settings.topic("purchases")].partitions) == settings.partitions
    assert "topic " + settings.topic("purchases") + ": created (4 partitions)" in worker.log_path.read_text()


def test_a_topic_that_breaks_co_partitioning_stops_the_worker_with_the_count_to_fix(settings, tmp_path):
    admin = AdminClient(settings.kafka_client_config())
    for future in admin.create_topics([NewTopic(settings.topic("purchases"), num_partitions=2)]).values():
        future.result()
    listed_topics(admin, lambda topics: settings.topic("purchases") in topics)
    worker = WorkerProcess(settings, tmp_path)
    try:
        with pytest.raises(RuntimeError, match="worker exited") as failed:
            worker.start(timeout=60)
    finally:
        worker.kill()
    assert f"topic {settings.topic('purchases')} has 2 partitions but LOYALTY_PARTITIONS is 4" in str(failed.value)
