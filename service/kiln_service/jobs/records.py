"""The values a job store keeps and hands out: jobs, results and deliveries."""

from __future__ import annotations

import enum
import hashlib
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import orjson


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


FINAL_STATES = frozenset({JobState.DONE, JobState.FAILED})


@dataclass(frozen=True)
class Job:
    """A job as stored, without its inputs and result vectors."""

    id: str
    state: JobState
    input_count: int
    created_at: float
    input_digest: str = ""
    idempotency_key: str | None = None
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    model: str | None = None
    dimensions: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True)
class NewJob:
    """A submitted job before it is stored."""

    inputs: list[str]
    idempotency_key: str | None = None
    id: str = field(default_factory=lambda: "job_" + uuid.uuid4().hex)
    created_at: float = field(default_factory=time.time)

    @property
    def input_digest(self) -> str:
        return digest_inputs(self.inputs)

    @property
    def inputs_json(self) -> bytes:
        return orjson.dumps(self.inputs)

    def as_job(self) -> Job:
        return Job(
            id=self.id,
            state=JobState.QUEUED,
            input_count=len(self.inputs),
            created_at=self.created_at,
            input_digest=self.input_digest,
            idempotency_key=self.idempotency_key,
        )


@dataclass(frozen=True)
class Delivery:
    """A job handed to this process to run; `entry_id` is its Redis stream entry, if any."""

    job_id: str
    entry_id: str = ""


@dataclass(frozen=True)
class StartedJob:
    inputs: list[str]
    attempts: int


@dataclass(frozen=True)
class JobResult:
    vectors: np.ndarray
    total_tokens: int
    model: str

    @property
    def dimensions(self) -> int:
        return int(self.vectors.shape[1])

    def vector_bytes(self) -> bytes:
        return np.ascontiguousarray(self.vectors, dtype="<f4").tobytes()


def digest_inputs(inputs: list[str]) -> str:
    """Hash the inputs with sha256, to tell a reused idempotency key from a retry."""
    return hashlib.sha256(orjson.dumps(inputs)).hexdigest()


def parse_inputs(raw: bytes | str) -> list[str]:
    inputs = orjson.loads(raw)
    if not isinstance(inputs, list):
        raise ValueError(f"stored inputs are a {type(inputs).__name__}, not a list")
    return [str(text) for text in inputs]


def vectors_from_bytes(raw: bytes, dimensions: int) -> np.ndarray:
    return np.frombuffer(raw, dtype="<f4").reshape(-1, dimensions)
