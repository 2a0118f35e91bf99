import pickle
import random

from models import ChurnModel


def synthetic(n: int, seed: int = 3):
    rng = random.Random(seed)
    for _ in range(n):
        churned = rng.random() < 0.4
        gap = rng.gauss(45 if churned else 8, 6)
        yield {"days_since_purchase": max(0.0, gap), "log_purchases": rng.random()}, churned


def test_untrained_model_is_undecided():
    model = ChurnModel()
    assert model.predict_one({"days_since_purchase": 10.0}) == 0.5
    assert model.risk_band(0.5) == "MEDIUM"
    assert model.version == "churn-logreg-v1+0"


def test_learns_online_to_separate_churners():
    model = ChurnModel()
    for features, churned in synthetic(2000):
        model.learn_one(features, churned)
    held_out = list(synthetic(400, seed=99))
    correct = sum((model.predict_one(f) >= 0.5) == y for f, y in held_out)
    assert correct / len(held_out) > 0.9
    assert model.n_learned == 2000


def test_learning_does_not_mutate_features():
    model = ChurnModel()
    features = {"days_since_purchase": 3.0}
    model.learn_one(features, True)
    model.predict_one(features)
    assert features == {"days_since_purchase": 3.0}


def test_risk_bands_follow_thresholds():
    model = ChurnModel(medium_at=0.3, high_at=0.7)
    assert [model.risk_band(p) for p in (0.1, 0.3, 0.69, 0.7, 1.0)] == ["LOW", "MEDIUM", "MEDIUM", "HIGH", "HIGH"]


def test_model_pickles_with_what_it_learned():
    model = ChurnModel()
    for features, churned in synthetic(200):
        model.learn_one(features, churned)
    clone = pickle.loads(pickle.dumps(model))
    probe = {"days_since_purchase": 30.0, "log_purchases": 0.5}
    assert clone.predict_one(probe) == model.predict_one(probe)
    assert clone.n_learned == 200
