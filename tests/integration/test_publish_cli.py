"""`loyalty publish`: POS files into Kafka, every line checked first, bad ones named."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from schemas import PurchaseEvent, encode
from tests.integration.conftest import read_topic
from tests.unit.factories import purchase

pytestmark = pytest.mark.integration


def run_publish(settings, *args, cwd):
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "LOYALTY_APP_ID": settings.app_id, "LOYALTY_TOPIC_PREFIX": settings.topic_prefix}
    return subprocess.run([sys.executable, "-m", "streams.cli", "publish", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_one_bad_line_in_a_thousand_is_named_and_the_rest_published(settings, tmp_path):
    path = tmp_path / "purchases.jsonl"
    with open(path, "w") as out:
        for n in range(1, 1001):
            if n == 500:
                body = json.loads(encode(purchase(f"p-{n}", n=n)))
                body["total"] = -12.5
                out.write(json.dumps(body) + "\n")
            else:
                out.write(encode(purchase(f"p-{n}", n=n)).decode() + "\n")
    result = run_publish(settings, str(path), "--topic", "purchases", cwd=tmp_path)
    assert result.returncode != 0
    assert "line 500: total: Input should be greater than or equal to 0" in result.stderr
    assert "published 999 events" in result.stdout
    assert "100%" in result.stderr  # progress
    records = read_topic(settings, "purchases", expect=999, idle=1.0)
    assert len(records) == 999
    assert "p-500" not in {r.key().decode() for r in records}
    assert all(PurchaseEvent.model_validate_json(r.value()).customer_id == r.key().decode() for r in records)


def test_csv_and_envelopes_are_read_too(settings, tmp_path):
    csv_path = tmp_path / "engagements.csv"
    csv_path.write_text(
        "event_id,customer_id,occurred_at,type,channel\n"
        "e-1,c-1,2026-03-02T10:00:00Z,app_open,app\n"
        "e-2,c-2,2026-03-02T11:00:00Z,email_click,email\n"
    )
    result = run_publish(settings, str(csv_path), "--topic", "engagements", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "published 2 events" in result.stdout
    envelopes = tmp_path / "mixed.jsonl"
    envelopes.write_text(json.dumps({"topic": "purchases", "key": "c-9",
                                     "value": json.loads(encode(purchase("c-9")))}) + "\n")
    result = run_publish(settings, str(envelopes), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(read_topic(settings, "engagements", expect=2, idle=0.5)) == 2
    assert [r.key() for r in read_topic(settings, "purchases", expect=1, idle=0.5)] == [b"c-9"]
