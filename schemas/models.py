"""Model versions (topic `models`, compacted, keyed by learner): the learned models, as a stream.

A learner folds the `labels` topic and, every so many examples or seconds, publishes
what it has learned. The record says which labels it includes (the next offset of
every `labels` partition) and the event time of its latest example, so a restarted
learner resumes exactly there and a reader knows how fresh the models are. The models
themselves travel as a signed blob (`models.snapshot.sign`, HMAC-SHA256 with the
snapshot keys): a reader without the key sees the metadata and cannot load a forgery.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ModelVersionRecord(BaseModel):
    """One published version of a learner's models."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    learner: str = Field(description="the learner's name, the record key: 'all', or its models joined by '+'")
    version: int = Field(ge=1, description="1, 2, 3, ... per learner; a later version includes every earlier example")
    models: list[str] = Field(description="the models this learner learns")
    model_versions: dict[str, str] = Field(description="each model's own version string, as decisions carry it")
    labels_offsets: dict[str, int] = Field(description="per `labels` partition, the next offset not yet included")
    watermark: AwareDatetime | None = Field(description="the resolution time of the latest example included")
    examples_learned: int = Field(ge=0)
    duplicates_skipped: int = Field(ge=0)
    invalid: int = Field(ge=0, description="records of `labels` that were not labelled examples")
    published_at: AwareDatetime = Field(description="wall-clock time of publication (information only)")
    key_id: str = Field(description="hex id of the key that signed `blob`")
    blob: str = Field(description="base64 of the signed, compressed models and learner state")
