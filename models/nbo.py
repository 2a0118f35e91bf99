"""Next best offer: rank a customer's eligible campaigns by expected value, exploring new ones."""

from __future__ import annotations

import hashlib
import random


def _rng(key: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big"))


class NextBestOffer:
    """Thompson sampling over each campaign's redemption rate, blended with the contextual
    campaign-response model's probability for this customer.

    expected value = (response propensity + sampled redemption rate) / 2 x offer value x priority

    A campaign with few responses has a wide Beta posterior, so its samples are
    sometimes high: new offers get a fair chance. Samples are drawn from a random
    generator seeded by the decision's own key (the assignment id), so replay
    draws exactly what the live worker drew.

    Examples
    --------
    >>> nbo = NextBestOffer()
    >>> for _ in range(200):
    ...     nbo.learn_one({"campaign_id": "good"}, True)
    ...     nbo.learn_one({"campaign_id": "bad"}, False)
    >>> good = nbo.expected_value("good", 0.5, value=10, priority=1, key="k1")[0]
    >>> bad = nbo.expected_value("bad", 0.5, value=10, priority=1, key="k1")[0]
    >>> good > bad, nbo.expected_value("new", 0.5, 10, 1, "k1") == nbo.expected_value("new", 0.5, 10, 1, "k1")
    (True, True)
    """

    def __init__(self, prior_redeemed: float = 1.0, prior_missed: float = 3.0) -> None:
        self.prior_redeemed = prior_redeemed
        self.prior_missed = prior_missed
        self.redeemed: dict[str, float] = {}
        self.missed: dict[str, float] = {}
        self.chosen = 0
        self.responses = 0
        self.redemptions = 0

    def predict_one(self, x: dict) -> float:
        """A redemption rate drawn from campaign `x["campaign_id"]`'s posterior, seeded by `x["key"]`."""
        return self.sample(x["campaign_id"], x["key"])

    def sample(self, campaign_id: str, key: str) -> float:
        a = self.prior_redeemed + self.redeemed.get(campaign_id, 0.0)
        b = self.prior_missed + self.missed.get(campaign_id, 0.0)
        return _rng(f"{key}|{campaign_id}").betavariate(a, b)

    def expected_value(self, campaign_id: str, propensity: float, value: float, priority: float, key: str):
        """(expected value, the sampled redemption rate)."""
        sampled = self.sample(campaign_id, key)
        return (propensity + sampled) / 2 * value * priority, sampled

    def choice_probability(self, options: list[tuple[str, float, float, float]], chosen: str, key: str,
                           draws: int = 400) -> float:
        """The probability that Thompson sampling picks `chosen` among `options` (campaign id, response
        propensity, value, priority), estimated from `draws` seeded draws of every posterior: the same
        number in replay and live, which off-policy evaluation weighs the logged decision by.

        Ties go to the smaller campaign id, as the ranking breaks them.

        >>> nbo = NextBestOffer()
        >>> nbo.choice_probability([("a", 0.5, 10, 1)], "a", "k")
        1.0
        >>> p = nbo.choice_probability([("a", 0.5, 10, 1), ("b", 0.5, 10, 1)], "a", "k")
        >>> 0.4 < p < 0.6, p == nbo.choice_probability([("b", 0.5, 10, 1), ("a", 0.5, 10, 1)], "a", "k")
        (True, True)
        """
        if len(options) == 1:
            return 1.0
        import numpy as np

        ordered = sorted(options)
        seed = int.from_bytes(hashlib.blake2b(f"choice|{key}".encode(), digest_size=8).digest(), "big")
        rng = np.random.default_rng(seed)
        values = np.empty((len(ordered), draws))
        for i, (cid, propensity, value, priority) in enumerate(ordered):
            a = self.prior_redeemed + self.redeemed.get(cid, 0.0)
            b = self.prior_missed + self.missed.get(cid, 0.0)
            values[i] = (propensity + rng.beta(a, b, draws)) / 2 * value * priority
        wins = np.argmax(values, axis=0)  # the first of equals: the smallest id
        index = next(i for i, o in enumerate(ordered) if o[0] == chosen)
        # Never 0: the draw that picked it happened. Half a draw keeps the weight finite.
        return max(float(np.count_nonzero(wins == index)), 0.5) / draws

    def learn_one(self, x: dict, y: bool) -> None:
        """Campaign `x["campaign_id"]`'s offer was redeemed (`y`) or not."""
        campaign_id, redeemed = x["campaign_id"], bool(y)
        store = self.redeemed if redeemed else self.missed
        store[campaign_id] = store.get(campaign_id, 0.0) + 1.0
        self.responses += 1
        self.redemptions += int(redeemed)

    @property
    def redemption_rate(self) -> float:
        """Prequential: of the offers this policy chose whose outcome is known, the share redeemed."""
        return self.redemptions / self.responses if self.responses else 0.0

    @property
    def version(self) -> str:
        return f"nbo-thompson-v1+{self.responses}"
