import itertools

from core import LoyaltyEngine, assignment_id, load_catalog
from core.population import generate, topic_of
from core.replay import Replay
from schemas import OfferAssignment, PurchaseEvent, encode
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
    assert state.pending["churn"].deadline == purchase(day=30).ts and core.churn.n_learned == 0
    back_soon = core.on_purchase(state, purchase(day=5, n=1))
    churn = [e for e in back_soon.examples if e.task == "churn"]
    assert [e.label for e in churn] == [0.0] and core.churn.n_learned == 1
    back_late = core.on_purchase(back_soon.state, purchase(day=50, n=2))
    # The window ran out before the purchase: churned, resolved at its deadline, by event time.
    (late,) = [e for e in back_late.examples if e.task == "churn"]
    assert late.label == 1.0 and late.resolved_at == purchase(day=35).ts
    assert back_late.state.pending["churn"].at == purchase(day=50).ts


def test_churn_and_propensity_beat_the_days_since_purchase_heuristic():
    """Prequential, on the same labels: the acceptance's comparison, on a small population."""
    core = engine()
    _, events = generate(customers=300, days=365, seed=11)
    run = Replay(core)
    run.run((topic_of(e), e.customer_id.encode(), encode(e)) for e in events)
    run.finish()
    report = core.models.report()
    for task in ("churn", "propensity"):
        versus = report[task]["vs_baseline"]
        assert versus["samples"] > 3000
        assert versus["model_roc_auc"] > versus["baseline_roc_auc"] + 0.02, (task, versus)


def test_engagement_updates_state_without_offers():
    outcome = engine().on_engagement(None, engagement("cust-2", day=1))
    assert outcome.state.engagement_count == 1
    assert outcome.state.last_engagement_at == engagement(day=1).ts


def test_same_events_in_same_order_give_identical_outputs():
    def run():
        outputs = []
        replay = Replay(engine(), emit=lambda topic, key, value: outputs.append((topic, key, value)))
        replay.run((topic_of(e), e.customer_id.encode(), encode(e)) for e in generate(customers=60, days=120, seed=5)[1])
        replay.finish()
        return outputs, list(replay.final_scores()), replay.served

    first, second = run(), run()
    assert first == second
    offers = [value for topic, _, value in first[0] if topic == "offer-assignments"]
    assert len(offers) >= 60
    assert len({a.assignment_id for a in offers}) == len(offers)


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
    assert failed.assignments == () and failed.scores == {}
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


def test_the_sweep_resolves_silent_customers_and_their_served_risk_moves():
    """A customer who stops buying gets a churn label when the window passes, by event time only."""
    replay = Replay(engine())
    replay.feed("purchases", b"quiet", encode(purchase("quiet", day=0, total=30)))
    first = dict(replay.served["quiet"])
    assert replay.states["quiet"].pending["churn"].deadline == purchase(day=30).ts
    # Others keep buying; 'quiet' says nothing. Their events move the watermark past the deadline.
    for day in range(1, 40):
        replay.feed("purchases", b"busy", encode(purchase("busy", day=day, total=30, n=day)))
    assert "churn" not in replay.states["quiet"].pending  # resolved at its deadline; no new guess until a purchase
    assert "propensity" not in replay.states["quiet"].pending
    assert replay.engine.models.quality["churn"].samples == 1 + 38  # quiet's churned label and busy's 38
    served = replay.served["quiet"]
    assert served["as_of"] > first["as_of"]  # re-scored as of the watermark, without an event of its own
