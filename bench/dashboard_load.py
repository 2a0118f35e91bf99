"""The dashboard's cost, for `bench/run`: how fast the page loads with 20 campaigns and the ten models, and
the worker's throughput with the page open in a headless chromium against without it.

Runs alternate without / with / with / without over the same pre-loaded events (each a fresh consumer
group), so a drift of the shared machine falls on both sides; the ratio is of the two means.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

CAMPAIGNS = 20


def catalog_with(n: int, out: Path) -> Path:
    """The default catalog with its campaigns copied (new ids) until there are `n`."""
    from importlib import resources

    data = json.loads(resources.files("core").joinpath("data", "catalog.json").read_text())
    base = list(data["campaigns"])
    campaigns = list(base)
    i = 0
    while len(campaigns) < n:
        copy = dict(base[i % len(base)])
        copy["campaign_id"] = f"{copy['campaign_id']}-{len(campaigns)}"
        copy["name"] = f"{copy['name']} ({len(campaigns)})"
        campaigns.append(copy)
        i += 1
    out.write_text(json.dumps({**data, "campaigns": campaigns[:n]}))
    return out


def browser():
    from tests.services import CHROMIUM_BLOCKED, headless_chromium

    driver = headless_chromium()
    if driver is None:
        raise RuntimeError(CHROMIUM_BLOCKED)
    return driver


def page_load(driver, url: str, tries: int = 5) -> dict:
    """Milliseconds from navigation to the page's first drawing of the figures (median of `tries`), and to
    the DOM being ready."""
    first, ready = [], []
    for _ in range(tries):
        driver.get("about:blank")
        driver.get(url)
        deadline = time.monotonic() + 10
        value = None
        while time.monotonic() < deadline:
            value = driver.execute_script("return window.dashboardFirstRender || null")
            if value:
                break
            time.sleep(0.02)
        if value is None:
            raise TimeoutError("the dashboard never drew its figures")
        first.append(float(value))
        ready.append(float(driver.execute_script(
            "const t = performance.getEntriesByType('navigation')[0]; return t.domContentLoadedEventEnd")))
    first.sort()
    ready.sort()
    return {"first_render_ms": round(first[len(first) // 2], 1), "dom_ready_ms": round(ready[len(ready) // 2], 1),
            "tries": tries}


def measure(run_workers, worker_class, base, stamp: str, n: int, workdir: Path, port: int, made, log) -> dict:
    """`run_workers` and `worker_class` (`Worker`) as bench/run's; returns the rates with and without the page, and the page's load time."""
    from core import load_catalog
    from streams.kafka.catalog import publish_catalog

    workdir.mkdir(parents=True, exist_ok=True)
    catalog = catalog_with(CAMPAIGNS, workdir / "catalog-20.json")
    env = {"LOYALTY_CATALOG_FILE": str(catalog)}
    # The workers follow the catalog topics, which the earlier steps filled with the packaged catalog's
    # campaigns: the 20 go there (bench/run runs this step last, so no other step sees them).
    publish_catalog(base, load_catalog(catalog))
    rates: dict[str, list[float]] = {"without": [], "with": []}
    for i, side in enumerate(("without", "with", "with", "without")):
        app_id = made(f"bench-dash-{i}-{stamp}")
        driver = browser() if side == "with" else None
        try:
            result = run_workers(f"dashboard-{side}", base, app_id, 1, n, workdir, port + i, env=env,
                                 on_ready=(lambda p: driver.get(f"http://127.0.0.1:{p}/dashboard/")) if driver else None)
        finally:
            if driver is not None:
                driver.quit()
        rates[side].append(result["rate"])
    # The page's load time against a worker that holds the 20 campaigns (and the ten models).
    settings = base.model_copy(update={"app_id": made(f"bench-dash-load-{stamp}")})
    worker = worker_class(settings, workdir / "dashboard-load", port + 9, env)
    driver = browser()
    try:
        worker.wait_ready()
        load = page_load(driver, f"http://127.0.0.1:{port + 9}/dashboard/")
        figures = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port + 9}/api/loyalty/v1/dashboard/", timeout=5).read())
        load["campaigns"] = len(figures["campaigns"])
        load["models"] = len(figures["workers"][0]["models"])
    finally:
        driver.quit()
        worker.stop()
    without, with_page = sum(rates["without"]) / 2, sum(rates["with"]) / 2
    out = {"rates_without": rates["without"], "rates_with": rates["with"],
           "with_over_without": round(with_page / without, 3) if without else None, "page": load}
    log(f"dashboard: with the page open {out['with_over_without']} of the rate without; first render "
        f"{load['first_render_ms']} ms with {load['campaigns']} campaigns and {load['models']} models")
    return out
