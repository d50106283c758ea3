"""The peer for throughput: the embeddings server a user writes without kiln.

A plain FastAPI app with a synchronous handler that loads sentence-transformers on the first
request (the common lazy-global pattern) and encodes each request on its own. FastAPI runs
synchronous handlers in a thread pool, so concurrent first requests each see no model yet
and each load one: the loads counter in the response headers shows how many happened.
This is benchmark code only, not part of kiln.

Run: `KILN_BENCH_MODEL_DIR=DIR uvicorn kiln_bench.naive_server:app --host 127.0.0.1`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from fastapi import FastAPI, Response

app = FastAPI()
_model: Any = None
_loads = 0
_loads_lock = threading.Lock()


def _load() -> Any:
    global _loads
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(os.environ["KILN_BENCH_MODEL_DIR"], device="cpu")
    with _loads_lock:
        _loads += 1
    return model


@app.post("/v1/embeddings")
def embeddings(body: dict[str, Any], response: Response) -> dict[str, Any]:
    global _model
    if _model is None:
        _model = _load()
    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
    vectors = _model.encode(texts)
    response.headers["x-model-loads"] = str(_loads)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": row.tolist()}
            for i, row in enumerate(vectors)
        ],
        "model": body.get("model", "all-MiniLM-L6-v2"),
    }


@app.get("/loads")
def loads() -> dict[str, int]:
    return {"loads": _loads}
