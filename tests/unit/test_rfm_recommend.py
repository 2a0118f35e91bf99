import copy
import functools
import itertools
import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.recommend import CategoryRecommender
from models.rfm import SEGMENTS, RFMModel, segment_for

# --------------------------------------------------------------------------- RFM

KEYS = {"recency_score", "frequency_score", "monetary_score", "rfm_code", "segment", "value_segment"}


def rfm_x(recency_days: float, frequency: float, monetary: float) -> dict[str, float]:
    return {"recency_days": recency_days, "frequency": frequency, "monetary": monetary}


def population(n: int = 2000, seed: int = 11):
    rng = random.Random(seed)
    for _ in range(n):
        yield rng.uniform(0, 365), float(rng.randint(1, 40)), rng.lognormvariate(4, 1)


@functools.lru_cache(maxsize=1)
def _trained_rfm_bytes() -> bytes:
    model = RFMModel()
    for r, f, m in population():
        model.learn_one(rfm_x(r, f, m))
    return pickle.dumps(model)


def trained_rfm() -> RFMModel:
    return pickle.loads(_trained_rfm_bytes())


def assert_rfm_structure(result: dict) -> None:
    assert set(result) == KEYS
    scores = [result["recency_score"], result["frequency_score"], result["monetary_score"]]
    for s in scores:
        assert type(s) is int and 1 <= s <= 5
    assert isinstance(result["rfm_code"], str) and len(result["rfm_code"]) == 3
    assert result["rfm_code"] == "".join(map(str, scores))
    assert result["segment"] in SEGMENTS
    assert result["value_segment"] in ("high", "medium", "low")


def test_rfm_cold_start_returns_middle_scores():
    model = RFMModel()
    for values in [(0.0, 100.0, 1e6), (999.0, 0.0, 0.0)]:
        result = model.predict_one(rfm_x(*values))
        assert_rfm_structure(result)
        assert (result["recency_score"], result["frequency_score"], result["monetary_score"]) == (3, 3, 3)
        assert result["rfm_code"] == "333"
        assert result["value_segment"] == "medium"
    assert model.n_seen == 0


@given(st.floats(0, 1000), st.floats(0, 100), st.floats(0, 1e5))
@settings(max_examples=100, deadline=None)
def test_rfm_output_structure(r, f, m):
    assert_rfm_structure(trained_rfm().predict_one(rfm_x(r, f, m)))


def test_rfm_best_and_worst_customers():
    model = trained_rfm()
    assert model.n_seen == 2000
    best = model.predict_one(rfm_x(recency_days=0.0, frequency=200.0, monetary=1e6))
    assert best["rfm_code"] == "555"
    assert best["segment"] == "champions"
    assert best["value_segment"] == "high"
    worst = model.predict_one(rfm_x(recency_days=5000.0, frequency=0.0, monetary=0.0))
    assert worst["rfm_code"] == "111"
    assert worst["segment"] in ("lost", "hibernating")
    assert worst["value_segment"] == "low"


def test_rfm_scores_spread_over_population():
    model = trained_rfm()
    codes = [model.predict_one(rfm_x(r, f, m)) for r, f, m in population(500, seed=12)]
    for key in ("recency_score", "frequency_score", "monetary_score"):
        counts = [sum(c[key] == s for c in codes) for s in range(1, 6)]
        # Quintiles: each level holds roughly a fifth of fresh customers from the same population.
        assert all(50 <= n <= 150 for n in counts), (key, counts)


@given(st.floats(0, 1000), st.floats(0, 1000))
@settings(max_examples=200, deadline=None)
def test_rfm_lower_recency_never_lowers_recency_score(a, b):
    model = trained_rfm()
    lo, hi = min(a, b), max(a, b)
    assert model.predict_one(rfm_x(lo, 5.0, 50.0))["recency_score"] >= model.predict_one(rfm_x(hi, 5.0, 50.0))["recency_score"]


@given(st.floats(0, 100), st.floats(0, 100), st.floats(0, 1e4), st.floats(0, 1e4))
@settings(max_examples=200, deadline=None)
def test_rfm_higher_frequency_and_spend_never_lower_scores(f1, f2, m1, m2):
    model = trained_rfm()
    low = model.predict_one(rfm_x(30.0, min(f1, f2), min(m1, m2)))
    high = model.predict_one(rfm_x(30.0, max(f1, f2), max(m1, m2)))
    assert high["frequency_score"] >= low["frequency_score"]
    assert high["monetary_score"] >= low["monetary_score"]


