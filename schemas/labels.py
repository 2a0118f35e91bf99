"""Labelled examples (topic `labels`, keyed by model, or `process`): the training set, as a stream.

When a prediction's label resolves (by an event, or by the watermark passing its
deadline), the worker sends the example through the same outbox as its other outputs.
A learner folds a model's examples in offset order; `example_id` is derived from the
customer, the model, the prediction's and the resolution's times, the campaign and the
features (`core.ids.example_id`), so a record processed again after a crash sends the
same id and a learner can skip the copy.

Model `process` is not a prediction: it is a customer as the purchase process (BG/NBD and
Gamma-Gamma priors) sees them at a milestone age, features `x`, `t_x`, `T`, `m`, label 0.
Churn, propensity and lifetime value read the process, so their records and its records
share one key, `process`, and so one partition, in the order the worker learned them
(`core.outputs.label_key`).

Model `uplift` is a campaign's trial that closed (`core.trials`): `ref` is the campaign,
features `arm` (1 treated, 0 held out), `purchases`, `spend` and `redeemed` in the
attribution window, `p` the policy's probability of its choice, `days` the window,
`e:<campaign>` for each campaign it was chosen among and `hp:<campaign>` for the one
of highest priority; label the spend.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

ModelName = Literal[
    "churn", "propensity", "engagement", "upsell", "payment_default", "lifetime_value", "campaign_response",
    "process", "rfm", "recommendation", "uplift",
]


class LabeledExampleRecord(BaseModel):
    """One resolved prediction: the features it used, what it said, and what happened."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    example_id: str
    model: ModelName
    customer_id: str
    features: dict[str, float] = Field(description="the features the prediction used, as it used them")
    label: float = Field(description="what happened: 0 or 1 for a classifier, the amount for lifetime value")
    prediction: float = Field(description="what the model said when it predicted")
    baseline: float | None = Field(default=None, description="the heuristic's answer at the same moment, if any")
    ref: str | None = Field(default=None, description="the campaign of a campaign-response or uplift example")
    predicted_at: AwareDatetime
    resolved_at: AwareDatetime = Field(description="the event time at which the label resolved")
