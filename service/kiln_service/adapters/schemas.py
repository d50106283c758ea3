"""Request and response bodies of `POST /v1/classify`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kiln_service.api.schemas import Texts, Usage


class ClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adapter: str = Field(description="Name of an adapter directory in KILN_ADAPTERS_DIR.")
    input: Texts = Field(description="One text or a list of texts to classify.")
    top_k: int | None = Field(
        default=None, ge=1, description="Return only the k most likely labels per input."
    )


class Classification(BaseModel):
    index: int
    label: str = Field(description="The most likely label.")
    labels: list[str] = Field(description="Labels, most likely first.")
    scores: list[float] = Field(description="Probability of each label in `labels`.")


class ClassifyResponse(BaseModel):
    object: Literal["list"] = "list"
    adapter: str
    model: str = Field(description="The base model that computed the embeddings.")
    data: list[Classification]
    usage: Usage
