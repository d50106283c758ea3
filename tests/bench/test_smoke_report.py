"""`python -m kiln_bench --smoke` runs every benchmark section and writes the whole report.

The smoke run is what `make bench-smoke` runs: small models, short load runs. Its numbers
are not checked, because speed targets are never timed tests. The tests check that the
report and its figures are written with every section, so `make bench` cannot rot unnoticed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SECTIONS = [
    "## Targets",
    "## Load generator",
    "## Start to ready",
    "## Peak memory during load",
    "## Weights shared across workers",
    "## Throughput and latency",
    "## Shutdown under load",
    "## Operator reconcile",
]
FIGURES = ["start-to-ready.png", "peak-rss.png", "throughput.png", "latency.png"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# The module's first test runs the whole smoke benchmark in its fixture.
pytestmark = pytest.mark.timeout(1300)


@pytest.fixture(scope="module")
def smoke_report(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    output = root / "report.md"
    completed = subprocess.run(
        [sys.executable, "-m", "kiln_bench", "--smoke", "--output", str(output),
         "--model-dir", str(minilm_dir), "--cache-dir", str(root / "cache")],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-5000:]
    return output


@pytest.mark.parametrize("heading", [pytest.param(s, id=s[3:]) for s in SECTIONS])
def test_report_has_section(smoke_report: Path, heading: str) -> None:
    assert f"\n{heading}\n" in smoke_report.read_text()


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in FIGURES])
def test_report_embeds_figure(smoke_report: Path, name: str) -> None:
    assert f"({smoke_report.stem}/{name})" in smoke_report.read_text()


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in FIGURES])
def test_figure_is_png(smoke_report: Path, name: str) -> None:
    figure = smoke_report.parent / smoke_report.stem / name
    assert figure.read_bytes()[:8] == PNG_SIGNATURE


def test_report_states_machine_and_command(smoke_report: Path) -> None:
    text = smoke_report.read_text()
    assert "- Machine: " in text
    assert "- Command: `make bench-smoke`" in text
    assert "- Date: " in text


def test_every_target_has_a_verdict(smoke_report: Path) -> None:
    targets = smoke_report.read_text().split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in targets.splitlines() if line.startswith("| ")][1:]
    assert rows
    assert all(" | met | " in row or " | missed | " in row for row in rows), rows


def test_results_are_saved_as_json(smoke_report: Path) -> None:
    results = json.loads((smoke_report.parent / smoke_report.stem / "results.json").read_text())
    assert "Throughput and latency" in results
