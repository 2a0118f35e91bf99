"""The pure per-event core: state, features, labels, models, decisions.

Nothing here knows Faust, Kafka or Redis. The live agents and the replay command
drive the same `LoyaltyEngine`, so the same events in the same order give the
same outputs.
"""

from core.campaigns import Campaign, CampaignRule, Catalog, load_catalog
from core.engine import EngagementOutcome, EngineConfig, LoyaltyEngine, Outcome, PurchaseOutcome, StateOutcome
from core.features import churn_features, customer_features
from core.ids import assignment_id, decision_window
from core.state import CustomerState, PendingLabel

__all__ = [
    "Campaign",
    "CampaignRule",
    "Catalog",
    "CustomerState",
    "EngagementOutcome",
    "EngineConfig",
    "Outcome",
    "LoyaltyEngine",
    "PendingLabel",
    "PurchaseOutcome",
    "StateOutcome",
    "assignment_id",
    "churn_features",
    "customer_features",
    "decision_window",
    "load_catalog",
]
