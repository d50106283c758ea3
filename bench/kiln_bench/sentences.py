"""The one-sentence inputs every throughput peer encodes, identical for all of them."""

from __future__ import annotations

SUBJECTS = ["The operator", "A replica", "The kubelet", "Every worker", "The scheduler",
            "A new pod", "The load balancer", "This cluster"]  # fmt: skip
ACTIONS = ["restarts the container after a failed liveness probe",
           "routes traffic only to pods whose readiness probe passes",
           "drains in-flight requests before the process exits",
           "maps the model weights from the page cache at start-up"]  # fmt: skip
ENDINGS = ["within a few seconds.", "during a rolling update.", "on every node.",
           "when the deployment scales out."]  # fmt: skip

SENTENCES = [
    f"{subject} {action} {ending}"
    for subject in SUBJECTS
    for action in ACTIONS
    for ending in ENDINGS
]
