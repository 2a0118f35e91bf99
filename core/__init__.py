"""The pure per-event core: state, features, labels, models, decisions.

Nothing here knows Faust, Kafka or Redis. The live agents and the replay command
drive the same `LoyaltyEngine`, so the same events in the same order give the
same outputs.
"""

from core.campaigns import Audience, Campaign, Catalog, load_catalog
from core.engine import EngineConfig, LoyaltyEngine, Outcome
from core.features import customer_features
from core.ids import assignment_id, decision_window
from core.state import CustomerState, PendingLabel

__all__ = [
    "Campaign",
    "Audience",
    "Catalog",
    "CustomerState",
    "EngineConfig",
    "Outcome",
    "LoyaltyEngine",
    "PendingLabel",
    "assignment_id",
    "customer_features",
    "decision_window",
    "load_catalog",
]
