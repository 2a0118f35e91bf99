"""The backtest on a small history written as a POS export would be: a CSV of transactions."""

import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from sim import backtest as bt

START = datetime(1997, 1, 1, 12, tzinfo=timezone.utc)
CUTOFF = datetime(1997, 9, 30, 12, tzinfo=timezone.utc)


def write_history(path, customers=240, seed=3):
    """Customers who buy at their own rate until they drop out (the classic story), a year and a half."""
    rng = random.Random(seed)
    lines = ["customer_id,date,amount,quantity"]
    for c in range(customers):
        rate = rng.choice((1 / 10, 1 / 30, 1 / 90))
        at = START + timedelta(days=rng.uniform(0, 60))
        end = at + timedelta(days=rng.expovariate(1 / 240))
        while at < min(end, START + timedelta(days=540)):
            lines.append(f"c{c:04d},{at:%Y%m%d},{rng.uniform(5, 80):.2f},{rng.randint(1, 3)}")
            at += timedelta(days=rng.expovariate(rate))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_reads_the_columns_by_name_and_refuses_a_file_without_them(tmp_path):
    path = write_history(tmp_path / "history.csv", customers=5)
    transactions = bt.read_transactions(path)
    assert transactions and all(t.at.year in (1997, 1998) and t.quantity >= 1 for t in transactions)
    bad = tmp_path / "bad.csv"
    bad.write_text("who,when\nx,19970101\n")
    with pytest.raises(bt.BacktestError, match="no customer id column"):
        bt.read_transactions(bad)


def test_our_models_are_judged_on_what_followed_the_cutoff(tmp_path):
    transactions = bt.read_transactions(write_history(tmp_path / "history.csv"))
    done = []
    result = bt.backtest(transactions, CUTOFF, horizon_days=90, baselines=False, progress=done.append)
    data = result["data"]
    assert data["customers"] > 200 and done[-1] == data["before_cutoff"] < data["transactions"]
    [churn] = result["churn"]
    assert 0.0 < churn["observed_rate"] < 1.0 and 0.0 <= churn["brier"] <= 1.0 and churn["roc_auc"] > 0.6
    ours, zero = result["lifetime_value"]
    assert zero["mae"] == pytest.approx(zero["mean_actual"]) and ours["mae"] >= 0
    table = bt.render(result)
    assert "ours (churn)" in table and "zero for everyone" in table
    # The offers the replay sent, compared with their holdout: a recorded history does not answer them.
    offers = result["offers"]
    assert offers["trials"] > 0 and offers["campaigns"]
    for cid, figures in offers["campaigns"].items():
        assert figures["treated"]["redemptions"] == 0 and cid in table
    assert "placebo" in table
    bt.write_json(result, tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text())["data"]["horizon_days"] == 90


def test_the_learn_window_reaches_the_replay_and_the_report(tmp_path):
    transactions = bt.read_transactions(write_history(tmp_path / "history.csv"))
    default = bt.backtest(transactions, CUTOFF, horizon_days=90, baselines=False)
    longer = bt.backtest(transactions, CUTOFF, horizon_days=90, baselines=False, learn_window_days=90)
    assert default["data"]["learn_window_days"] is None and longer["data"]["learn_window_days"] == 90
    # Churn's labels now wait 90 days instead of 30: fewer resolve before the cutoff, other weights.
    assert longer["churn"][0]["brier"] != default["churn"][0]["brier"]


def test_a_history_with_a_quiet_fortnight_replays_whole(tmp_path):
    """A small shop's export: a pause longer than the live worker's eight-day lead rule, after more than
    a hundred records. The history is in time order, so a record after the pause is not "ahead"."""
    lines = ["customer_id,date,amount"]
    day = 0
    for n in range(240):
        day += 20 if n == 150 else 1  # closed for twenty days in the middle
        at = START + timedelta(days=day)
        lines.append(f"c{n % 40:02d},{at:%Y%m%d},{10 + n % 7}.50")
    path = tmp_path / "quiet.csv"
    path.write_text("\n".join(lines) + "\n")
    transactions = bt.read_transactions(path)
    result = bt.backtest(transactions, START + timedelta(days=200), horizon_days=30, baselines=False)
    assert result["data"]["before_cutoff"] == 181 and result["data"]["customers"] == 40


