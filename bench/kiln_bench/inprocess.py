"""The in-process peer: sentence-transformers `encode` with no server in between.

Run as `python -m kiln_bench.inprocess MODEL_DIR SECONDS BATCH [BATCH ...]`. It loads the
model once and encodes the shared sentences for SECONDS at each batch size. Then it prints
the sentences per second of wall time and of its own CPU time, by batch size, as JSON. It
runs in its own process, so its threads, memory and OpenMP settings are its own.
"""

from __future__ import annotations

import json
import os
import sys
import time

from kiln_bench.sentences import SENTENCES


def main() -> None:
    model_dir, seconds = sys.argv[1], float(sys.argv[2])
    batch_sizes = [int(value) for value in sys.argv[3:]]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    model.encode(SENTENCES[: max(batch_sizes)], batch_size=max(batch_sizes))

    rates = {}
    for batch_size in batch_sizes:
        encoded = 0
        started = time.perf_counter()
        cpu_started = time.process_time()
        while time.perf_counter() - started < seconds:
            start = encoded % len(SENTENCES)
            batch = (SENTENCES * 2)[start : start + batch_size]
            model.encode(batch, batch_size=batch_size)
            encoded += len(batch)
        rates[batch_size] = {
            "per_second": encoded / (time.perf_counter() - started),
            "per_cpu_second": encoded / max(time.process_time() - cpu_started, 1e-9),
        }
    json.dump(rates, sys.stdout)


if __name__ == "__main__":
    main()
