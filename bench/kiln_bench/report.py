"""Markdown pieces of the report: sections, tables, targets and number formats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Target:
    """One stated goal, its measured value and whether the value meets it."""

    name: str
    goal: str
    measured: str
    met: bool
    why: str = ""

    def row(self) -> list[str]:
        if self.met:
            return [self.name, self.goal, self.measured, "met", "-"]
        return [self.name, self.goal, self.measured, "missed", self.why or "-"]


@dataclass
class Section:
    title: str
    intro: str
    blocks: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    data: dict[str, object] = field(default_factory=dict)

    def add_table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.blocks.append(table(header, rows))

    def add_text(self, text: str) -> None:
        self.blocks.append(text.strip())

    def render(self, figures_relative_to: Path) -> str:
        parts = [f"## {self.title}", self.intro.strip(), *self.blocks]
        for figure in self.figures:
            relative = figure.relative_to(figures_relative_to)
            parts.append(f"![{figure.stem}]({relative.as_posix()})")
        return "\n\n".join(part for part in parts if part)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value).replace("|", "\\|")


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def mebibytes(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def ratio(value: float, floor: float) -> float:
    return value / floor if floor > 0 else float("inf")


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
