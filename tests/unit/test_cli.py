"""The commands a person runs, as a person runs them (no Kafka or Redis needed for these)."""

from __future__ import annotations

import json
import subprocess
import sys


def loyalty(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_simulate_then_replay_writes_outputs_scores_and_metrics(tmp_path):
    sim = loyalty("simulate", "--customers", "60", "--days", "120", "--out", "events.jsonl", "--truth", "truth.json",
                  cwd=tmp_path)
    assert sim.returncode == 0, sim.stderr
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert len(truth["customers"]) == 60

    run = loyalty("replay", "events.jsonl", "--out", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "churn" in run.stdout and "roc_auc" in run.stdout  # the model report
    assert "100%" in run.stderr  # the progress bar reached the end
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["records"] == sum(1 for _ in open(tmp_path / "events.jsonl")) and metrics["dead_lettered"] == 0
    scores = [json.loads(line) for line in open(tmp_path / "out" / "scores.jsonl")]
    assert len(scores) == 60 and {"churn", "rfm", "recommendations", "lifetime_value"} <= set(scores[0])
    outputs = [json.loads(line) for line in open(tmp_path / "out" / "outputs.jsonl")]
    assert metrics["assignments"] == sum(1 for o in outputs if o["topic"] == "offer-assignments") > 0


def test_simulate_needs_a_destination(tmp_path):
    result = loyalty("simulate", "--customers", "5", cwd=tmp_path)
    assert result.returncode != 0 and "--out FILE and/or --publish" in result.stderr


def test_model_check_passes_for_every_model(tmp_path):
    result = loyalty("model-check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("PASS") == 10 and "FAIL" not in result.stdout


def test_the_learner_names_unknown_models_and_refuses_a_cadence_of_nothing(tmp_path):
    result = loyalty("learner", "--from-beginning", "--models", "churn,nope", cwd=tmp_path)
    assert result.returncode != 0 and "unknown model(s) nope" in result.stderr and "upsell" in result.stderr
    result = loyalty("learner", "--every-examples", "0", cwd=tmp_path)
    assert result.returncode != 0 and "--every-examples" in result.stderr


def test_backtest_names_a_bad_horizon(tmp_path):
    (tmp_path / "h.csv").write_text("customer_id,date,amount\nc1,19970101,10.00\n")
    for horizon in ("30,abc", "30,30", "0"):
        result = loyalty("backtest", "h.csv", "--cutoff", "1997-06-30", "--horizon", horizon, "--no-baselines",
                         cwd=tmp_path)
        assert result.returncode != 0 and "--horizon" in result.stderr and horizon in result.stderr


def test_backtest_says_what_it_left_out_and_refuses_a_horizon_past_the_history_in_one_line(tmp_path):
    (tmp_path / "h.csv").write_text("customer_id,date,amount\nc1,19970101,10.00\nc1,19970201,-5.00\n"
                                    ",19970203,7.00\nc2,19970301,20.00\n")
    result = loyalty("backtest", "h.csv", "--cutoff", "1997-02-15", "--horizon", "30", "--no-baselines",
                     cwd=tmp_path)
    assert result.returncode != 0
    assert "1 rows with a negative amount (a return) left out" in result.stdout + result.stderr
    assert "1 rows with no customer id left out" in result.stdout + result.stderr
    assert "backtest: a horizon of 30 days runs past the history's last transaction" in result.stderr
    assert "Traceback" not in result.stderr
    result = loyalty("backtest", "h.csv", "--cutoff", "1997-02-15", "--horizon", "14", "--no-baselines",
                     "--out", "b.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "b.json").read_text())["data"]["left_out"] == {
        "a negative amount (a return)": 1, "no customer id": 1}
