"""Online models. Each answers through `OnlineModel` (`learn_one`, `predict_one`, `version`)
with a feature dict in and plain numbers out; none does I/O."""

from models.base import OnlineModel
from models.churn import ChurnModel, RiskBand
from models.linear import LinearClassifier
from models.ltv import LifetimeValueModel
from models.nbo import NextBestOffer
from models.recommend import CategoryRecommender
from models.rfm import RFMModel

__all__ = [
    "CategoryRecommender",
    "ChurnModel",
    "LifetimeValueModel",
    "LinearClassifier",
    "NextBestOffer",
    "OnlineModel",
    "RFMModel",
    "RiskBand",
]
