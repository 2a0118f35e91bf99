import json

from core import CustomerState, PendingLabel, customer_features
from core.features import DAY
from core.state import MAX_REMEMBERED_CAMPAIGNS


def test_purchases_accumulate_and_gaps_average():
    state = CustomerState("c").with_purchase(0.0, 10.0).with_purchase(4 * DAY, 30.0).with_purchase(12 * DAY, 20.0)
    assert state.purchase_count == 3
    assert state.total_spend == 60.0
    assert state.max_basket == 30.0
    assert state.first_purchase_at == 0.0 and state.last_purchase_at == 12 * DAY
    assert state.gap_days_mean == 6.0  # gaps of 4 and 8 days


def test_a_late_purchase_does_not_move_last_purchase_back():
    state = CustomerState("c").with_purchase(10 * DAY, 5.0).with_purchase(2 * DAY, 5.0)
    assert state.last_purchase_at == 10 * DAY
    assert state.first_purchase_at == 10 * DAY


def test_state_round_trips_through_json_with_pending_label():
    state = (
        CustomerState("c")
        .with_purchase(0.0, 12.5)
        .with_engagement(DAY)
        .with_assignment("camp", "2026-01-01")
    )
    state = state.with_pending("churn", PendingLabel(at=1.0, features={"x": 2.0}, deadline=9.0, baseline=None))
    state = state.with_pending_offer("a-1", PendingLabel(at=1.0, features={"y": 1.0}, ref="camp"))
    again = CustomerState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert again.pending["churn"] == PendingLabel(at=1.0, features={"x": 2.0}, deadline=9.0)
    assert again.due_at() == 9.0


def test_remembered_campaign_windows_are_bounded():
    state = CustomerState("c")
    for i in range(MAX_REMEMBERED_CAMPAIGNS + 10):
        state = state.with_assignment(f"camp-{i}", "w")
    assert len(state.campaign_windows) == MAX_REMEMBERED_CAMPAIGNS
    assert f"camp-{MAX_REMEMBERED_CAMPAIGNS + 9}" in state.campaign_windows
    assert "camp-0" not in state.campaign_windows
    assert state.offers_received == MAX_REMEMBERED_CAMPAIGNS + 10


def test_features_are_as_of_now_so_silence_raises_recency():
    state = CustomerState("c").with_purchase(0.0, 50.0)
    soon, later = customer_features(state, 1 * DAY), customer_features(state, 40 * DAY)
    assert soon["days_since_purchase"] == 1.0
    assert later["days_since_purchase"] == 40.0
    assert later["tenure_days"] == 40.0
    assert soon["log_avg_basket"] == later["log_avg_basket"]
    assert soon["purchase_rate_30d"] > later["purchase_rate_30d"] > 0


def test_features_of_an_empty_state_are_finite():
    import math

    features = customer_features(CustomerState("c"), 5 * DAY)
    assert all(math.isfinite(v) for v in features.values())
    assert features["days_since_purchase"] == 0.0 and features["log_purchases"] == 0.0
