"""Benchmarks: time and memory per training step against memory size N, dense against sparse.

    python -m samviz.bench --models ntm,sam --slots 1024,65536 --batch 8 --heads 4 --steps 10

measure.py   one configuration, inside a fresh worker process (python -m samviz.bench.measure)
runner.py    BenchConfig, memory estimates and budget, timeouts, the machine-wide lock, run_config(s)
cost.py      what a step computes (rows, multiply-adds, bytes kept for backprop), crossovers
forward.py   Compare's measure over N (forward only, batch 1): python -m samviz.bench.forward
paper.py     the paper's measured points and ratios (Rae et al. 2016, Fig. 1 and 7)
plots.py     pure functions of rows: slopes, ratios, CSV, plotly figures
__main__.py  the CLI
Shipped results: assets/bench/results.jsonl (samviz.paths.BENCH_RESULTS_DIR, also in an installed package).
"""
from samviz.paths import BENCH_RESULTS_DIR

RESULTS_DIR = str(BENCH_RESULTS_DIR)
SHIPPED_RESULTS = str(BENCH_RESULTS_DIR / "results.jsonl")
# Compare's measure (forward only, batch 1, the models Compare runs) over N: python -m samviz.bench.forward
FORWARD_RESULTS = str(BENCH_RESULTS_DIR / "forward.jsonl")
