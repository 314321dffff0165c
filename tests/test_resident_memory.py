"""Resident memory of a training step does not grow with the number of slots (SAM and SDNC).

Allocation probes (test_sam.py, test_sdnc.py) see every tensor and numpy array a step creates, but not
pages of an array allocated at set-up that a step touches for the first time: numpy maps large zeroed
arrays lazily, in 2 MiB huge pages, so scattered writes to an O(N) table made with np.zeros fault the
whole table in during training. This test reads what the kernel reports (peak resident set size during
forward + backward, minus the resident set size before it), as the benchmark does (samviz.bench.measure).
"""
import pytest
import torch

import samviz
from samviz.bench.measure import PeakProbe, current_rss, trim_heap
from samviz.memory import index as index_module
from samviz.memory import store as store_module

BATCH, STEPS = 2, 20


def step_overhead_mib(kind: str, slots: int, monkeypatch) -> float:
    # an exact faiss flat index: no O(N) temporaries per search (the torch exact index has an [B, R, N]
    # score matrix per step by design) and no IVF build, so only the core's own bookkeeping is measured
    monkeypatch.setattr(store_module, "make_index",
                        lambda kind_, b, n, w, **options: index_module.FaissIndex(b, n, w, flat_below=1 << 30))
    torch.manual_seed(0)
    model = samviz.build_model(kind, memory_slots=slots, word_size=16, heads=2, k=4, controller_size=32,
                               index="faiss")
    x = torch.rand(STEPS, BATCH, 9)
    model.run(x[:2])[0].sum().backward()                 # warm-up: allocator and code paths
    state = model.core.initial_state(BATCH)
    trim_heap()
    before = current_rss()
    with PeakProbe() as probe:
        model.run(x, memory_state=state)[0].sum().backward()
    return (probe.peak - before) / (1 << 20)


@pytest.mark.parametrize("kind", ["sam", "sdnc"])
def test_resident_memory_of_a_step_does_not_grow_with_slots(kind, monkeypatch):
    small = step_overhead_mib(kind, 1 << 10, monkeypatch)
    large = step_overhead_mib(kind, 1 << 18, monkeypatch)
    # at 2^18 slots the SDNC's link value table alone is 16 MiB and the usage queue 8 MiB for 2 episodes:
    # faulting either in during the steps would show here
    assert large < small + 4, f"{kind}: {small:.1f} MiB per run at 2^10 slots, {large:.1f} MiB at 2^18"
