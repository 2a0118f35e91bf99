"""The per-customer score record: what the API serves and Redis keeps for each customer."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

RiskBand = Literal["LOW", "MEDIUM", "HIGH"]


class CustomerScores(BaseModel):
    """Every model's latest answer for one customer, as of an event time.

    Models added later appear as further optional fields; consumers ignore what
    they do not know.
    """

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    customer_id: str = Field(min_length=1, max_length=64)
    as_of: AwareDatetime
    churn_probability: float = Field(ge=0, le=1)
    churn_risk_band: RiskBand
    model_versions: dict[str, str] = Field(default_factory=dict)
