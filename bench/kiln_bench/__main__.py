"""`python -m kiln_bench [--smoke] --output FILE`: measure everything, write the report."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from kiln_bench import client_overhead, memory, operator_reconcile, serving, shutdown, startup
from kiln_bench.generated import bert_model, private_copy, synthetic_model
from kiln_bench.machine import describe
from kiln_bench.plan import Plan, make_plan
from kiln_bench.report import Section, Target, table

logger = logging.getLogger("kiln_bench")
SECTIONS = ("client", "startup", "memory", "workers", "throughput", "shutdown", "operator")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kiln_bench", description=__doc__)
    parser.add_argument("--output", type=Path, required=True, help="Markdown file to write")
    parser.add_argument("--smoke", action="store_true", help="small, fast run for CI")
    parser.add_argument("--model-dir", type=Path, default=Path("models/all-minilm-l6-v2"),
                        help="baked MiniLM directory")  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/kiln-bench"),
                        help="where generated models are kept between runs")  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="sections to run (default: all)")  # fmt: skip
    return parser.parse_args(argv)


def run_sections(plan: Plan, only: list[str]) -> list[Section]:
    minilm = {"MiniLM": plan.minilm_dir}
    synthetic = {f"KilnSynthetic {label}": synthetic_model(plan.cache_dir, size)
                 for label, size in plan.synthetic_sizes.items()}  # fmt: skip
    bert_label = f"BERT-shaped {plan.bert_bytes / 2**20:.0f} MiB"
    bert = {bert_label: bert_model(plan.cache_dir, plan.bert_bytes, plan.minilm_dir)}
    steps: dict[str, Callable[[], Section]] = {
        "client": lambda: client_overhead.measure(plan),
        "startup": lambda: startup.measure(
            plan, {**minilm, **(synthetic if plan.startup_synthetic else {})}
        ),
        "memory": lambda: memory.measure_peak(plan, {**minilm, **bert, **synthetic}),
        "workers": lambda: memory.measure_pss(plan, {**minilm, **(bert if plan.pss_bert else {})}),
        "throughput": lambda: serving.measure(plan),
        "shutdown": lambda: shutdown.measure(plan),
        "operator": lambda: operator_reconcile.measure(plan),
    }
    sections = []
    for name in SECTIONS:
        if name not in only:
            continue
        started = time.monotonic()
        logger.info("measuring %s", name)
        sections.append(steps[name]())
        logger.info("measured %s in %.0f s", name, time.monotonic() - started)
    return sections


def render(plan: Plan, sections: list[Section], output: Path, command: str) -> str:
    targets: list[Target] = [target for section in sections for target in section.targets]
    kind = "smoke run (small sizes, short runs: not for comparison)" if plan.smoke else "full run"
    parts = [
        "# kiln benchmarks",
        f"Written by `{command}` ({kind}). Every number is next to its floor or peer "
        "measured in the same run; ratios are what to compare, because this machine is shared "
        "and its absolute speed varies from minute to minute.",
        describe(Path.cwd(), command),
        "## Targets",
        table(["target", "goal", "measured", "verdict", "why missed"],
              [target.row() for target in targets]),
    ]  # fmt: skip
    for section in sections:
        parts.append(section.render(output.parent))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    output: Path = args.output
    plan = make_plan(
        smoke=args.smoke,
        minilm_dir=args.model_dir,
        cache_dir=args.cache_dir,
        figures_dir=output.parent / output.stem,
    )
    if not (plan.minilm_dir / "kiln-manifest.json").is_file():
        print(f"No baked model at {str(plan.minilm_dir)!r}; run `make model` first.",
              file=sys.stderr)  # fmt: skip
        return 2
    plan.cache_dir.mkdir(parents=True, exist_ok=True)
    plan.figures_dir.mkdir(parents=True, exist_ok=True)
    plan = replace(plan, minilm_dir=private_copy(plan.minilm_dir, plan.cache_dir))

    command = "make bench-smoke" if args.smoke else "make bench"
    sections = run_sections(plan, args.only)
    output.write_text(render(plan, sections, output, command))
    results = {section.title: section.data for section in sections}
    (plan.figures_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    logger.info("wrote %s and %s", output, plan.figures_dir)
    logger.info("command line: %s", shlex.join(sys.argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
