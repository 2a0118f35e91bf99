"""The demo's closing summary: what a person reads at the end of `scripts/demo`."""

from collections import Counter

from streams.cli.demo_summary import main, summary

HEALTH = {"counters": {"events_in": {"demo-x-purchases": 7, "demo-x-payments": 3}, "dead_lettered_total": 1,
                       "badges_out": 2}}
MODELS = {"churn": {"roc_auc": 0.71, "log_loss": 0.4, "vs_baseline": {"model_roc_auc": 0.7, "baseline_roc_auc": 0.6,
                                                                       "samples": 5}, "samples": 9, "pending_labels": 2,
                    "drift": False}}


def test_it_names_events_by_topic_dead_letters_offers_by_campaign_and_model_quality():
    text = summary(HEALTH, MODELS, Counter({"welcome": 3, "big-basket": 5}), "demo-x-", 10)
    lines = text.splitlines()
    assert lines[0] == "events in:     10 of 10 sent (payments 3, purchases 7)"
    assert lines[1] == "dead letters:  1"
    assert lines[2] == "offers out:    8 by campaign: big-basket 5, welcome 3"
    churn = next(line for line in lines if line.startswith("churn"))
    assert "roc_auc 0.7100" in churn and "0.7000 / 0.6000" in churn


def test_no_offers_says_none_and_a_bad_call_says_how_to_call_it(capsys):
    assert "offers out:    0 by campaign: none" in summary(HEALTH, {}, Counter(), "demo-x-", None)
    assert main([]) == 2 and "demo_summary API_URL" in capsys.readouterr().err
