"""Pure PyTorch memory cores (no UI imports): one concept per module.

core.py        the contract: MemoryCore (initial_state, step, end_episode) and StepResult
addressing.py  the shared equations: cosine (one function, two named conventions), content weights, NTM
               shifts and sharpening, erase-and-add, read-mode mixing, the fused sparse read
initial.py     how a memory starts (INITIAL_MEMORY_VALUE, the jittered start)
ntm.py         NTMMemory (dense)              dam.py   DAMMemory (dense; SAM's interface and write rule)
sam.py         SAMMemory, SAM's interface layout and write rule (write_weighting)
usage.py       SAM's usage: δ = ACCESS_THRESHOLD and the least-recently-used tracker
journal.py     SparseMemory: the in-place buffer, its journal and rollback (sparse BPTT)
index.py       nearest-neighbour indexes (exact, faiss) over the rows
dnc.py         DNCMemory (dense) and the DNC equations      links.py  the SDNC's sparse links and set helpers
sdnc.py        SDNCMemory
Each core's step returns a typed per-kind step result (NTMStep, DAMStep, SAMStep, DNCStep, SDNCStep);
samviz/trace/ turns those into the app's JSON.
"""
