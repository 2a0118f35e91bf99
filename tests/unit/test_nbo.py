"""Next best offer against a uniform pick among the same eligible offers, closed loop."""

from sim.evaluate import closed_loop
from models.nbo import NextBestOffer


def test_next_best_offer_redeems_more_than_a_random_pick():
    nbo = closed_loop("nbo", customers=400, days=160, seed=3)
    chance = closed_loop("random", customers=400, days=160, seed=3)
    assert nbo.assigned > 4000 and abs(nbo.assigned - chance.assigned) < 0.01 * chance.assigned
    assert nbo.redemption_rate > chance.redemption_rate + 0.005, (nbo.redemption_rate, chance.redemption_rate)
    # It learned which offer redeems: the least redeemed offer is chosen far less than at random.
    assert nbo.by_campaign["coffee"][0] < chance.by_campaign["coffee"][0] / 2


def test_thompson_samples_explore_new_offers_and_exploit_known_ones():
    nbo = NextBestOffer()
    for i in range(300):
        nbo.learn_one({"campaign_id": "known-good"}, i % 10 < 3)  # redeemed 30% of the time
        nbo.learn_one({"campaign_id": "known-bad"}, i % 10 < 1)  # 10%
    wins = {"known-good": 0, "known-bad": 0, "new": 0}
    for i in range(400):
        scores = {c: nbo.expected_value(c, 0.3, value=5, priority=1, key=f"k{i}")[0] for c in wins}
        wins[max(scores, key=scores.get)] += 1
    assert wins["known-good"] > wins["new"] > wins["known-bad"]
    assert wins["new"] > 20  # a new offer still gets a fair chance
