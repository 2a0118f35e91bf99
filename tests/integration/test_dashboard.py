"""The dashboard in a real headless browser (Debian's chromium, driven through its chromedriver by Selenium),
against a real worker fed simulated traffic. The screenshot is kept in `.run/artifacts/`."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from sim.population import generate
from streams.kafka.publisher import EventPublisher
from tests.integration.test_metrics import by_label, parse, scrape
from tests.services import CHROMIUM_BLOCKED, headless_chromium

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / ".run" / "artifacts"
NO_TICKS = {"LOYALTY_SWEEP_INTERVAL_SECONDS": "0", "LOYALTY_DASHBOARD_REFRESH_SECONDS": "1"}


@pytest.fixture
def browser():
    driver = headless_chromium()
    if driver is None:
        pytest.fail(CHROMIUM_BLOCKED)
    yield driver
    driver.quit()


def _text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_the_dashboard_shows_what_the_metrics_say_and_looks_up_a_customer(settings, start_worker, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    worker = start_worker(env=NO_TICKS)
    url = f"http://127.0.0.1:{worker.port}/dashboard/"
    with urllib.request.urlopen(url, timeout=5) as response:
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp

    browser.get(url)
    wait = WebDriverWait(browser, 60, poll_frequency=0.3)
    wait.until(lambda d: _text(d, "status").startswith("live"))
    assert _text(browser, "workers") == "1"  # its Redis answers: nothing flagged

    events = list(generate(customers=40, days=120, seed=5)[1])
    publisher = EventPublisher(settings)
    for event in events:  # traffic while the page watches, so the rates have something to draw
        publisher.publish(event)
    publisher.publish_raw(settings.topic("purchases"), b"c-bad", b"{not json")
    assert publisher.flush() == 0 and not publisher.failed
    n = len(events) + 1
    health = worker.wait_for(lambda h: sum(h["counters"]["handled"].values()) == n, timeout=120, what=f"{n} handled")

    # The charts draw (two reads at least), then the figures settle on the worker's own.
    wait.until(lambda d: d.find_element("id", "chart-events").get_attribute("data-drawn") == "true")
    wait.until(lambda d: _text(d, "total-events-in") == f"{n:,}")
    counters = health["counters"]
    _, text = scrape(worker)
    samples, _ = parse(text)
    assert _number(_text(browser, "total-events-in")) == sum(by_label(samples, "loyalty_events_in_total", "topic").values())
    wait.until(lambda d: _number(_text(d, "total-offers")) == counters["assignments_out"])
    assert _number(_text(browser, "total-offers")) == samples[("loyalty_assignments_out_total", frozenset())] > 0
    assert _number(_text(browser, "total-dead-letters")) == counters["dead_lettered_total"] == 1
    dead = [row.text for row in browser.find_elements("css selector", "#dead-letters tbody tr")]
    assert dead and settings.topic("purchases") in dead[0] and dead[0].endswith(" 1")
    assert browser.find_element("css selector", "#chart-events polyline").get_attribute("points")
    assert browser.find_elements("css selector", "#model-table tbody tr")
    campaigns = browser.find_elements("css selector", "#campaign-table tbody tr")
    assert len(campaigns) == len(worker.get("/api/loyalty/v1/campaigns/")["campaigns"])
    assert _text(browser, "latency-p99").endswith("ms")

    # The customer view: the scores as of now, the churn explanation, the decisions and badges.
    customer = events[0].customer_id
    box = browser.find_element("id", "customer-id")
    box.clear()
    box.send_keys(customer)
    browser.find_element("css selector", "#customer-form button").click()
    wait.until(lambda d: d.find_elements("id", "customer-scores"))
    scores = worker.get(f"/api/loyalty/v1/customers/{customer}/scores/")
    shown = _text(browser, "customer")
    assert customer in shown and "churn explained" in shown and "last decisions" in shown
    assert f"{scores['churn']['probability']:.3f}" in shown
    # and over the horizon picked beside the box (182 days unless changed): the API's `horizon` answer
    horizon = worker.get(f"/api/loyalty/v1/customers/{customer}/scores/?horizon_days=182")["horizon"]
    assert "within 182 days" in shown and f"no purchase {horizon['churn_probability']:.3f}" in shown

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.5)
    assert browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors  # no script error, no refused resource (the CSP would log one)


def test_any_worker_shows_the_whole_group(settings, start_worker):
    first, second = start_worker(env=NO_TICKS), start_worker(env=NO_TICKS)
    purchases = settings.topic("purchases")

    def owned(worker):
        return {p for p in worker.health()["assigned_partitions"] if p.startswith(purchases + ":")}

    first.wait_for(lambda h: h["ready"] and owned(first) and owned(second) and not owned(first) & owned(second),
                   timeout=90, what="the partitions shared by two workers")
    events = list(generate(customers=30, days=60, seed=9)[1])
    publisher = EventPublisher(settings)
    for event in events:
        publisher.publish(event)
    assert publisher.flush() == 0 and not publisher.failed

    def handled(_):
        return sum(sum(w.health()["counters"]["handled"].values()) for w in (first, second)) == len(events)
    first.wait_for(handled, timeout=120, what=f"{len(events)} handled by the two")

    for asked in (first, second):
        figures = asked.get("/api/loyalty/v1/dashboard/")
        workers = {w["worker"]: w for w in figures["workers"]}
        assert len(workers) == 2 and not any("error" in w for w in workers.values()), workers.keys()
        assert sum(sum(w["counters"]["events_in"].values()) for w in workers.values()) == len(events)
        # Each worker's own figures, not the asked one's twice: their partitions do not overlap.
        partitions = [{(lag["topic"], lag["partition"]) for lag in w["lag"] if lag["topic"] == purchases}
                      for w in workers.values()]
        assert all(w["counters"]["events_in"] for w in workers.values()) and not partitions[0] & partitions[1]
        assert {c["campaign_id"] for c in figures["campaigns"]} == {
            c["campaign_id"] for c in asked.get("/api/loyalty/v1/campaigns/")["campaigns"]}
    local = first.get("/api/loyalty/v1/dashboard/?scope=local")
    assert sum(local["counters"]["events_in"].values()) < len(events)


def test_with_reads_guarded_the_page_shows_nothing_until_given_the_token(start_worker, browser):
    import urllib.error

    from selenium.webdriver.support.ui import WebDriverWait

    from streams.settings import DEV_API_TOKEN

    worker = start_worker(env={"LOYALTY_API_READS_NEED_TOKEN": "true"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        worker.get("/api/loyalty/v1/dashboard/")
    assert refused.value.code == 401
    browser.get(f"http://127.0.0.1:{worker.port}/dashboard/")  # the shell: no figures in it
    wait = WebDriverWait(browser, 30, poll_frequency=0.3)
    wait.until(lambda d: d.find_element("id", "token-form").is_displayed())
    assert _text(browser, "total-events-in") == "–" and "bearer token" in _text(browser, "status")
    browser.find_element("id", "token").send_keys(DEV_API_TOKEN)
    browser.find_element("css selector", "#token-form button").click()
    wait.until(lambda d: _text(d, "status").startswith("live"))
    assert _text(browser, "total-events-in") == "0" and not browser.find_element("id", "token-form").is_displayed()
