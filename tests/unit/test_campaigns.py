import json

import pytest
from pydantic import ValidationError

from core import Catalog, load_catalog


def test_packaged_catalog_loads_and_links_resolve():
    catalog = load_catalog()
    assert {c.campaign_id for c in catalog.active()} >= {"welcome-2026", "retain-at-risk", "big-basket"}
    assert all(c.status == "active" for c in catalog.active())
    double = catalog.offer("double-points-weekend")
    assert (double.category, double.lifecycle_stage, double.target_value_segment) == ("points", "retention", "all")


def test_a_campaign_linking_to_an_unknown_offer_is_refused(tmp_path):
    data = json.loads(load_catalog().model_dump_json())
    data["campaigns"][0]["offer_id"] = "no-such-offer"
    with pytest.raises(ValidationError, match="unknown offers: no-such-offer"):
        Catalog.model_validate(data)


def test_unknown_rule_keys_are_refused():
    data = json.loads(load_catalog().model_dump_json())
    data["campaigns"][0]["rule"] = {"min_spend_typo": 3}
    with pytest.raises(ValidationError, match="min_spend_typo"):
        Catalog.model_validate(data)


def test_catalog_file_overrides_the_packaged_one(tmp_path):
    path = tmp_path / "catalog.json"
    data = json.loads(load_catalog().model_dump_json())
    data["campaigns"] = data["campaigns"][:1]
    path.write_text(json.dumps(data))
    assert [c.campaign_id for c in load_catalog(path).campaigns] == ["welcome-2026"]
