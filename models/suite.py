"""All the per-customer models together, with their live quality."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from models.base import OnlineModel
from models.btyd import PurchaseProcess
from models.churn import ChurnModel
from models.linear import LinearClassifier
from models.ltv import LifetimeValueModel
from models.nbo import NextBestOffer
from models.quality import Quality
from models.recommend import CategoryRecommender
from models.rfm import RFMModel
from models.uplift import CampaignPerformance

CLASSIFIERS = ("churn", "propensity", "engagement", "campaign_response", "upsell", "payment_default")
# Models of what the customer does on their own: the system's own actions (offers sent) are
# treatment, not evidence about the customer, so these models do not read the features that count them.
OUTCOME_MODELS = ("churn", "propensity", "lifetime_value")
# Examples with no prediction to grade: what the purchase process and RFM learn from each customer.
UNGRADED = frozenset({"process", "rfm", "recommendation", "uplift"})


# Churn and propensity predict with their weights averaged over about this many examples (`LinearClassifier`).
AVERAGE_EXAMPLES = 2000


class ModelSuite:
    """Churn, propensity to buy, engagement, campaign response, upsell, payment default,
    lifetime value, RFM, product recommendation and next best offer.

    `learn` takes labeled examples of any task: each first updates that model's
    prequential quality with the prediction made back then, then the model learns.
    """

    # Class-level defaults too: a suite unpickled from a snapshot saved before they existed has them.
    frozen = False
    source: str | None = None
    _performance: CampaignPerformance | None = None

    def __init__(self, ltv_horizon_days: float = 90.0, recommendations: int = 3,
                 treatment_features: tuple[str, ...] = (), churn_window_days: float = 30.0,
                 propensity_days: float = 14.0, learn_window_days: float = 30.0) -> None:
        # The purchase process (BG/NBD and Gamma-Gamma priors, learned online) that churn, propensity
        # and lifetime value read, each over its own horizon; the engine shows it customers (`observe`).
        self.process = PurchaseProcess()
        # Churn and propensity start from the process's own answer (its log-odds are their offset) and learn
        # what it misses; lifetime value likewise from its expected spend.
        # Each learns over at most `learn_window_days` and answers over its own horizon (`LinearClassifier`).
        self.churn = ChurnModel(ignore=treatment_features, process=self.process,
                                horizon_days=min(churn_window_days, learn_window_days),
                                score_horizon_days=churn_window_days, offset="logit_none_in_horizon",
                                average_examples=AVERAGE_EXAMPLES)
        self.learners: dict = {
            name: LinearClassifier(name, ignore=treatment_features if name in OUTCOME_MODELS else ())
            for name in CLASSIFIERS if name not in ("churn", "propensity")
        }
        self.learners["propensity"] = LinearClassifier("propensity", ignore=treatment_features, process=self.process,
                                                       horizon_days=min(propensity_days, learn_window_days),
                                                       score_horizon_days=propensity_days,
                                                       offset="logit_none_in_horizon", offset_sign=-1.0,
                                                       average_examples=AVERAGE_EXAMPLES)
        self.learners["churn"] = self.churn
        self.learners["lifetime_value"] = LifetimeValueModel(
            horizon_days=min(ltv_horizon_days, learn_window_days), score_horizon_days=ltv_horizon_days,
            ignore=treatment_features, process=self.process, churn=self.churn)
        self.rfm = RFMModel()
        self.recommendation = CategoryRecommender(k=recommendations)
        self.nbo = NextBestOffer()
        self._performance = CampaignPerformance()
        self.quality = {name: Quality("classifier") for name in CLASSIFIERS}
        self.quality["lifetime_value"] = Quality("regressor")
        self.pending: Counter = Counter()
        # Scorer mode (`LOYALTY_MODELS_FROM=learners`): examples are sent, not learned, and the models
        # that learn from labels come from a learner's published version (`adopt`), named here.
        self.frozen = False
        self.source: str | None = None

    def adopt(self, other: "ModelSuite", source: str) -> None:
        """Score with `other`'s learned models from now on: the seven learners, the purchase process
        under three of them, RFM, the recommender's categories, the offer posterior and their quality.
        The labels pending stay this suite's. `source` names the version ("all.v3"): `versions` carries it.
        """
        self.learners, self.churn, self.process, self.nbo = other.learners, other.churn, other.process, other.nbo
        self.rfm, self.recommendation = other.rfm, other.recommendation
        self._performance = other.performance
        self.quality = other.quality
        self.source = source

    @property
    def performance(self) -> CampaignPerformance:
        """What the offers did (`models.uplift`): the fold of the closed trials, not a predictor."""
        if self._performance is None:  # a suite pickled before it existed
            self._performance = CampaignPerformance()
        return self._performance

    def __getitem__(self, task: str):
        return self.learners[task]

    def learn(self, examples: Iterable) -> int:
        n = 0
        for example in examples:
            if self.frozen:  # a learner learns it, from the labels topic
                if example.task not in UNGRADED:
                    self.pending[example.task] -= 1
                n += 1
                continue
            if example.task == "process":  # a customer at a milestone age: no prediction to grade
                f = example.features
                self.process.observe(f["x"], f["t_x"], f["T"], f["m"], f.get("x0", 0.0), f.get("m0", 0.0))
                n += 1
                continue
            if example.task == "rfm":  # a purchase's recency, frequency and spend: RFM's quantiles learn it
                self.rfm.learn_one(example.features)
                n += 1
                continue
            if example.task == "recommendation":  # a basket, with the customer's parameters before it
                self.recommendation.learn_example(example.features)
                n += 1
                continue
            if example.task == "uplift":  # a campaign's trial closed: what the customer did in its window
                self.performance.learn_one(example.features, example.label, campaign_id=example.ref)
                n += 1
                continue
            quality = self.quality[example.task]
            label = example.label if example.task == "lifetime_value" else bool(example.label)
            quality.update(label, example.prediction, baseline=example.baseline)
            self.learners[example.task].learn_one(example.features, label)
            if example.task == "campaign_response" and example.ref:
                self.nbo.learn_one({"campaign_id": example.ref}, bool(example.label))
            self.pending[example.task] -= 1
            n += 1
        return n

    def members(self) -> dict[str, OnlineModel]:
        """Every model of the suite by name: the ten models, each an `OnlineModel`."""
        return {**self.learners, "rfm": self.rfm, "recommendation": self.recommendation, "next_best_offer": self.nbo}

    def versions(self) -> dict[str, str]:
        """Each model's version; those adopted from a learner's version say which (`churn-...+404@all.v3`)."""
        adopted = (*self.learners, "rfm", "recommendation", "next_best_offer") if self.source else ()
        return {name: f"{model.version}@{self.source}" if name in adopted else model.version
                for name, model in self.members().items()}

    def report(self) -> dict[str, dict]:
        """Per model: version, prequential metrics, samples, labels pending, drift flag."""
        out, versions = {}, self.versions()
        for name, model in self.learners.items():
            out[name] = {"version": versions[name], "pending_labels": max(0, self.pending[name]), **self.quality[name].report()}
            if getattr(model, "process", None) is not None:  # graded over its labels' window, answering over its own
                out[name]["label_window_days"] = float(model.horizon_days)
                out[name]["answers_for_days"] = float(model.score_horizon_days or model.horizon_days)
        out["rfm"] = {"version": self.rfm.version, "samples": self.rfm.n_seen, "drift": False}
        reco = self.recommendation
        out["recommendation"] = {
            "version": reco.version,
            f"hit_rate_at_{reco.k}": round(reco.hit_rate, 6),
            "samples": reco.n_evaluated,
            "drift": False,
        }
        out["next_best_offer"] = {
            "version": versions["next_best_offer"],
            "redemption_rate": round(self.nbo.redemption_rate, 6),
            "samples": self.nbo.responses,
            "pending_labels": max(0, self.pending["campaign_response"]),
            "drift": False,
        }
        return out