def test_several_horizons_from_one_replay_give_what_each_horizon_alone_gives(tmp_path):
    """The classic baselines stand beside ours. One replay answers every horizon: the longest is the churn window and the same models answer over
    the others. Their weights learn over the label window either way, so each row is that of a run of
    its own, up to the order of learning."""
    transactions = bt.read_transactions(write_history(tmp_path / "history.csv"))
    short, long = bt.backtests(transactions, CUTOFF, [30, 120])
    assert short["data"]["horizon_days"] == 30 and long["data"]["horizon_days"] == 120
    assert short["data"]["churn_window_days"] == 120 == long["data"]["churn_window_days"]
    for alone, together in ((bt.backtest(transactions, CUTOFF, horizon_days=30, baselines=False), short),
                            (bt.backtest(transactions, CUTOFF, horizon_days=120, baselines=False), long)):
        for target in ("churn", "propensity", "lifetime_value", "purchases"):
            rows = {row["model"]: row for row in together[target]}
            for row in alone[target]:
                # Equal up to the order examples are learned in: the churn window moves the risk band, so
                # the offers and their expiry visits, and a visit learns the labels due by its time.
                figures = {k: v for k, v in row.items() if k != "model"}
                assert {k: rows[row["model"]][k] for k in figures} == pytest.approx(figures, rel=1e-4, abs=1e-6, nan_ok=True)
    churn = {row["model"]: row for row in short["churn"]}
    assert set(churn) == {"ours (churn)", "recency (days since last purchase)", "frequency (fewer purchases)",
                          "BG/NBD P(no purchase)"}
    assert churn["BG/NBD P(no purchase)"]["roc_auc"] > 0.6 and "brier" in churn["BG/NBD P(no purchase)"]
    assert {row["model"] for row in short["lifetime_value"]} >= {"BG/NBD x Gamma-Gamma"}
    assert 0 < short["baseline_parameters"]["bgnbd_r"]
    counted = {row["model"]: row for row in long["purchases"]}
    assert set(counted) == {"ours (expected purchases)", "zero for everyone", "BG/NBD"}
    assert counted["zero for everyone"]["mae"] == pytest.approx(counted["BG/NBD"]["mean_actual"])
    assert counted["BG/NBD"]["mean_actual"] > 0
    assert counted["ours (expected purchases)"]["spearman"] > 0.3 and counted["BG/NBD"]["spearman"] > 0.3
    assert "purchases: days with a purchase" in bt.render(long)
    # Each of our figures against the classic model's: a difference with its interval, under its table.
    for result in (short, long):
        versus = result["versus"]
        assert versus["churn"]["against"] == "BG/NBD P(no purchase)"
        assert versus["lifetime_value"]["against"] == "BG/NBD x Gamma-Gamma"
        for target, figures in (("churn", ("roc_auc", "brier")), ("propensity", ("roc_auc", "brier")),
                                ("lifetime_value", ("mae", "spearman"))):
            ours = result[target][0]
            theirs = next(r for r in result[target] if r["model"] == versus[target]["against"])
            for figure in figures:
                d = versus[target][figure]
                assert d["difference"] == pytest.approx(ours[figure] - theirs[figure], abs=1e-9)
                assert d["low"] <= d["difference"] <= d["high"] and d["verdict"] in ("ahead", "behind", "level")
        assert "ours minus BG/NBD P(no purchase), 95% interval: ROC AUC" in bt.render(result)
    assert short["versus"]["propensity"] == long["versus"]["propensity"]  # one window, whatever the horizon
    # The horizons differ where they should: churn is likelier over 30 days than over 120.
    assert short["churn"][0]["mean_predicted"] > long["churn"][0]["mean_predicted"]
    assert short["churn"][0]["observed_rate"] > long["churn"][0]["observed_rate"]
    assert short["lifetime_value"][0]["mean_predicted"] < long["lifetime_value"][0]["mean_predicted"]
    with pytest.raises(bt.BacktestError, match="distinct positive"):
        bt.backtests(transactions, CUTOFF, [30, 30], baselines=False)
    # The history ends about 270 days after the cutoff: a year's horizon would call everyone churned.
    with pytest.raises(bt.BacktestError, match="365 days runs past the history's last transaction"):
        bt.backtests(transactions, CUTOFF, [30, 365], baselines=False)


