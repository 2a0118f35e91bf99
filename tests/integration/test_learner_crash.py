"""One model for many workers, through crashes: three scorers and a learner, the learner SIGKILLed twice.

Workers score with the learner's versions (`LOYALTY_MODELS_FROM=learners`) and send their labels;
one `loyalty learner` process learns them and publishes versions every second. While purchases,
engagements and payments flow, the learner is killed twice, and two workers once each, and all
restarted; a third worker joins. A worker restarts while the learner is down. Afterwards:

* the learner's final version equals an offline fold of the whole `labels` topic: every model
  learned on labels, and the purchase process under three of them, give identical predictions
  and quality. So no example was learned twice or lost, whatever the kills, and no worker's
  arrival or departure changed what the models learned (they learn nothing themselves);
* its counts equal the distinct examples on the topic, though the topic holds redelivered copies;
* every worker scores with that final version;
* the worker restarted while the learner was down scored with the latest version then published,
  and said so in `/health/`;
* states, offers and budgets hold as in `test_crash.py`: a recount, no decision with two offers,
  budget drift 0.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import redis

from core import LoyaltyEngine, load_catalog
from core.learner import LABELS_ONLY, Learner
from schemas.codec import decode
from schemas.labels import LabeledExampleRecord
from schemas.offers import OfferAssignment
from sim import population
from streams.kafka.learning import latest_version
from tests.integration.conftest import read_topic
from tests.integration.test_crash import BUDGETS, _catalog, _consumed, _latest_states, _publish, _recount

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CUSTOMERS, DAYS, SEED = 500, 60, 41
RATE = 100  # events per second: the publishing outlasts the kills and restarts below
ENV = {"LOYALTY_MODELS_FROM": "learners", "LOYALTY_SESSION_TIMEOUT_SECONDS": "6"}


class LearnerProcess:
    """`loyalty learner` following the labels, a version every second; its stderr kept in a file."""

    def __init__(self, env: dict, workdir) -> None:
        self.env, self.workdir, self.process, self.runs = env, workdir, None, 0

    def start(self) -> None:
        self.runs += 1
        log = (self.workdir / f"learner-{self.runs}.log").open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "streams.cli", "learner", "--every-seconds", "1"],
                                        env=self.env, cwd=self.workdir, stdout=subprocess.PIPE, stderr=log, text=True)

    def published(self, timeout: float = 60.0) -> None:
        """Wait until this run has published a version (so that a kill loses learned work)."""
        deadline = time.monotonic() + timeout
        while "published" not in (self.workdir / f"learner-{self.runs}.log").read_text():
            assert time.monotonic() < deadline and self.process.poll() is None, self.log()
            time.sleep(0.2)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def interrupt(self) -> dict:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=120)
        assert self.process.returncode == 0, self.log()
        return json.loads(out)

    def log(self) -> str:
        return "\n".join((self.workdir / f"learner-{i}.log").read_text() for i in range(1, self.runs + 1))


def _fold(settings, records) -> Learner:
    """Every `labels` record, in each partition's order, into fresh models: no version, no restart."""
    fold = Learner(LoyaltyEngine(load_catalog(settings.catalog_file), config=settings.engine_config()).models)
    for record in records:
        fold.feed(record.value(), record.partition(), record.offset())
    return fold


