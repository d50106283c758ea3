"""PNG figures for the report, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def bar_chart(
    path: Path,
    *,
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    ylabel: str,
) -> Path:
    """Draw grouped bars: one group per label, one bar per series."""
    figure, axes = plt.subplots(figsize=(max(6.0, 1.2 * len(labels) + 2), 4))
    width = 0.8 / max(1, len(series))
    for offset, (name, values) in enumerate(series.items()):
        positions = [index + offset * width for index in range(len(labels))]
        axes.bar(positions, values, width=width, label=name)
    axes.set_xticks([index + width * (len(series) - 1) / 2 for index in range(len(labels))])
    axes.set_xticklabels(labels, rotation=20, ha="right")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend()
    return _save(figure, path)


def line_chart(
    path: Path,
    *,
    title: str,
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
    log_y: bool = False,
    flat: dict[str, float] | None = None,
) -> Path:
    """Draw one line per series over `x`, plus dashed horizontal lines from `flat`."""
    figure, axes = plt.subplots(figsize=(10, 5))
    for name, values in series.items():
        axes.plot(x, values, marker="o", label=name)
    styles = ["--", ":", "-.", (0, (5, 5))]
    for index, (name, value) in enumerate((flat or {}).items()):
        axes.axhline(value, linestyle=styles[index % len(styles)], color="grey", label=name)
    axes.set_xscale("log", base=2)
    axes.set_xticks(list(x))
    axes.set_xticklabels([f"{value:g}" for value in x])
    if log_y:
        axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
