"""What scoring a batch at once would save: the per-record scores against numpy over the same records.

Issue 18 proposes a scorer whose models are fixed between version swaps and which computes a
batch's features and predictions together. Before building it, this measures the ceiling on the
part that batching can reach: the purchase process's closed forms and the five classifiers'
predictions (churn, propensity, engagement, upsell, payment default) for every customer of a
replayed BTYD history, as of its end. The batch path is checked against the per-record one (the
same probabilities to 1e-9) and both are timed over the same feature dicts; building the dicts
(`customer_features`) is timed apart, since a columnar core would not build them.

    python bench/batch_scores.py [--customers 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit, hyp2f1

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import EngineConfig, LoyaltyEngine, load_catalog  # noqa: E402
from core.features import customer_features  # noqa: E402
from core.replay import Replay  # noqa: E402
from models.linear import CLIP  # noqa: E402
from schemas import encode  # noqa: E402
from sim import backtest as bt  # noqa: E402
from sim.btyd import generate  # noqa: E402

MODELS = ("churn", "propensity", "engagement", "upsell", "payment_default")


def process_columns(params, x, t_x, T, m, h) -> dict[str, np.ndarray]:
    """`PurchaseProcess._features` over arrays: the same closed forms, one numpy call each."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds = np.log(a) - np.log(b + np.maximum(x, 1) - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    alive = np.where(x <= 0, 1.0, 1.0 / (1.0 + np.exp(np.minimum(700.0, log_odds))))
    silent = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + h)))
    none = (1.0 - alive) + alive * silent
    if abs(a - 1.0) < 1e-6:
        a = 1.0 + 1e-6 if a >= 1.0 else 1.0 - 1e-6
    head = (a + b + x - 1) / (a - 1) * (1.0 - silent * hyp2f1(r + x, b + x, a + b + x - 1, h / (alpha + T + h)))
    purchases = np.maximum(0.0, np.where(x > 0, head * alive, head))
    p, q, gamma = params.p, max(params.q, 1.0 + 1e-6), params.gamma
    per = np.where((x <= 0) | (m <= 0), p * gamma / (q - 1), (gamma + m * x) * p / (p * x + q - 1))
    alive, none = np.clip(alive, 1e-9, 1 - 1e-9), np.clip(none, 1e-9, 1 - 1e-9)
    return {"logit_p_alive": np.round(np.log(alive / (1 - alive)), 6),
            "logit_none_in_horizon": np.round(np.log(none / (1 - none)), 6),
            "log_expected_purchases": np.round(np.log1p(purchases), 6),
            "log_expected_spend": np.round(np.log1p(purchases * per), 6)}


def batch_predictions(models, rows: list[dict[str, float]]) -> np.ndarray:
    """Each model's `predict_one` for every row, as a (rows, models) array, from columns."""
    names = sorted({k for row in rows for k in row})
    # A feature a row lacks is NaN here and contributes nothing, as in `LinearClassifier._logit`.
    columns = {k: np.array([row.get(k, np.nan) for row in rows]) for k in names}
    process = models.process
    horizons = {h for n in MODELS if models[n].process is not None
                for h in (models[n].horizon_days, models[n].score_horizon_days or models[n].horizon_days)}
    T = np.nan_to_num(columns["tenure_days"])
    t_x = np.maximum(0.0, T - np.nan_to_num(columns["days_since_purchase"]))
    x, m = np.nan_to_num(columns["repeat_days"]), np.nan_to_num(columns["mean_repeat_spend"])
    at = {h: process_columns(process.parameters, x, t_x, T, m, h) for h in horizons}
    out = []
    for name in MODELS:
        model = models[name]
        terms, intercept = model._parameters()
        own = {**columns, **at[model.horizon_days]} if model.process is not None else columns
        logit = np.full(len(rows), float(intercept))
        if model.process is not None and model.offset is not None:
            horizon = model.score_horizon_days
            logit = model._level(intercept, horizon) + model.offset_sign * at[horizon or model.horizon_days][model.offset]
        for key, (mean, sd, weight, low, high) in terms.items():
            if key not in own:
                continue
            value = np.clip(own[key], low, high)
            z = np.clip((value - mean) / sd, -CLIP, CLIP)
            logit = logit + weight * np.nan_to_num(z)
        out.append(expit(logit))
    return np.array(out).T


def measure(customers: int, repeat: int) -> dict:
    _, history = generate(customers=customers, seed=1)
    engine = LoyaltyEngine(load_catalog(), config=EngineConfig())
    run = Replay(engine, partitions=1)
    run.run(("purchases", e.customer_id.encode(), encode(e)) for e in bt.purchase_events(history))
    run.finish()
    models, now = engine.models, engine.watermark
    states = [run.states[c] for c in sorted(run.states)]
    per_record, batch, features = [], [], []
    for _ in range(repeat):
        started = time.perf_counter()
        rows = [customer_features(s, now) for s in states]
        features.append(time.perf_counter() - started)
        models.process.__dict__.pop("_memo", None)  # each customer's closed forms once, as in a sweep
        started = time.perf_counter()
        one = [[models[n].predict_one(row) for n in MODELS] for row in rows]
        per_record.append(time.perf_counter() - started)
        started = time.perf_counter()
        many = batch_predictions(models, rows)
        batch.append(time.perf_counter() - started)
    difference = float(np.abs(np.array(one) - many).max())
    if not difference <= 1e-9:  # NaN included
        raise SystemExit(f"the batch path differs from predict_one by {difference}")
    return {"customers": len(rows), "models": len(MODELS), "features_us": round(min(features) / len(rows) * 1e6, 1),
            "per_record_us": round(min(per_record) / len(rows) * 1e6, 1),
            "batch_us": round(min(batch) / len(rows) * 1e6, 1),
            "per_record_over_batch": round(min(per_record) / min(batch), 1), "max_difference": difference}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3, help="timings taken; the least is reported")
    args = parser.parse_args()
    print(json.dumps(measure(args.customers, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