def test_a_learner_and_workers_killed_twice_each_end_with_one_model_equal_to_the_fold_of_the_labels(
        settings, start_worker, tmp_path):
    _, generated = population.generate(customers=CUSTOMERS, days=DAYS, seed=SEED)
    events = list(generated)
    custom = settings.model_copy(update={"catalog_file": _catalog(tmp_path)})
    a, b = start_worker(custom, ENV), start_worker(custom, ENV)
    learner = LearnerProcess(a.env(), tmp_path)
    learner.start()
    broken: list[str] = []
    driver = threading.Thread(target=_publish, args=(custom, events, broken, RATE), daemon=True)
    started = time.monotonic()

    def say(what: str) -> None:
        print(f"[learner-crash] {time.monotonic() - started:5.1f} s: {what}")

    driver.start()
    learner.published()
    time.sleep(1)
    learner.kill()
    say("SIGKILL learner (1)")
    learner.start()
    c = start_worker(custom, ENV)  # a third worker joins: partitions move
    say("worker C joined")
    time.sleep(3)
    a.kill()
    say("SIGKILL worker A (1)")
    a.start()
    learner.published()
    time.sleep(1)
    learner.kill()
    say("SIGKILL learner (2)")
    b.kill()
    say("SIGKILL worker B (1): it restarts while the learner is down")
    published = latest_version(custom, "all")
    b.start()
    down = b.health()["model_source"]
    learner.start()
    assert driver.is_alive(), "the events were all published before the kills: the test proves less"
    driver.join()
    say("every event published")

    deadline = time.monotonic() + 180
    while not _consumed(custom):
        assert time.monotonic() < deadline, f"inputs not consumed:\n{a.log_tail()}"
        time.sleep(1.0)
    workers = (a, b, c)
    labels_out = 0
    while True:  # the labels sent are stable: no sweep tick resolves more
        time.sleep(2.0)
        now = sum(w.health()["counters"]["labels_out"] for w in workers)
        if now == labels_out:
            break
        labels_out = now
    report = learner.interrupt()  # SIGINT: it publishes what it learned since its last version
    say(f"learner stopped: {report['examples_learned']} examples, {report['versions_published']} versions")
    done = subprocess.run([sys.executable, "-m", "streams.cli", "learner", "--until-end", "--timeout", "60"],
                          env=a.env(), cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    final = latest_version(custom, "all")
    assert final is not None and final.examples_learned == json.loads(done.stdout)["examples_learned"]

    # -- the final version is the fold of the whole topic: each distinct example once, in order
    records = read_topic(custom, "labels", expect=sum(final.labels_offsets.values()), idle=1.0)
    assert len(records) == sum(final.labels_offsets.values())  # it read every record there is
    ids = Counter(LabeledExampleRecord.model_validate_json(r.value()).example_id for r in records)
    fold = _fold(custom, records)
    ours = Learner.resume(final, custom.snapshot_keys())
    assert ours.learned == fold.learned and sum(fold.learned.values()) == len(ids) == final.examples_learned
    assert fold.duplicates == len(records) - len(ids)
    probes = [LabeledExampleRecord.model_validate_json(r.value()).features for r in records[-80:]]
    for name in LABELS_ONLY:
        assert ours.suite.quality[name].report() == fold.suite.quality[name].report(), name
        assert [ours.suite[name].predict_one(x) for x in probes] == [fold.suite[name].predict_one(x) for x in probes]
    assert (ours.suite.nbo.redeemed, ours.suite.nbo.missed) == (fold.suite.nbo.redeemed, fold.suite.nbo.missed)
    assert ours.suite.process.parameters == fold.suite.process.parameters and fold.suite.process.n_seen > 0

    # -- every worker scores with it; the one started while the learner was down said what it had
    for worker in workers:
        worker.wait_for(lambda h: h["model_source"]["version"] == final.version, timeout=30,
                        what=f"model version {final.version}")
    assert published is not None and down["version"] >= published.version
    assert down["from"] == "learners" and down["published_at"] is not None

    # -- issue 19: every worker answers each campaign's performance as the fold of the topic's trials
    compared = fold.suite.performance.campaigns()
    assert any(min(fold.suite.performance.uplift(c)[arm]["customers"] for arm in ("treated", "held_out")) > 0
               for c in compared), "no campaign has customers in both arms"
    for worker in workers:
        for cid in compared:
            answer = worker.get(f"/api/loyalty/v1/campaigns/{cid}/performance/")
            assert answer["model_version"].endswith(f"@all.v{final.version}")
            assert {k: v for k, v in answer.items() if k not in ("as_of", "model_version")} == \
                json.loads(json.dumps(fold.suite.performance.uplift(cid))), cid

    # -- states, offers and budgets, as without a learner
    states = _latest_states(custom)
    wrong = [k for k, n in _recount(events).items() if k not in states
             or (states[k].purchase_count, states[k].total_spend) != (n["purchases"], n["spend"])]
    delivered: dict[str, OfferAssignment] = {}
    for record in read_topic(custom, "offer-assignments", expect=1, idle=1.0):
        offer = decode(OfferAssignment, record.value())
        delivered.setdefault(offer.assignment_id, offer)
    per_decision = Counter((o.customer_id, o.trigger_event_id) for o in delivered.values())
    client = redis.Redis.from_url(custom.redis_url, decode_responses=True)
    per_campaign = Counter(o.campaign_id for o in delivered.values())
    drift = sum(abs(int(client.get(f"{custom.app_id}:limits:total:{k}") or 0) - per_campaign.get(k, 0))
                for k in per_campaign | BUDGETS)
    summary = {"events": len(events), "labels_records": len(records), "distinct_examples": len(ids),
               "redelivered_copies": len(records) - len(ids), "final_version": final.version,
               "assignments": len(delivered), "budget_drift": drift,
               "seconds": round(time.monotonic() - started, 1)}
    say(f"summary: {json.dumps(summary)}")
    assert not wrong, f"{len(wrong)} customers' state differs from the recount: {wrong[:10]}"
    assert max(per_decision.values()) == 1 and drift == 0
