"""Server-side time from choosing a memory size in the episode player to its first episode drawn.

    .venv/bin/python scripts/player_first_episode.py sam copy 1048576 faiss
    SAMVIZ_INDEX_CACHE=/tmp/empty .venv/bin/python scripts/player_first_episode.py sam copy 1048576 faiss   # cold

Runs, in this fresh process, what the player runs for a new size: load the model (samviz.app.loaders.load_model),
record the episode (loaders.get_trace: the run, its index and its trace), then build the payload the browser's
episode view draws every step from (samviz/app/episode_view/payload.py); then the player's per-step forward times
(loaders.get_step_times: three plain runs of the episode, shown with each step). Prints each phase's wall time,
whether the faiss structure over the initial rows came from the disk cache or was built (and how long that took),
the peak resident set size of the process, and the trace's compact size. The browser's own drawing is not
included (scripts/step_latency.py measures that part).
"""
from __future__ import annotations

import json
from pathlib import Path
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))     # run from a checkout


def main(kind: str, task: str, slots: int, index: str) -> dict:
    import warnings
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    from samviz.app import loaders, params, trace_cache
    from samviz.app.episode_view import payload
    from samviz.bench.measure import PeakProbe
    from samviz.memory import index_parts
    imported = time.perf_counter()
    with PeakProbe() as probe:
        model, info = loaders.load_model(kind, task, index, slots)
        loaded = time.perf_counter()
        trace = loaders.get_trace(kind, task, params.default_level(task), 0, None, index, slots)
        traced = time.perf_counter()
        built = payload.player(trace, name=kind.upper(), episode="first", clock="first", step=0)
        drawn = time.perf_counter()
        times = loaders.get_step_times(kind, task, params.default_level(task), 0, index, slots)
        timed = time.perf_counter()
    structures = list(index_parts._INITIAL_CACHE.values())
    return {"kind": kind, "task": task, "slots": slots, "index": index, "source": info["source"],
            "word_size": model.config.word_size, "steps": len(trace),
            "import_s": round(imported - start, 2), "load_model_s": round(loaded - imported, 2),
            "record_episode_s": round(traced - loaded, 2), "payload_s": round(drawn - traced, 2),
            "choose_to_drawn_s": round(drawn - imported, 2),
            "step_times_s": round(timed - drawn, 2), "median_step_ms": round(sorted(times)[len(times) // 2], 2),
            "index_structure": [{"from_disk": s.from_disk, "build_s": round(s.build_seconds, 1)} for s in structures],
            "peak_rss_mib": round(probe.peak / (1 << 20)), "trace_compact_mib":
            round(trace_cache.deep_bytes(trace) / (1 << 20), 2),
            "payload_json_kib": round(len(json.dumps(built)) / 1024)}


if __name__ == "__main__":
    kind, task, slots, index = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    print(json.dumps(main(kind, task, slots, index)))
