"""The dashboard's counts are labelled by reasons of bounded variety, whatever text a reason carries."""

from streams.kafka.outputs import block_reason, dead_letter_reason


def test_a_limit_is_named_by_its_rule_and_other_blocks_by_their_kind():
    assert block_reason("limits: customer_cap") == "customer_cap"
    assert block_reason("limits: not confirmed (limits unavailable: fail closed)") == "limits unavailable"
    assert block_reason("audience: not in segment 'vip'") == "audience"
    assert block_reason("already assigned in this decision window") == "already assigned in this decision window"


def test_a_dead_letter_is_named_by_its_first_clause_without_the_values():
    errors = [f"undecodable (ValidationError): total {i} is not the sum of the lines" for i in range(50)]
    assert {dead_letter_reason(e) for e in errors} == {"undecodable (ValidationError)"}
    assert dead_letter_reason("") == "unknown"
    assert len(dead_letter_reason("x" * 500)) == 60
