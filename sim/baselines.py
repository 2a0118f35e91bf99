"""The classic customer-base models, fitted in batch on the pre-cutoff history by pymc-marketing.

BG/NBD (Fader, Hardie and Lee 2005) models repeat purchases from each customer's frequency,
recency and age; Gamma-Gamma models spend per purchase. Both are pymc-marketing's
(`pymc_marketing.clv`), fitted by maximum a posteriori; nothing here re-implements them.
Recency and frequency are the heuristics they are measured against.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime


def classic_scores(transactions: Iterable, customers: Sequence[str], cutoff: datetime, horizons: Sequence[float],
                   propensity_days: float) -> dict:
    """Per customer (in `customers`' order): recency and frequency at the cutoff, BG/NBD's probability of
    one purchase within the propensity window and, for each of `horizons`, of none within it, BG/NBD's
    expected purchases and BG/NBD x Gamma-Gamma spend (`bgnbd_no_purchase`, `bgnbd_purchases` and
    `bgnbd_gg_spend` map each horizon to its list). The models are fitted once."""
    try:
        import pandas as pd
        from pymc_marketing import clv
    except ImportError as error:  # an optional extra: say how to get it
        raise RuntimeError(f"the baselines need pymc-marketing ({error}): pip install -e '.[backtest]'") from None

    rows = [(t.customer_id, t.at, t.amount) for t in transactions if t.at <= cutoff]
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    frame["date"] = pd.to_datetime(frame["date"], utc=True).dt.tz_localize(None).dt.normalize()
    end = pd.Timestamp(cutoff).tz_convert(None).normalize()  # the cutoff is aware (`sim.backtest.parse_time`)
    summary = clv.utils.rfm_summary(frame, customer_id_col="customer_id", datetime_col="date",
                                    monetary_value_col="amount", observation_period_end=end, time_unit="D")
    summary = summary.set_index("customer_id").reindex(list(customers)).reset_index()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = clv.BetaGeoModel(data=summary[["customer_id", "frequency", "recency", "T"]])
        bg.fit(method="map", progressbar=False)
        none_in_horizon = {h: bg.expected_probability_no_purchase(t=h).mean(("chain", "draw")).values for h in horizons}
        none_soon = bg.expected_probability_no_purchase(t=propensity_days).mean(("chain", "draw")).values
        purchases = {h: bg.expected_purchases(future_t=h).mean(("chain", "draw")).values for h in horizons}
        # Gamma-Gamma is fitted on repeat customers whose purchases cost something (a zero spend has no likelihood).
        repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        gg = clv.GammaGammaModel(data=repeat[["customer_id", "monetary_value", "frequency"]])
        gg.fit(method="map", progressbar=False)
        spend_per_purchase = gg.expected_customer_spend(data=summary[["customer_id", "monetary_value", "frequency"]])
        spend_per_purchase = spend_per_purchase.mean(("chain", "draw")).values
    parameters = {f"bgnbd_{k}": float(v) for k, v in bg.fit_summary().items()}
    parameters.update({f"gamma_gamma_{k}": float(v) for k, v in gg.fit_summary().items()})
    return {
        "recency": [float(t - r) for t, r in zip(summary["T"], summary["recency"])],  # days since the last purchase
        "frequency": [float(f) for f in summary["frequency"]],
        "bgnbd_no_purchase": {h: [float(p) for p in none_in_horizon[h]] for h in horizons},
        "bgnbd_purchase_soon": [float(1.0 - p) for p in none_soon],
        "bgnbd_gg_spend": {h: [float(n * s) for n, s in zip(purchases[h], spend_per_purchase)] for h in horizons},
        "bgnbd_purchases": {h: [float(n) for n in purchases[h]] for h in horizons},
        "parameters": parameters,
    }
