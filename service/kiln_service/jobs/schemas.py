"""The request body of `POST /v1/jobs`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kiln_service.api.schemas import Texts

MAX_IDEMPOTENCY_KEY_LENGTH = 255


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: Texts = Field(description="One text or a list of texts to embed.")
    model: str | None = Field(default=None, description="Served model name; omit to use it.")
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
        description="A key that makes retries return the job first stored under it; the "
        "Idempotency-Key header does the same.",
    )
