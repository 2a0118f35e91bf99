from core import LoyaltyEngine, assignment_id, churn_features, load_catalog
from core.simulator import simulate
from schemas import OfferAssignment, PurchaseEvent
from tests.unit.factories import engagement, purchase


def engine() -> LoyaltyEngine:
    return LoyaltyEngine(load_catalog(), churn_window_days=30)


def campaigns(outcome) -> list[str]:
    return [a.campaign_id for a in outcome.assignments]


def test_first_purchase_gets_the_welcome_offer_with_a_deterministic_id():
    event = purchase("cust-7")
    outcome = engine().on_purchase(None, event)
    assert campaigns(outcome) == ["welcome-2026"]
    offer = outcome.assignments[0]
    assert offer.assignment_id == assignment_id("welcome-2026", "cust-7", "2026-03-02")
    assert offer.customer_id == "cust-7"
    assert offer.offer.offer_id == "welcome-bonus"
    assert offer.offer_config == {"points_bonus": 200}
    assert offer.trigger_event_id == event.event_id
    assert offer.issued_at == event.occurred_at
    assert (offer.expires_at - offer.issued_at).days == 14
    assert 0.0 <= offer.scores["churn_probability"] <= 1.0
    assert outcome.state.campaign_windows == {"welcome-2026": "2026-03-02"}


def test_big_basket_fires_once_per_window_and_again_in_the_next():
    core = engine()
    state = core.on_purchase(None, purchase(day=0, total=20)).state
    first = core.on_purchase(state, purchase(day=0.1, total=400, n=1))
    assert campaigns(first) == ["big-basket"]
    same_window = core.on_purchase(first.state, purchase(day=0.2, total=500, n=2))
    assert campaigns(same_window) == []
    next_window = core.on_purchase(same_window.state, purchase(day=8, total=500, n=3))
    assert campaigns(next_window) == ["big-basket"]
    assert first.assignments[0].assignment_id != next_window.assignments[0].assignment_id


def test_draft_campaigns_never_assign():
    core = engine()
    state = None
    for day in range(0, 60, 3):
        outcome = core.on_purchase(state, purchase(day=day, total=900, n=day))
        assert "double-points-draft" not in campaigns(outcome)
        state = outcome.state


def test_churn_labels_resolve_by_event_time_and_the_model_learns():
    core = engine()
    state = core.on_purchase(None, purchase(day=0)).state
    assert state.pending_churn is not None and core.churn.n_learned == 0
    back_soon = core.on_purchase(state, purchase(day=5, n=1))
    assert back_soon.learned == 1 and core.churn.n_learned == 1
    back_late = core.on_purchase(back_soon.state, purchase(day=50, n=2))
    assert back_late.learned == 1
    assert back_late.state.pending_churn.at == purchase(day=50).ts


def test_the_model_learns_that_rare_buyers_churn():
    core = engine()
    states = {}
    for event in simulate(customers=150, events=4000, seed=11):
        handler = core.on_purchase if isinstance(event, PurchaseEvent) else core.on_engagement
        states[event.customer_id] = handler(states.get(event.customer_id), event).state
    assert core.churn.n_learned > 2000
    regulars = [s for s in states.values() if s.purchase_count >= 3]
    rare = max(regulars, key=lambda s: s.gap_days_mean)
    frequent = min(regulars, key=lambda s: s.gap_days_mean)
    assert rare.gap_days_mean > 30 > 5 > frequent.gap_days_mean

    def risk(state):
        return core.churn.predict_proba(churn_features(state, state.last_purchase_at))

    assert risk(rare) > 0.6 > 0.3 > risk(frequent)


def test_engagement_updates_state_without_offers():
    outcome = engine().on_engagement(None, engagement("cust-2", day=1))
    assert outcome.state.engagement_count == 1
    assert outcome.state.last_engagement_at == engagement(day=1).ts


def test_same_events_in_same_order_give_identical_outputs():
    def run() -> list[OfferAssignment]:
        core, states, out = engine(), {}, []
        for event in simulate(customers=40, events=800, seed=5):
            if isinstance(event, PurchaseEvent):
                outcome = core.on_purchase(states.get(event.customer_id), event)
                out.extend(outcome.assignments)
            else:
                outcome = core.on_engagement(states.get(event.customer_id), event)
            states[event.customer_id] = outcome.state
        return out

    first, second = run(), run()
    assert first == second
    assert len(first) > 40
    assert len({a.assignment_id for a in first}) == len(first)


def test_state_is_not_mutated_by_processing():
    core = engine()
    state = core.on_purchase(None, purchase(day=0)).state
    before = state.to_dict()
    core.on_purchase(state, purchase(day=3, n=1))
    assert state.to_dict() == before


def test_failed_and_refunded_baskets_are_payment_history_not_purchases():
    core = engine()
    state = core.on_purchase(None, purchase(day=0, total=20)).state
    failed = core.on_purchase(state, purchase(day=1, total=400, n=1, payment_status="failed"))
    assert failed.assignments == () and failed.learned == 0
    assert failed.state.purchase_count == 1 and failed.state.total_spend == 20
    assert failed.state.payment_counts == {"purchase_failed": 1}
    assert failed.state.last_payment_issue_at == purchase(day=1).ts
    refunded = core.on_purchase(failed.state, purchase(day=2, total=20, n=2, payment_status="refunded"))
    assert refunded.state.payment_counts == {"purchase_failed": 1, "purchase_refunded": 1}
    assert refunded.state.last_payment_issue_at == purchase(day=1).ts  # a refund is no payment issue


def test_payment_events_count_by_type():
    from schemas import PaymentEvent
    from tests.unit.factories import T0

    core, state = engine(), None
    for day, kind in enumerate(["bill_due", "bill_paid", "bill_due", "payment_late"]):
        event = PaymentEvent(event_id=f"b{day}", customer_id="c", occurred_at=T0.replace(day=1 + day),
                             type=kind, bill_id=f"bill-{day // 2}", amount=50)
        state = core.on_payment(state, event).state
    assert state.payment_counts == {"bill_due": 2, "bill_paid": 1, "payment_late": 1}
    assert state.last_payment_issue_at == T0.replace(day=4).timestamp()
    assert state.purchase_count == 0
