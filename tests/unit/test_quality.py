from models.quality import Quality


def test_classifier_quality_pairs_model_and_heuristic_on_the_same_labels():
    q = Quality("classifier")
    for p, y, h in [(0.9, True, 0.4), (0.2, False, 0.6), (0.8, True, None), (0.3, False, 0.1)]:
        q.update(y, p, baseline=h)
    r = q.report()
    assert r["samples"] == 4 and r["vs_baseline"]["samples"] == 3
    assert r["vs_baseline"]["model_roc_auc"] == 1.0
    assert r["vs_baseline"]["baseline_roc_auc"] < 1.0


def test_regressor_is_compared_with_the_running_mean():
    q = Quality("regressor")
    for y, p in [(10, 12), (20, 18), (30, 29)]:
        q.update(y, p)
    assert q.report()["vs_baseline"] == {"model_mae": 1.666667, "running_mean_mae": 11.666667}


def test_drift_flag_rises_when_the_error_jumps():
    q = Quality("classifier")
    for _ in range(2000):
        q.update(True, 0.95)
    assert not q.report()["drift"]
    for _ in range(300):
        q.update(True, 0.05)
    assert q.report()["drift"] and q.report()["drifts"] >= 1
