"""The replay-scale step of `bench/run` runs against the core as it is (it once broke unseen when the
sweep's signature changed), and splits what a visit costs from what a purchase costs."""

from bench.replay_scale import measure


def test_replay_scale_measures_visits_reviews_and_purchases_apart():
    row = measure(400)  # enough customers that no week passes without a purchase (the lead rule)
    assert row["records"] > 400 and row["dead_lettered"] == 0
    assert 0 < row["reviews"] < row["sweep_visits"]
    assert 0 < row["us_per_visit"] < row["us_per_review"]  # a visit that only meets deadlines costs less
    assert abs(row["review_over_purchase"] - row["us_per_review"] / row["us_per_purchase"]) < 0.01
