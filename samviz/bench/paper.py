"""The paper's measured points (Rae et al. 2016, Fig. 1 and Fig. 7), as data — see docs/PAPER_NOTES.md
(#sam, #sdnc).

Benchmark model throughout: LSTM controller with 100 units, word size W = 32, 4 heads, K = 4.
Machine: Xeon E5-1650 3.2 GHz, Torch7 + Eigen (one forward + backward per step).
"""

PAPER = "Rae et al. 2016, Scaling Memory-Augmented Neural Networks with Sparse Reads and Writes"
PAPER_MACHINE = "Xeon E5-1650 3.2 GHz, Torch7 + Eigen"

# One entry per point. metric "ms_per_step": wall-clock time of one forward + backward per step;
# metric "peak_mib": memory overhead of training, excluding the memory's own initialisation.
REFERENCE_POINTS = [
    {"figure": "Fig. 1a", "model": "ntm", "index": None, "slots": 1_000_000, "batch": 8, "steps": None,
     "metric": "ms_per_step", "value": 11_900.0, "label": "paper NTM (11.9 s)"},
    {"figure": "Fig. 1a", "model": "sam", "index": "faiss", "slots": 1_000_000, "batch": 8, "steps": None,
     "metric": "ms_per_step", "value": 7.3, "label": "paper SAM, k-d tree ANN (7.3 ms)",
     "note": "the paper's ANN was a FLANN k-d tree; samviz uses faiss"},
    {"figure": "Fig. 1b", "model": "ntm", "index": None, "slots": 64_000, "batch": 1, "steps": 100,
     "metric": "peak_mib", "value": 29.0 * 1024, "label": "paper NTM (29 GiB)"},
    {"figure": "Fig. 1b", "model": "sam", "index": "faiss", "slots": 64_000, "batch": 1, "steps": 100,
     "metric": "peak_mib", "value": 7.8, "label": "paper SAM (7.8 MiB)"},
]

# Ratios the paper states (dense ÷ sparse), keyed by bench labels (samviz.bench.plots.label): the
# paper's SAM used an ANN (k-d tree), the closest of ours is "sam-faiss".
REFERENCE_RATIOS = [
    {"figure": "Fig. 1a", "dense": "ntm", "sparse": "sam-faiss", "slots": 1_000_000, "batch": 8,
     "metric": "ms_per_step", "ratio": 1600.0, "text": "SAM (ANN) 1600× faster than the NTM at N = 1,000,000, batch 8"},
    {"figure": "Fig. 1a", "dense": "ntm", "sparse": "sam-exact", "slots": 1_000_000, "batch": 8,
     "metric": "ms_per_step", "ratio": 100.0,
     "text": "SAM with an exact linear scan ~100× faster than the NTM at N = 1,000,000"},
    {"figure": "Fig. 1b", "dense": "ntm", "sparse": "sam-faiss", "slots": 64_000, "batch": 1, "steps": 100,
     "metric": "peak_mib", "ratio": 3700.0,
     "text": "SAM needs 3700× less memory than the NTM at N = 64,000 (T = 100, batch 1)"},
    {"figure": "Fig. 7", "dense": "dnc", "sparse": "sdnc-faiss", "slots": 2048, "steps": 10, "metric": "ms_per_step",
     "ratio": 440.0, "text": "SDNC ~440× faster than the DNC at N = 2048 (10-step sequences)"},
    {"figure": "Fig. 7", "dense": "dnc", "sparse": "sdnc-faiss", "slots": 2048, "steps": 10, "metric": "peak_mib",
     "ratio": 240.0, "text": "SDNC ~240× less memory than the DNC at N = 2048"},
]


def reference_points(metric: str) -> list[dict]:
    """The paper's points for one metric ("ms_per_step" or "peak_mib")."""
    return [p for p in REFERENCE_POINTS if p["metric"] == metric]


def reference_ratio(dense: str, sparse: str, metric: str) -> dict | None:
    """The paper's dense/sparse ratio for a pair of labels (e.g. "ntm", "sam-faiss"), or None."""
    for r in REFERENCE_RATIOS:
        if r["dense"] == dense and r["sparse"] == sparse and r["metric"] == metric:
            return r
    return None