def test_rfm_pickle_round_trip():
    model = trained_rfm()
    clone = pickle.loads(pickle.dumps(model))
    grid = list(itertools.product([0.0, 20.0, 90.0, 200.0, 400.0], [1.0, 5.0, 15.0, 30.0, 60.0], [5.0, 40.0, 90.0, 300.0]))
    assert [clone.predict_one(rfm_x(*v)) for v in grid] == [model.predict_one(rfm_x(*v)) for v in grid]
    for values in population(200, seed=13):
        model.learn_one(rfm_x(*values))
        clone.learn_one(rfm_x(*values))
    assert [clone.predict_one(rfm_x(*v)) for v in grid] == [model.predict_one(rfm_x(*v)) for v in grid]
    assert clone.n_seen == model.n_seen == 2200


def test_rfm_segment_rule_covers_all_segments_and_is_consistent():
    seen = set()
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        segment = segment_for(r, f, m)
        assert segment in SEGMENTS
        seen.add(segment)
    assert seen == set(SEGMENTS)
    assert segment_for(5, 5, 1) == "champions"
    assert segment_for(1, 1, 1) == "lost"


def test_rfm_learn_one_counts_and_skips_non_finite():
    model = RFMModel()
    model.learn_one(rfm_x(3.0, 2.0, 10.0))
    model.learn_one(rfm_x(float("nan"), 2.0, 10.0))
    assert model.n_seen == 1


# --------------------------------------------------------------------------- Recommender

CATEGORIES = [f"cat{i}" for i in range(8)]


def basket_stream(n_customers: int = 200, n_baskets: int = 3000, seed: int = 7):
    """Each customer has 2 favourite categories out of 8; 80% of basket items come from them."""
    rng = random.Random(seed)
    favourites = {f"cust-{i}": rng.sample(CATEGORIES, 2) for i in range(n_customers)}
    for _ in range(n_baskets):
        customer = f"cust-{rng.randrange(n_customers)}"
        basket: dict[str, float] = {}
        for _ in range(rng.randint(1, 3)):
            category = rng.choice(favourites[customer]) if rng.random() < 0.8 else rng.choice(CATEGORIES)
            basket[category] = basket.get(category, 0.0) + round(rng.uniform(1, 50), 2)
        yield customer, basket


def popularity_baseline(stream, k: int = 3) -> float:
    counts: dict[str, int] = {}
    hits = evaluated = 0
    for _, basket in stream:
        if counts:
            top = sorted(counts, key=lambda c: (-counts[c], c))[:k]
            hits += any(c in basket for c in top)
            evaluated += 1
        for c in basket:
            counts[c] = counts.get(c, 0) + 1
    return hits / evaluated


def random_baseline(stream, k: int = 3, seed: int = 0) -> float:
    rng = random.Random(seed)
    baskets = [b for _, b in stream]
    return sum(any(c in b for c in rng.sample(CATEGORIES, k)) for b in baskets) / len(baskets)


def train(model: CategoryRecommender, stream) -> CategoryRecommender:
    for customer, basket in stream:
        model.observe(customer, basket)
        model.learn_one({"customer_id": customer}, basket)
    return model


@functools.lru_cache(maxsize=1)
def _trained_reco_bytes() -> bytes:
    return pickle.dumps(train(CategoryRecommender(k=3, seed=42), basket_stream()))


def trained_reco() -> CategoryRecommender:
    return pickle.loads(_trained_reco_bytes())


def test_prequential_hit_rate_beats_popularity_and_random():
    model = trained_reco()
    popularity = popularity_baseline(basket_stream())
    chance = random_baseline(basket_stream())
    assert model.n_evaluated == 2999
    assert 0.0 <= model.hit_rate <= 1.0
    print(f"hit_rate@3 model={model.hit_rate:.3f} popularity={popularity:.3f} random={chance:.3f} (3/8={3 / 8:.3f})")
    assert model.hit_rate > popularity + 0.15
    assert model.hit_rate > max(chance, 3 / 8) + 0.2


def test_recommend_structure_and_order():
    model = trained_reco()
    for k in (1, 3, 8, 20):
        recs = model.predict_one({"customer_id": "cust-0"}, k=k)
        assert len(recs) == min(k, len(CATEGORIES))
        for rec in recs:
            assert set(rec) == {"category", "score"}
            assert rec["category"] in CATEGORIES and type(rec["score"]) is float
        assert len({r["category"] for r in recs}) == len(recs)
        assert [r["score"] for r in recs] == sorted((r["score"] for r in recs), reverse=True)
    assert len(model.predict_one({"customer_id": "cust-0"})) == 3
    assert model.predict_one({"customer_id": "cust-0"}, k=0) == []