def test_the_propensity_label_is_its_own_window_whatever_the_horizon(tmp_path):
    """A horizon shorter than the propensity window does not cut the window short."""
    transactions = bt.read_transactions(write_history(tmp_path / "history.csv"))
    customers = sorted({t.customer_id for t in transactions if t.at <= CUTOFF})
    week, quarter = (bt.actuals(transactions, customers, CUTOFF, h, 14.0) for h in (7, 90))
    assert week.bought_soon == quarter.bought_soon and any(week.bought_soon.values())
    # and some bought in the second week only, which a week's horizon does not see as churn's "no"
    assert any(week.churned[c] and week.bought_soon[c] for c in customers)


def test_a_difference_is_ahead_behind_or_level_by_its_interval():
    """Paired over the same customers: a model that ranks and fits better is ahead on both figures,
    the worse one behind, and a model against itself is level with a zero-width interval."""
    rng = random.Random(5)
    truth = [float(rng.random() < 0.3) for _ in range(3_000)]
    sharp = [min(0.99, max(0.01, 0.3 + 0.5 * (t - 0.3) + rng.gauss(0, 0.15))) for t in truth]
    blunt = [min(0.99, max(0.01, 0.3 + 0.1 * (t - 0.3) + rng.gauss(0, 0.15))) for t in truth]
    better = bt.differences(truth, sharp, blunt, ("roc_auc", "brier"), resamples=100)
    assert better["roc_auc"]["verdict"] == "ahead" and better["roc_auc"]["low"] > 0
    assert better["brier"]["verdict"] == "ahead" and better["brier"]["high"] < 0  # lower is better
    worse = bt.differences(truth, blunt, sharp, ("roc_auc", "brier"), resamples=100)
    assert worse["roc_auc"]["verdict"] == worse["brier"]["verdict"] == "behind"
    same = bt.differences(truth, sharp, sharp, ("roc_auc", "mae"), resamples=50)
    assert all(v == {"difference": 0.0, "low": 0.0, "high": 0.0, "verdict": "level"} for v in same.values())
    assert bt.differences(truth, sharp, blunt, ("roc_auc",), resamples=100) == {"roc_auc": better["roc_auc"]}


def test_returns_and_guest_sales_are_left_out_and_counted(tmp_path):
    path = tmp_path / "retail.csv"
    path.write_text("customer_id,date,amount\nc1,19970101,10.00\nc1,19970201,-5.00\n,19970203,7.00\n"
                    "c2,19970105,0\n c3 ,19970109,12.50\n")
    left_out: dict = {}
    transactions = bt.read_transactions(path, left_out=left_out)
    assert [(t.customer_id, t.amount) for t in transactions] == [("c1", 10.0), ("c2", 0.0), ("c3", 12.5)]
    assert left_out == {bt.RETURN: 1, bt.NO_CUSTOMER: 1}
    # An amount the event contract refuses is named with its customer and time, not a validation trace.
    with pytest.raises(bt.BacktestError, match=r"customer c9 at 1997-01-01.*amount nan"):
        bt.purchase_events([bt.Transaction("c9", START, float("nan"))])


def test_reads_a_semicolon_export_with_decimal_commas(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Customer_ID;Date;Amount;Quantity\nc1;1997-01-01;12,50;2\nc2;1997-01-03;7;1\n")
    transactions = bt.read_transactions(path)
    assert [(t.customer_id, t.amount, t.quantity) for t in transactions] == [("c1", 12.5, 2), ("c2", 7.0, 1)]
