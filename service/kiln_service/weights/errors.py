"""The one exception type for a model directory that cannot be served as it is."""

from __future__ import annotations

from pathlib import Path


class WeightsError(Exception):
    """A model file is missing, damaged or does not match its manifest or config.

    The message is one sentence naming the file, what is wrong and what to do.
    """

    def __init__(self, path: Path | str, problem: str, fix: str) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.path}: {problem}. {fix}")