def test_recommendations_follow_a_customers_favourites():
    rng = random.Random(7)
    favourites = {f"cust-{i}": set(rng.sample(CATEGORIES, 2)) for i in range(200)}
    model = trained_reco()
    found = sum(favourites[c] <= {r["category"] for r in model.predict_one({"customer_id": c}, k=3)} for c in favourites)
    assert found >= 180


def test_unknown_customer_gets_popular_categories_without_changing_the_model():
    model = trained_reco()
    counts: dict[str, int] = {}
    for _, basket in basket_stream():
        for c in basket:
            counts[c] = counts.get(c, 0) + 1
    most_popular = sorted(counts, key=lambda c: (-counts[c], c))[:3]
    before = pickle.dumps(model)
    assert [r["category"] for r in model.predict_one({"customer_id": "nobody-knows-me"})] == most_popular
    assert [r["category"] for r in model.predict_one({"customer_id": 12345})] == most_popular  # type: ignore[arg-type]
    assert pickle.dumps(model) == before


def test_empty_model_recommends_nothing_and_observe_returns_none():
    model = CategoryRecommender()
    assert model.predict_one({"customer_id": "anyone"}) == []
    assert model.observe("anyone", {"cat0": 1.0}) is None
    assert model.n_evaluated == 0 and model.hit_rate == 0.0
    model.learn_one({"customer_id": "anyone"}, {"cat0": 0.0, "cat1": -2.0})
    assert model.predict_one({"customer_id": "anyone"}) == []


def test_observe_records_hits_before_learning():
    model = CategoryRecommender(k=1)
    model.learn_one({"customer_id": "a"}, {"cat0": 5.0})
    assert model.observe("a", {"cat0": 1.0}) is True
    assert model.observe("a", {"cat1": 1.0}) is False
    assert (model.n_evaluated, model.hit_rate) == (2, 0.5)
    assert model.predict_one({"customer_id": "a"}) == recommend_after_one_basket()


def recommend_after_one_basket():
    model = CategoryRecommender(k=1)
    model.learn_one({"customer_id": "a"}, {"cat0": 5.0})
    return model.predict_one({"customer_id": "a"})


def test_deterministic_for_a_seed():
    a = train(CategoryRecommender(seed=3), basket_stream(n_baskets=800))
    b = train(CategoryRecommender(seed=3), basket_stream(n_baskets=800))
    assert a.hit_rate == b.hit_rate
    assert all(a.predict_one({"customer_id": f"cust-{i}"}, k=8) == b.predict_one({"customer_id": f"cust-{i}"}, k=8) for i in range(200))
    assert pickle.dumps(a) == pickle.dumps(b)


def test_recommender_pickles_and_keeps_learning_identically():
    model = trained_reco()
    clone = pickle.loads(pickle.dumps(model))
    assert (clone.hit_rate, clone.n_evaluated) == (model.hit_rate, model.n_evaluated)
    assert all(clone.predict_one({"customer_id": f"cust-{i}"}) == model.predict_one({"customer_id": f"cust-{i}"}) for i in range(200))
    for customer, basket in basket_stream(n_baskets=300, seed=99):
        assert clone.observe(customer, basket) == model.observe(customer, basket)
        model.learn_one({"customer_id": customer}, basket)
        clone.learn_one({"customer_id": customer}, basket)
    assert all(clone.predict_one({"customer_id": f"cust-{i}"}, k=8) == model.predict_one({"customer_id": f"cust-{i}"}, k=8) for i in range(200))


def test_inputs_are_not_mutated():
    model = trained_reco()
    basket = {"cat1": 3.5, "cat9": 2.0, "cat2": 0.0}
    original = copy.deepcopy(basket)
    model.observe("cust-1", basket)
    model.learn_one({"customer_id": "cust-1"}, basket)
    model.learn_one({"customer_id": "brand-new"}, basket)
    assert basket == original
    assert list(basket) == list(original)


@pytest.mark.parametrize("k", [0, -1])
def test_invalid_k_is_rejected(k):
    with pytest.raises(ValueError):
        CategoryRecommender(k=k)


