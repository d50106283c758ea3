"""Gateway mode: the same API and probes, with inference in an external embeddings server.

`kiln serve --backend URL` loads no weights. Each worker process opens one pooled HTTP
client to an OpenAI-compatible embeddings server (a kiln server in local mode, vLLM,
text-embeddings-inference) and forwards `/v1/embeddings` to it. Liveness never depends on
the backend, so a backend outage makes the gateway unready without restarting it, and
readiness reads a cached check so that probes never reach the backend.
"""

from kiln_service.gateway.backend import Gateway

__all__ = ["Gateway"]
