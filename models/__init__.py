"""Online models. Each takes a feature dict and returns plain numbers; none does I/O."""

from models.churn import ChurnModel, RiskBand

__all__ = ["ChurnModel", "RiskBand"]
