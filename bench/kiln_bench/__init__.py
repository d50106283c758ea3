"""The kiln benchmark report: `python -m kiln_bench --output docs/benchmarks.md`.

Every figure is measured in the same run as its floor (the physical or interpreter minimum)
or its peer (what a user would run without kiln), and the report gives their ratio. The
noise of a shared two-core machine then moves both sides of each comparison together.
"""
