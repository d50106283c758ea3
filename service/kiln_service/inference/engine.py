"""The local engine: verify and map the weights, build the model, warm it up, release it.

Every blocking step runs in a worker thread so the event loop keeps serving the probes.
`import torch` starts in its own thread at the beginning of the load, so the interpreter
imports torch while the first pass reads and hashes the weight files (hashing and file
reads release the GIL).

Before that import the engine sets `OMP_WAIT_POLICY=PASSIVE` unless the environment already
sets it. torch's OpenMP runtime (libgomp in the CPU wheels) otherwise lets idle threads spin
at the end of every parallel region. The forward pass shares the cores with the event loop,
the HTTP clients and, in a pod with a CPU limit, the cgroup quota. When a spinning thread
occupies a core that another thread of the same forward pass needs, each pass slows down
badly. On the shared two-core benchmark machine the passive policy cut single-sentence
latency several times over (docs/benchmarks.md). libgomp reads the variable once, when
torch loads it.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kiln_service.api.errors import Unavailable
from kiln_service.inference.batcher import Batcher, BatcherClosed
from kiln_service.lifecycle import Lifecycle
from kiln_service.metrics import Metrics
from kiln_service.settings import Settings
from kiln_service.weights.errors import WeightsError
from kiln_service.weights.loader import check_directory, map_tensors, read_files
from kiln_service.weights.manifest import read_manifest

if TYPE_CHECKING:
    import torch

    from kiln_service.models import EmbeddingModel

logger = logging.getLogger(__name__)

WARM_UP_TEXT = "Warm-up sentence for the first forward pass."


class Engine:
    def __init__(self, settings: Settings, lifecycle: Lifecycle, metrics: Metrics) -> None:
        assert settings.model_dir is not None
        self.model_dir: Path = settings.model_dir
        self.settings = settings
        self.lifecycle = lifecycle
        self.metrics = metrics
        self.model_name = self.model_dir.name
        self.dimensions = 0
        self.weight_bytes = 0
        self._model: EmbeddingModel | None = None
        self._batcher: Batcher | None = None

    async def load(self) -> None:
        """Verify, read and map the weights and build the model; raise WeightsError on faults."""
        progress = self.lifecycle.progress
        # Even the header checks run off the event loop: a header may be many megabytes.
        manifest = await asyncio.to_thread(read_manifest, self.model_dir)
        self.model_name = manifest.name
        self.weight_bytes = manifest.weight_bytes
        layouts = await asyncio.to_thread(check_directory, self.model_dir, manifest)

        set_openmp_wait_policy()
        torch_import = asyncio.create_task(asyncio.to_thread(importlib.import_module, "torch"))
        try:
            logger.info(
                "load started: model %s, %d files, %d weight bytes, %d tensors, verify=%s",
                manifest.name,
                len(manifest.files),
                manifest.weight_bytes,
                manifest.tensor_count,
                self.settings.verify,
            )

            started = time.monotonic()
            await asyncio.to_thread(
                read_files,
                self.model_dir,
                manifest,
                verification=self.settings.verify,
                progress=progress,
            )
            read_seconds = time.monotonic() - started
        finally:
            await torch_import

        tensors = await asyncio.to_thread(map_tensors, self.model_dir, layouts)
        model = await asyncio.to_thread(self._build, manifest.name, manifest.architecture, tensors)
        del tensors
        self._model = model
        self.dimensions = model.dimensions

        seconds = time.monotonic() - started
        self.metrics.load_seconds.set(seconds)
        self.metrics.load_bytes.set(progress.bytes_loaded)
        logger.info(
            "loaded %d bytes in %.2f s at %.0f MB/s (read and verify %.2f s)",
            progress.bytes_loaded,
            seconds,
            progress.bytes_loaded / max(seconds, 1e-9) / 1e6,
            read_seconds,
        )

    def _build(
        self, name: str, architecture: str, tensors: dict[str, torch.Tensor]
    ) -> EmbeddingModel:
        from kiln_service.models import build_model

        if self.settings.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise WeightsError(
                    "KILN_DEVICE",
                    f"the device is cuda, but torch {torch.__version__} finds no CUDA device",
                    "Run on a GPU node with a CUDA build of torch, or set KILN_DEVICE=cpu.",
                )
            tensors = {key: value.to("cuda") for key, value in tensors.items()}
        return build_model(self.model_dir, name, architecture, tensors)

    async def warm_up(self) -> None:
        """Run the first forward passes, so the first routed request is not the slow one."""
        assert self._model is not None
        self._batcher = Batcher(
            self._model.embed,
            max_batch_size=self.settings.max_batch_size,
            batch_wait_ms=self.settings.batch_wait_ms,
            on_batch=self.metrics.batch_size.observe,
        )
        started = time.monotonic()
        await self._batcher.run_once([WARM_UP_TEXT])
        await self._batcher.run_once([WARM_UP_TEXT] * min(8, self.settings.max_batch_size))
        self._batcher.start()
        logger.info("warm-up done in %.2f s", time.monotonic() - started)

    async def embed(self, texts: list[str]) -> tuple[np.ndarray, list[int]]:
        if self._batcher is None:
            raise Unavailable(
                "The model is not loaded; retry when /readyz returns 200.", retry_after=1
            )
        try:
            return await self._batcher.submit(texts)
        except BatcherClosed:
            raise Unavailable(
                "The server shut down before this request reached the model; retry on "
                "another replica.",
                code="shutting_down",
                retry_after=1,
            ) from None

    async def close(self) -> None:
        """Finish queued work, then drop every reference to the model and free its memory."""
        if self._batcher is not None:
            await self._batcher.close(timeout=self.settings.request_timeout)
            self._batcher = None
        if self._model is None:
            return

        released = self._model.release()
        self._model = None
        collected = gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and self.settings.device == "cuda" and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
            logger.info("CUDA cache emptied")
        logger.info(
            "model released: %d bytes of tensors dropped, %d objects collected", released, collected
        )


def set_openmp_wait_policy() -> None:
    """Make idle OpenMP threads sleep instead of spin, unless the environment decides."""
    if "OMP_WAIT_POLICY" in os.environ:
        return
    if "torch" in sys.modules:
        logger.warning(
            "torch was imported before the load started, so OMP_WAIT_POLICY=PASSIVE cannot "
            "take effect; set OMP_WAIT_POLICY in the environment to choose the policy"
        )
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