def test_scores_are_the_blend_of_rivers_own_mf_prediction():
    model = CategoryRecommender()
    rng = random.Random(3)
    categories = [f"cat-{i}" for i in range(10)]
    for _ in range(2000):
        model.learn_one({"customer_id": f"u{rng.randrange(50)}"}, {rng.choice(categories): 1.0, rng.choice(categories): 2.0})
    top = max(model.popularity.values())
    for customer in (f"u{i}" for i in range(50)):
        counts = model.customer_counts[customer]
        total = sum(counts.values())
        expected = {
            category: model.mf_weight * model.mf.predict_one(customer, category)
            + model.own_weight * (counts.get(category, 0.0) / total) + model.popularity_weight * (n / top)
            for category, n in model.popularity.items()
        }
        assert {r["category"]: r["score"] for r in model.predict_one({"customer_id": customer}, k=len(categories))} == expected


def test_a_scorer_moves_the_customers_parameters_and_leaves_the_versions_alone():
    """`learn_customer`: what a worker scoring with a learner's version does with a basket."""
    model = CategoryRecommender(k=2)
    for day in range(6):
        model.learn_one({"customer_id": "alice"}, {"coffee": 12.0, "bakery": 4.5})
        model.learn_one({"customer_id": "bob"}, {"wine": 30.0, "cheese": 9.0})
    version = pickle.dumps(model)

    def shared(m):  # everything a version holds that is not a customer's own
        mf = m.mf
        return (dict(m.popularity), m.n_baskets, m.n_evaluated, mf.global_mean.get(),
                {c: b for c, b in mf.i_biases.items()}, {c: v.tolist() for c, v in mf.i_latents.items()})

    before = shared(model)
    with model.customer("carol", None) as profile:
        for day in range(4):
            model.learn_customer("carol", {"wine": 20.0, "tea": 3.0}, at=1_700_000_000.0 + day)
    assert shared(model) == before  # tea is new to the version: counted in her habits only
    bias, latent, counts = profile.parameters
    assert counts["wine"] > 0 and counts["tea"] > 0 and bias != 0.0
    with model.customer("carol", profile.parameters):
        assert model.predict_one({"customer_id": "carol"}, k=1)[0]["category"] == "wine"

    again = pickle.loads(version)  # another scorer of the same version, the same baskets: the same customer
    with again.customer("carol", None) as twin:
        for day in range(4):
            again.learn_customer("carol", {"wine": 20.0, "tea": 3.0}, at=1_700_000_000.0 + day)
    assert twin.parameters == profile.parameters


def test_a_scorers_step_is_river_learn_one_for_the_customer_to_the_last_bit():
    """`learn_customer` does `BiasedMF.learn_one`'s arithmetic for the customer's own parameters only;
    the River path, which moves the version's and puts them back, is the reference."""
    model = CategoryRecommender(k=2)
    categories = ["coffee", "bakery", "wine", "cheese", "tea", "fruit", "toys"]
    for day in range(40):
        who = f"c{day % 7}"
        model.learn_one({"customer_id": who}, {categories[day % 6]: 5.0 + day, categories[(day * 3) % 6]: 2.0})
    version = pickle.dumps(model)
    direct, river = pickle.loads(version), pickle.loads(version)
    profiles, raw = {"direct": {}, "river": {}}, {"direct": [], "river": []}
    for step in range(60):
        customer = f"s{step % 9}"  # new customers first (latents drawn), then returning ones
        basket = {categories[step % 7]: 3.0 + step, categories[(step * 5) % 7]: 1.5}
        for name, m, learn in (("direct", direct, direct.learn_customer),
                               ("river", river, river._learn_customer_with_river)):
            with m.customer(customer, profiles[name].get(customer)) as profile:
                learn(customer, basket, at=1_700_000_000.0 + step)
                raw[name].append((m.mf.u_biases[customer], m.mf.u_latents[customer].tolist()))  # unrounded
            profiles[name][customer] = profile.parameters
    assert raw["direct"] == raw["river"] and profiles["direct"] == profiles["river"]
    assert len({str(p[1]) for p in profiles["direct"].values()}) == 9  # nine customers, nine vectors
    mf_direct, mf_river = direct.mf, river.mf
    assert mf_direct.global_mean.get() == mf_river.global_mean.get()
    assert {c: v.tolist() for c, v in mf_direct.i_latents.items()} == {c: v.tolist() for c, v in mf_river.i_latents.items()}
