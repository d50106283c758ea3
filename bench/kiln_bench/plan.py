"""Run plans: the sizes, durations and counts of the full report and of the CI smoke run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GIB = 2**30
MIB = 2**20


@dataclass(frozen=True)
class Plan:
    smoke: bool
    minilm_dir: Path
    cache_dir: Path
    figures_dir: Path
    # Generated KilnSynthetic models for the start-to-ready table, by label.
    synthetic_sizes: dict[str, int]
    # Size of the generated BERT-shaped model whose every weight the warm-up touches.
    bert_bytes: int
    # Server starts per model and cache state, and interpreter starts per import.
    repeats: int
    import_repeats: int
    startup_synthetic: bool
    concurrencies: tuple[int, ...]
    load_seconds: float
    warmup_seconds: float
    in_process_rounds: int
    burst_clients: int
    paired_rounds: int
    pss_workers: int
    pss_bert: bool
    shutdown_clients: int
    shutdown_after: float
    operator_counts: tuple[int, ...]


def make_plan(*, smoke: bool, minilm_dir: Path, cache_dir: Path, figures_dir: Path) -> Plan:
    if smoke:
        return Plan(
            smoke=True,
            minilm_dir=minilm_dir,
            cache_dir=cache_dir,
            figures_dir=figures_dir,
            synthetic_sizes={"8 MiB": 8 * MIB},
            bert_bytes=48 * MIB,
            repeats=1,
            import_repeats=1,
            startup_synthetic=False,
            concurrencies=(1, 8),
            load_seconds=1.0,
            warmup_seconds=0.3,
            in_process_rounds=1,
            burst_clients=2,
            paired_rounds=1,
            pss_workers=2,
            pss_bert=False,
            shutdown_clients=4,
            shutdown_after=1.0,
            operator_counts=(1,),
        )
    return Plan(
        smoke=False,
        minilm_dir=minilm_dir,
        cache_dir=cache_dir,
        figures_dir=figures_dir,
        synthetic_sizes={"1 GiB": GIB, "4 GiB": 4 * GIB},
        bert_bytes=GIB,
        repeats=3,
        import_repeats=5,
        startup_synthetic=True,
        concurrencies=(1, 8, 32, 64),
        load_seconds=10.0,
        warmup_seconds=2.0,
        in_process_rounds=2,
        burst_clients=8,
        paired_rounds=4,
        pss_workers=4,
        pss_bert=True,
        shutdown_clients=16,
        shutdown_after=3.0,
        operator_counts=(1, 50, 200),
    )
