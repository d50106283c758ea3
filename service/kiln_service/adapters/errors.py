"""Why an adapter cannot be used: not found (404) or present but unusable (422).

Both are faults of one adapter, never of the server: they leave readiness and every other
adapter untouched. Messages name the adapter by its name, not by a server path, because
they go back to HTTP clients.
"""

from __future__ import annotations


class AdapterError(Exception):
    """An adapter cannot serve a request; `result` labels the failed load in the metrics."""

    result = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AdapterNotFound(AdapterError):
    result = "not_found"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Adapter {name!r} was not found in the adapters directory (KILN_ADAPTERS_DIR). "
            "Check the name, or add the adapter with `kiln adapter fit`."
        )


class AdapterInvalid(AdapterError):
    """The adapter exists but is corrupt, fails its checksum or does not fit the base model."""

    result = "invalid"

    def __init__(self, name: str, problem: str, fix: str) -> None:
        super().__init__(f"Adapter {name!r} cannot be used: {problem}. {fix}")
        self.problem = problem
