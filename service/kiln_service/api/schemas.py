"""Request and response bodies of the OpenAI-compatible embeddings API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _check_encodable(value: str | list[str]) -> str | list[str]:
    """Reject lone surrogates, which JSON can escape but no UTF-8 tokenizer can read."""
    texts = [value] if isinstance(value, str) else value
    for index, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            position = f"input[{index}]" if isinstance(value, list) else "input"
            code_point = ord(text[error.start])
            raise ValueError(
                f"{position} contains the lone surrogate U+{code_point:04X} at character "
                f"{error.start}; send valid UTF-8 text"
            ) from None
    return value


Texts = Annotated[str | list[str], AfterValidator(_check_encodable)]


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: Texts = Field(description="One text or a list of texts. Token arrays are not accepted.")
    model: str | None = Field(default=None, description="Served model name; omit to use it.")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, description="Must equal the model's size.")
    user: str | None = None


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage
