"""The guided story (the app's landing page): chapters as data, and the pure functions behind each figure.

No Streamlit here. Every number a chapter shows comes from the library itself, never typed in:

    content weights           samviz.memory.addressing.content_weights (the NTM/DNC equation)
    erase and add             samviz.memory.addressing.erase_and_add
    bytes kept for backprop   samviz.bench.runner.estimate_bytes (the benchmark's own memory estimate)
    SAM's reads, writes, LRU  a real samviz.memory.sam.SAMMemory run for a few steps on a 16-slot toy
    journal and rollback      the same run's journal (rows before each write) and a real backward pass
    exact vs approximate      samviz.memory.index (exact scan and the faiss index) and its recall_at_k
    measured payoff           assets/bench/results.jsonl through samviz.bench.runner.read_rows / plots.ratios

Constants come from where the library defines them: δ = samviz.memory.usage.ACCESS_THRESHOLD, K = the
default of samviz.model.ModelConfig.k, the read heads of an untrained SAM = samviz.kinds.KINDS["sam"]. Heavy
modules (torch, faiss, plotly) are imported inside the functions that need them, so importing this module is
cheap. Figures follow the player's encodings (samviz/app/figures.py): slots on the vertical axis, slot 0 at
the top; read blue, write orange.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

from samviz.app.params import Problem, parse_int
from samviz.kinds import KINDS

# ------------------------------------------------------------------------------------------ story settings
TOY_SLOTS = 16              # the toy memory of chapters 2, 5 and 7
TOY_SEED = 7                # every toy memory and query is drawn from this seed: the same picture for everyone
SPOTLIGHT_SLOTS = 8         # chapter 1's memory table
SPOTLIGHT_WIDTH = 6
SPOTLIGHT_BETA = 3.0         # soft enough that several slots glow
WRITE_SLOTS = 6             # chapter 3's memory table
WRITE_WIDTH = 4
WRITE_BETA = 50.0           # a sharp head: the write lands (almost) on one slot
SAM_WIDTH = 4               # chapter 5's toy SAM: 16 slots of 4 numbers
SAM_STEPS = 6
RECALL_SLOTS = (4096, 16384)   # chapter 6: sizes offered (the faiss index is an exact flat index below 4096)
RECALL_WIDTH = 32
RECALL_QUERIES = 64
COST_MIN_POWER, COST_MAX_POWER = 10, 24   # chapter 4: N from 2^10 to 2^24 (the benchmark's MAX_SLOTS)
JOURNAL_EXAMPLE_SLOTS = 2**20              # chapter 7: the large memory its bytes-per-step comparison is made at
PRESENTER_PARAM, CHAPTER_PARAM = "presenter", "chapter"


def sam_heads() -> int:
    """R: the read heads of the app's untrained SAM (samviz/kinds.py)."""
    return KINDS["sam"].untrained_heads


def neighbours() -> int:
    """K: neighbours per sparse read, the default of samviz.model.ModelConfig (the shipped models' K)."""
    from samviz.model import ModelConfig
    return ModelConfig.k


def access_threshold() -> float:
    """δ: a slot counts as accessed when its read + write weight exceeds this (samviz.memory.usage)."""
    from samviz.memory.usage import ACCESS_THRESHOLD
    return ACCESS_THRESHOLD


def scan_per_sqrt_n() -> int:
    """The inverted-file index scans about this many × √N rows per query (samviz.memory.index)."""
    from samviz.memory.index import SCAN_PER_SQRT_N
    return SCAN_PER_SQRT_N


def interpolation_symbol() -> str:
    """SAM's interpolation gate: g^i in this app (the paper's γ; γ is the NTM's sharpening): explain.py."""
    from samviz.app.explain import INTERPOLATION
    return INTERPOLATION


# ------------------------------------------------------------------------------------------ chapters as data

@dataclass(frozen=True)
class Question:
    prompt: str
    choices: tuple[str, ...]
    answer: int               # index into choices
    explanation: str

    @property
    def right(self) -> str:
        return self.choices[self.answer]


@dataclass(frozen=True)
class Chapter:
    number: int
    title: str
    text: str                 # plain language, markdown (our words only)
    equation: str             # folded under the figure: markdown with $…$ LaTeX
    question: Question


def chapters() -> tuple[Chapter, ...]:
    """The eight chapters, one idea each. Constants in the words are the library's."""
    k, r, delta, gi = neighbours(), sam_heads(), access_threshold(), interpolation_symbol()
    written = k * r + 1
    scan = scan_per_sqrt_n()
    return (
        Chapter(1, "Memory is a table; a head is a spotlight",
                "A memory-augmented network keeps a **memory**: a table of N rows called **slots**, each holding a "
                "short list of numbers. A **controller** (a small neural network) never looks at a slot directly. "
                "It moves a **head** over the table, like a spotlight: every slot gets a **weight** between 0 and 1, "
                "its brightness, and the weights add up to 1. Reading returns the slots' contents mixed in "
                "proportion to their brightness, so a bright slot dominates what is read.",
                r"Read vector: $r = \sum_i w(i)\, M(i)$, with $w(i) \ge 0$ and $\sum_i w(i) = 1$. "
                r"$M(i)$ is slot $i$'s row, $w(i)$ the read weight of slot $i$.",
                Question("One slot has weight 0.9 and the others share 0.1. What does the read return?",
                         ("The average of all slots, each counted equally",
                          "Mostly the contents of the bright slot",
                          "Only the first slot of the table"),
                         1, "Reading is a weighted mix: the slot with weight 0.9 contributes 90% of what is read, "
                            "the others together 10%.")),
        Chapter(2, "Reading by content",
                "How does the head decide where to shine? It holds a **key**, a list of numbers like a slot's, and "
                "compares it with every slot: the more a slot points the same way as the key, the brighter it gets. "
                "The **key strength β** sets how picky the spotlight is: a small β spreads light over many similar "
                "slots, a large β focuses it on the best match. Below is a toy memory of "
                f"{TOY_SLOTS} slots with two numbers each, drawn as arrows. Move the key and β and watch the weights.",
                r"Content weights: $w^c(i) = \dfrac{\exp\big(\beta\, \cos(k, M(i))\big)}"
                r"{\sum_j \exp\big(\beta\, \cos(k, M(j))\big)}$, "
                r"with $\cos(k, m) = \dfrac{k \cdot m}{\lVert k\rVert\, \lVert m\rVert + \varepsilon}$. "
                "Computed here by `samviz.memory.addressing.content_weights`, the function the NTM, DAM and DNC use.",
                Question("You raise β from 1 to 50 and keep the key where it is. What happens to the weights?",
                         ("They spread out evenly over all slots",
                          "Nothing changes: β only matters when writing",
                          "They concentrate on the slots most similar to the key"),
                         2, "β multiplies every similarity before the softmax, so differences between slots grow "
                            "and the softmax puts almost all weight on the best match.")),
        Chapter(3, "Writing: erase, then add",
                "Writing uses a spotlight too, the **write weight**. Each slot under it is first partly **erased** "
                "(by the erase vector e, numbers between 0 and 1) and then receives the **add** vector a, both "
                "in proportion to its write weight. A slot in the dark is left untouched. Move the erase strength "
                "and the target slot and compare the table before and after.",
                r"$M(i) \leftarrow M(i) \odot \big(1 - w(i)\, e\big) + w(i)\, a$. "
                "Computed by `samviz.memory.addressing.erase_and_add`.",
                Question("A slot has write weight 1 and the erase vector is all ones. What is left of its old "
                         "contents after the write?",
                         ("Nothing: it is wiped and then holds the add vector",
                          "Its old contents plus the add vector",
                          "Half of its old contents"),
                         0, "With w = 1 and e = 1 the erase factor 1 − w·e is 0, so the old row is wiped; then w·a = a "
                            "is added.")),
        Chapter(4, "The cost problem",
                "A dense head gives every slot a weight, so **every step touches all N slots**, for every head. "
                "Training is worse: to learn, backpropagation needs the memory as it was at every step, and a "
                "plain implementation **keeps a copy of the whole memory per step**. Pick N and see how many bytes "
                "training keeps, as estimated by samviz's own benchmark for its benchmark model.",
                r"Dense cost per step: $O(N \cdot W)$ time per head; memory for backprop over T steps: "
                r"$O(N \cdot W \cdot T)$. The estimate shown is `samviz.bench.runner.estimate_bytes` "
                "(the training overhead beyond the memory itself), the same estimate the benchmark uses to refuse "
                "runs that would not fit.",
                Question("You double N. What happens to the bytes a dense model keeps for backprop?",
                         ("They stay the same", "They roughly double", "They grow tenfold"),
                         1, "Each step keeps a copy of an N-slot memory, so the bytes grow in proportion to N: twice "
                            "the slots, twice the bytes.")),
        Chapter(5, "SAM: touch only a few slots",
                f"Sparse Access Memory (SAM) keeps the spotlight idea but lights **only K = {k} slots per head**: "
                "the K most similar to the key, found by an index (chapter 6). Writing goes to the slots read at "
                "the previous step plus **the least recently used slot**, the one that has gone longest without "
                f"being read or written. With R = {r} heads that is at most K·R + 1 = {written} rows per step, "
                "whatever N is. Below: a real SAM with "
                f"{TOY_SLOTS} slots, stepped {SAM_STEPS} times with random queries.",
                rf"Read: the K slots $s_1..s_K$ most similar to the query q get "
                rf"$w = \mathrm{{softmax}}_k(\beta \cos(q, M(s_k)))$. "
                rf"Write: $w^W_t = \alpha_t\big({gi}_t\, w^R_{{t-1}} + (1 - {gi}_t)\, I^U_t\big)$, "
                rf"$I^U_t$ one-hot on the least recently used slot (erased first). A slot is *used* at a step when "
                rf"its read + write weight exceeds $\delta = {delta}$. "
                rf"$\alpha$: write gate; ${gi}$: interpolation gate (the paper's $\gamma$).",
                Question(f"With K = {k} and R = {r} read heads, at most how many rows does one SAM step write?",
                         ("All N rows", f"{k}", f"{written}"),
                         2, f"The write goes to the K·R = {k * r} slots read at the previous step plus the least "
                            f"recently used slot: {written} rows, independent of N.")),
        Chapter(6, "Finding the K nearest without looking at all N",
                "To find the K slots most similar to a query, an **exact scan** compares the query with all N slots: "
                "correct, but O(N). An **approximate nearest-neighbour (ANN) index** groups similar slots into "
                f"lists and only searches the most promising lists, here about {scan}·√N rows. It can miss a true "
                "neighbour now and then: **recall** is the fraction of the true K nearest it found. Below, random "
                "memories and queries, searched both ways with samviz's own indexes (for an arbitrary memory like "
                "this one samviz's faiss index is an inverted file; for a model's memory it also keeps a graph "
                "index over the untouched initial rows).",
                r"recall@K $= \dfrac{|\,\text{found} \cap \text{exact top-}K\,|}{K}$, averaged over queries "
                "(`samviz.memory.index.recall_at_k`). The inverted file (IVF): rows are grouped around centroids; a "
                f"query probes its best lists until ~{scan}·√N rows are covered (`SCAN_PER_SQRT_N`).",
                Question("The approximate index looks at far fewer rows than the exact scan. What does it give up?",
                         ("Nothing: it always finds the same K slots",
                          "Sometimes one of the true K nearest is missed (recall below 1)",
                          "It returns random slots"),
                         1, "It only searches the lists whose centroids are closest to the query; a true neighbour "
                            "sitting in another list is missed. Recall measures how often that happens.")),
        Chapter(7, "Sparse backprop: the journal and the rollback",
                "Chapter 4's problem was the copy of memory kept per step. SAM keeps **one** memory and changes it "
                "in place. Each step writes a small **journal** entry: which rows it changed and what they held "
                "before. Backprop walks the steps backwards and **rolls the memory back**, restoring the old rows "
                "from the journal, so at every step it sees the memory as it was, having stored only a few rows per "
                "step instead of all N.",
                r"Journal entry of step t: (ids of the $\le K R + 1$ rows written, their rows before the write). "
                r"Backward at step t: gradients flow to those rows only, then $M(\text{ids}) \leftarrow$ old rows. "
                "Implemented by `samviz.memory.journal.SparseMemory`.",
                Question("During backprop SAM needs the memory as it was at step t. How does it get it?",
                         ("It undoes the later writes, newest first, from its journal",
                          "It kept a full copy of the memory for every step",
                          "It replays the whole episode from the start"),
                         0, "Each journal entry holds the old contents of the few rows a step wrote; restoring them "
                            "in reverse order walks the memory back in time, one step at a time.")),
        Chapter(8, "The payoff",
                "Put together: a dense head touches every slot and its backprop keeps a copy of memory per step; "
                "SAM touches K slots found by an index, writes K·R + 1 rows and journals only those. So SAM's cost "
                "per step hardly grows with N while the dense model's grows in proportion. The numbers below are "
                "measurements shipped with samviz (at small N Python overhead dominates and the gap is smaller), "
                "and the same trained SAM models, trained with 128 slots, run with a memory of a million. "
                "Now explore for yourself:",
                r"Dense (NTM) per step: $O(N W)$ time, $O(N W)$ memory kept for backprop. SAM per step: "
                r"$O(K R W)$ plus the index search (sub-linear in $N$ with faiss, $N$ rows with an exact scan), "
                r"$O(K R W)$ memory kept.",
                Question("Where does SAM's advantage over a dense memory show most?",
                         ("At tiny memories, where fixed overheads dominate",
                          "At large memories: its cost per step barely grows with N",
                          "Nowhere: both cost the same per step"),
                         1, "The dense cost grows with N while SAM's stays nearly flat, so the ratio grows with N: "
                            "see the measured ratios above, largest at the largest N.")),
    )


def chapter_count() -> int:
    return len(chapters())


def glossary() -> tuple[tuple[str, str], ...]:
    """Every symbol and term the app prints, in plain words."""
    gi, delta, k = interpolation_symbol(), access_threshold(), neighbours()
    return (
        ("slot", "One row of the memory table: a short list of W numbers."),
        ("N, W", "N: the number of slots; W: the numbers per slot (word size)."),
        ("head", "What reads or writes memory: a spotlight whose brightness on each slot is its weight."),
        ("controller", "The neural network (here an LSTM) that decides, at each step, where the heads look and "
                       "what to write."),
        ("read weight", "How much a slot counts in a read (w^R): weights are ≥ 0 and add up to 1."),
        ("write weight", "How much a slot is changed by a write (w^W)."),
        ("β (beta)", "Key strength: multiplies the similarities before the softmax; larger β, sharper focus."),
        ("γ (gamma)", "The NTM's sharpening exponent (γ ≥ 1): raises the weights to the power γ and renormalises."),
        (gi, "SAM's interpolation gate (the paper's γ): how much of the write goes to the previously read slots "
             "rather than the least recently used one."),
        ("α (alpha)", "SAM's write gate: how strongly to write at all this step (0 to 1)."),
        ("e, a", "Erase and add vectors of a write: e in (0, 1) wipes, a is added."),
        ("K", f"Neighbours per sparse read: SAM reads only the K most similar slots (K = {k} here)."),
        ("R", "The number of read heads."),
        ("δ (delta)", f"Access threshold (δ = {delta}): a slot counts as used at a step when its read + write "
                      "weight exceeds δ."),
        ("usage", "For SAM: steps since a slot was last used (read or written above δ); the slot with the largest "
                  "usage is the least recently used one."),
        ("LRU", "Least recently used slot: the one SAM erases and writes to when it needs a fresh slot."),
        ("ANN", "Approximate nearest neighbours: an index that finds (almost always) the most similar rows "
                "without comparing with all N."),
        ("recall", "The fraction of the true K nearest slots an approximate index found (1 = all of them)."),
        ("backprop", "Backpropagation through time: how the network learns; it needs the memory as it was at "
                     "every step."),
        ("journal", "SAM's record of each step's written rows and their old contents, used to roll memory back "
                    "during backprop."),
        ("RSS", "Resident set size: the memory a process really occupies in RAM (what the benchmark measures)."),
        ("NTM, DAM, SAM", "Neural Turing Machine (dense); Dense Access Memory (SAM's equations with dense reads, "
                          "the fair baseline); Sparse Access Memory."),
        ("DNC, SDNC", "Differentiable Neural Computer (dense, with links between slots written one after another); "
                      "its sparse version. In the player: g^w and g^a its write and allocation gates, π its read "
                      "modes, K_L the links kept per slot."),
        ("LSTM", "Long short-term memory: the recurrent network used as the controller."),
        ("ε (epsilon)", "A tiny number added to a denominator so that a zero vector never divides by zero."),
        ("I^U", "One-hot on the least recently used slot (SAM's write rule)."),
        ("exact scan", "Comparing a query with all N slots to find the K most similar (O(N), never wrong)."),
        ("faiss, IVF", "The nearest-neighbour library samviz uses and its inverted-file index: rows grouped around "
                       "centroids; a query searches only the best groups."),
    )


# ------------------------------------------------------------------------------------------ URL parameters

def parse_chapter(value) -> tuple[int, Problem | None]:
    """The `chapter` query value -> (chapter number, None) or (1, the problem). None (absent) is chapter 1."""
    if value is None:
        return 1, None
    number, problem = parse_int(value, 1, chapter_count(), CHAPTER_PARAM)
    return (1, problem) if problem else (number, None)


def parse_presenter(value) -> tuple[bool, Problem | None]:
    """The `presenter` query value: "1" on, "0" or absent off, anything else off with a problem."""
    if value is None or str(value) == "0":
        return False, None
    if str(value) == "1":
        return True, None
    from samviz.app.params import echo
    return False, Problem(f"{PRESENTER_PARAM} must be 1 (on) or 0 (off)", echo(value))


# ------------------------------------------------------------------------------------------ figure data

def _generator(seed: int = TOY_SEED):
    import torch
    return torch.Generator().manual_seed(seed)


def content_weights(rows, key, beta: float) -> list[float]:
    """The NTM's content weights of one key over a small memory (lists of numbers) -> weights per slot."""
    import torch

    from samviz.memory.addressing import content_weights as weights
    memory = torch.tensor(rows, dtype=torch.float64).unsqueeze(0)              # [1, N, W]
    keys = torch.tensor(key, dtype=torch.float64).reshape(1, 1, -1)           # [1, 1, W]
    strength = torch.tensor([[float(beta)]], dtype=torch.float64)             # [1, 1]
    return weights(keys, memory, strength)[0, 0].tolist()


def spotlight() -> dict:
    """Chapter 1: a memory of SPOTLIGHT_SLOTS × SPOTLIGHT_WIDTH and one head's content weights over it."""
    import torch
    g = _generator()
    memory = torch.randn(SPOTLIGHT_SLOTS, SPOTLIGHT_WIDTH, generator=g, dtype=torch.float64)
    focus = int(torch.randint(SPOTLIGHT_SLOTS, (1,), generator=g))
    key = memory[focus] + 0.3 * torch.randn(SPOTLIGHT_WIDTH, generator=g, dtype=torch.float64)
    weights = content_weights(memory.tolist(), key.tolist(), SPOTLIGHT_BETA)
    return {"memory": memory.tolist(), "weights": weights, "beta": SPOTLIGHT_BETA,
            "brightest": max(range(len(weights)), key=weights.__getitem__)}


def toy_arrows(slots: int = TOY_SLOTS) -> list[list[float]]:
    """Chapter 2's memory: `slots` rows of two numbers (arrows at seeded angles and lengths)."""
    import torch
    g = _generator()
    angles = torch.rand(slots, generator=g, dtype=torch.float64) * 2 * math.pi
    lengths = 0.4 + torch.rand(slots, generator=g, dtype=torch.float64)
    return torch.stack([lengths * torch.cos(angles), lengths * torch.sin(angles)], 1).tolist()


def key_from_angle(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


def content_read(degrees: float, beta: float) -> dict:
    """Chapter 2: the toy's weights for a key at `degrees` with strength β."""
    rows = toy_arrows()
    key = key_from_angle(degrees)
    weights = content_weights(rows, key, beta)
    return {"rows": rows, "key": key, "weights": weights, "beta": beta,
            "best": max(range(len(weights)), key=weights.__getitem__)}


def write_step(target: int, erase: float) -> dict:
    """Chapter 3: a sharp write head on slot `target` with erase strength `erase` (every entry of e) and a
    seeded add vector -> memory before, after the erase alone, and after erase + add."""
    import torch

    from samviz.memory.addressing import content_weights as weights
    from samviz.memory.addressing import erase_and_add
    g = _generator()
    memory = torch.randn(1, WRITE_SLOTS, WRITE_WIDTH, generator=g, dtype=torch.float64)
    add = torch.randn(1, WRITE_WIDTH, generator=g, dtype=torch.float64)
    target = max(0, min(WRITE_SLOTS - 1, int(target)))
    w = weights(memory[:, target].unsqueeze(1), memory, torch.tensor([[WRITE_BETA]], dtype=torch.float64))[:, 0]
    e = torch.full((1, WRITE_WIDTH), float(erase), dtype=torch.float64)
    erased = erase_and_add(memory, w, e, torch.zeros_like(add))
    after = erase_and_add(memory, w, e, add)
    return {"before": memory[0].tolist(), "erased": erased[0].tolist(), "after": after[0].tolist(),
            "weights": w[0].tolist(), "add": add[0].tolist(), "erase": float(erase), "target": target}


def cost_slot_choices() -> list[int]:
    from samviz.bench.runner import MAX_SLOTS
    return [2 ** p for p in range(COST_MIN_POWER, COST_MAX_POWER + 1) if 2 ** p <= MAX_SLOTS]


def backprop_bytes(slots: int) -> dict:
    """Chapter 4: the benchmark's estimated training overhead (bytes kept beyond the memory itself) of a dense
    NTM and of SAM (faiss index) with N slots, and the slots each touches per step, for the benchmark model."""
    from samviz.bench.runner import BenchConfig, estimate_bytes
    dense = BenchConfig(model="ntm", slots=int(slots)).validate()
    sparse = BenchConfig(model="sam", slots=int(slots)).validate()
    heads = dense.heads
    return {"slots": dense.slots, "dense_bytes": estimate_bytes(dense)["overhead"],
            "sparse_bytes": estimate_bytes(sparse)["overhead"], "batch": dense.batch, "steps": dense.steps,
            "heads": heads, "k": sparse.k, "word_size": dense.word_size,
            "dense_touched": dense.slots * (heads + 1),             # every slot, for R read heads and the write head
            "sparse_touched": sparse.k * heads + sparse.k * heads + 1}   # K per read head + K·R + 1 written


def backprop_curve() -> dict:
    """Chapter 4's chart: backprop_bytes over every offered N."""
    points = [backprop_bytes(n) for n in cost_slot_choices()]
    return {"slots": [p["slots"] for p in points], "dense_bytes": [p["dense_bytes"] for p in points],
            "sparse_bytes": [p["sparse_bytes"] for p in points]}


def sam_episode(steps: int = SAM_STEPS) -> dict:
    """Chapters 5 and 7: a real SAM core (exact index, TOY_SLOTS slots) stepped `steps` times with seeded
    queries, then one backward pass. -> per step: slots read per head, slots written with weights, the least
    recently used slot, usage before the step, the memory after the step and the journal entry (rows before
    the write); and the largest difference between the memory after backward and the memory at the start."""
    import torch

    from samviz.memory.sam import SAMMemory
    heads, k = sam_heads(), neighbours()
    core = SAMMemory(TOY_SLOTS, SAM_WIDTH, heads, k=k)
    state = core.initial_state(1)
    start = state.memory.buffer.clone()
    g = _generator()
    word = torch.randn(steps, 1, SAM_WIDTH, generator=g, requires_grad=True)
    records, total = [], 0
    read_sizes = core.read_sizes
    try:
        for t in range(steps):
            read_part = torch.cat([torch.randn(1, heads, read_sizes["query"], generator=g),
                                   torch.ones(1, heads, read_sizes["strength"])], -1).reshape(1, -1)
            # α = sigmoid(2) ≈ 0.88; g^i = sigmoid(−2) ≈ 0.12: the write goes mostly to the least recently used slot
            write_part = torch.cat([word[t], torch.tensor([[2.0, -2.0]])], -1)
            result = core.step(torch.cat([read_part, write_part], -1), state, details=True)
            state, step = result.state, result.step
            records.append({"read_ids": step.read_ids[0].tolist(), "read_weights": step.read_weights[0].tolist(),
                            "write_ids": step.write_ids[0].tolist(), "write_weights": step.write_weights[0].tolist(),
                            "least_used": int(step.least_used[0]), "usage_before": step.usage_before[0].tolist(),
                            "rows_before": step.rows_before[0].tolist(),
                            "memory_after": state.memory.buffer[0].tolist()})
            total = total + result.reads.sum()
        forward_end = state.memory.buffer[0].clone()
        total.backward()
        rolled_back = float((state.memory.buffer - start).abs().max())
    finally:
        core.end_episode(state)
    return {"steps": records, "start": start[0].tolist(), "end": forward_end.tolist(),
            "rollback_difference": rolled_back, "k": k, "heads": heads, "slots": TOY_SLOTS, "width": SAM_WIDTH,
            "threshold": access_threshold(), "max_written": k * heads + 1}


def rollback(episode: dict, undone: int) -> dict:
    """Chapter 7: the memory after undoing the last `undone` steps from the journal, newest first.

    -> {"memory", "restored_ids" (rows restored by the last undo), "matches" (largest difference from the
    memory the forward pass had at that point)}.
    """
    steps = episode["steps"]
    undone = max(0, min(len(steps), int(undone)))
    memory = [list(row) for row in episode["end"]]
    restored: list[int] = []
    for record in reversed(steps[len(steps) - undone:]):
        restored = []
        for slot, old in zip(record["write_ids"], record["rows_before"], strict=True):
            memory[slot] = list(old)
            restored.append(slot)
    position = len(steps) - undone
    expected = episode["start"] if position == 0 else steps[position - 1]["memory_after"]
    difference = max(abs(a - b) for row, other in zip(memory, expected, strict=True)
                     for a, b in zip(row, other, strict=True))
    return {"memory": memory, "restored_ids": sorted(set(restored)), "difference": difference, "at_step": position}


def journal_bytes(slots: int, word_size: int, written: int) -> dict:
    """Bytes kept per step: a dense copy of the N×W float32 memory vs a journal of `written` rows
    (samviz.bench.cost.journal_bytes: float32 values + an int64 id each)."""
    from samviz.bench.cost import FLOAT_BYTES
    from samviz.bench.cost import journal_bytes as journal
    return {"dense": slots * word_size * FLOAT_BYTES, "journal": journal(written, word_size)}


def index_recall(slots: int, seed: int = TOY_SEED) -> dict:
    """Chapter 6: RECALL_QUERIES random queries over a random memory of `slots` rows searched by the exact scan
    and by the faiss index: recall@K and the rows each looks at."""
    import torch

    from samviz.memory import index as indexes
    slots = int(slots)
    if slots not in RECALL_SLOTS:
        raise ValueError(f"slots must be one of {RECALL_SLOTS}")
    k = neighbours()
    g = _generator(seed)
    memory = torch.randn(1, slots, RECALL_WIDTH, generator=g)
    queries = torch.randn(1, RECALL_QUERIES, RECALL_WIDTH, generator=g)
    exact = indexes.make_index("exact", 1, slots, RECALL_WIDTH)
    exact.reset(memory)
    approximate = indexes.make_index("faiss", 1, slots, RECALL_WIDTH)
    approximate.reset(memory)
    exact_ids, found_ids = exact.search(queries, k), approximate.search(queries, k)
    per_query = (exact_ids.unsqueeze(-1) == found_ids.unsqueeze(-2)).any(-1).float().mean(-1)[0]
    return {"slots": slots, "k": k, "queries": RECALL_QUERIES, "word_size": RECALL_WIDTH,
            "recall": indexes.recall_at_k(found_ids, exact_ids), "scanned": int(approximate.scan_budget),
            "per_query": per_query.tolist()}


def measured_payoff(path: str | None = None) -> list[dict]:
    """Chapter 8: dense ÷ sparse ratios (NTM vs SAM with faiss) from the shipped measurements, largest N first.

    One machine only (the file gathers runs from several): the one that measured SAM at the largest N, so the
    curve is never a machine's small sizes joined to another's large ones."""
    from samviz.bench import SHIPPED_RESULTS
    from samviz.bench.plots import label, latest, ok, ratios
    from samviz.bench.runner import read_rows
    rows = read_rows(path or SHIPPED_RESULTS)
    sparse = [r for r in ok(rows) if label(r) == "sam-faiss"]
    if not sparse:
        return []
    machine = max(sparse, key=lambda r: r["slots"]).get("machine")
    table = [r for r in ratios(latest([r for r in rows if r.get("machine") == machine]))
             if r["dense / sparse"] == "ntm / sam-faiss"]
    return sorted(table, key=lambda r: r["N"], reverse=True)


def trained_at_scale(path: str | None = None) -> list[dict]:
    """Chapter 8: the shipped SAM models run at the largest memory samviz.evaluate_scale measured
    (assets/bench/scale.json), faiss and exact on the same episodes; with the training size for contrast."""
    from samviz import evaluate_scale
    rows, _ = evaluate_scale.load_rows(path)
    sam = [r for r in rows if r.get("kind") == "sam"]
    if not sam:
        return []
    largest = max(r["slots"] for r in sam)
    return sorted((r for r in sam if r["slots"] == largest), key=lambda r: r["task"])


# ------------------------------------------------------------------------------------------ figures (plotly)

def _layout(height: int, title: str, **extra) -> dict:
    return {"height": height, "title": {"text": title, "font": {"size": 15}}, "margin": dict(l=60, r=30, t=50, b=40),
            **extra}


def spotlight_figure(data: dict):
    """Weights as brightness beside the memory table (slots on the vertical axis, slot 0 on top)."""
    import plotly.graph_objects as go

    from samviz.app.figures import READ_COLOUR, SLOT_AXIS
    n = len(data["weights"])
    slots = list(range(n))
    bars = go.Bar(x=data["weights"], y=slots, orientation="h", marker=dict(color=READ_COLOUR,
                  opacity=[0.15 + 0.85 * w for w in data["weights"]]), name="read weight",
                  hovertemplate="slot %{y}: weight %{x:.3f}<extra></extra>", xaxis="x", yaxis="y")
    table = go.Heatmap(z=data["memory"], y=slots, colorscale="RdBu", zmid=0, xaxis="x2", yaxis="y2",
                       colorbar=dict(title="value", thickness=12),
                       hovertemplate="slot %{y}, entry %{x}: %{z:.2f}<extra></extra>")
    layout = _layout(330, "A head's spotlight (left) over the memory table (right)",
                     xaxis=dict(domain=[0, 0.3], range=[0, 1], title="read weight (brightness)"),
                     yaxis=dict(autorange="reversed", title=SLOT_AXIS, dtick=1),
                     xaxis2=dict(domain=[0.4, 0.95], title="the numbers stored in each slot", dtick=1),
                     yaxis2=dict(autorange="reversed", anchor="x2", matches="y", showticklabels=False),
                     showlegend=False)
    return go.Figure(data=[bars, table], layout=layout)


def content_figure(data: dict):
    """The toy's slots as arrows with the key, and the weights per slot."""
    import plotly.graph_objects as go

    from samviz.app.figures import MARK_COLOUR, READ_COLOUR, SLOT_AXIS
    traces = []
    for i, (x, y) in enumerate(data["rows"]):
        w = data["weights"][i]
        traces.append(go.Scatter(x=[0, x], y=[0, y], mode="lines+markers+text", text=["", str(i)],
                                 textposition="top center", line=dict(color=READ_COLOUR, width=1 + 6 * w),
                                 marker=dict(size=[0, 6]), opacity=0.25 + 0.75 * w, showlegend=False,
                                 hovertemplate=f"slot {i}: weight {w:.3f}<extra></extra>", xaxis="x", yaxis="y"))
    kx, ky = data["key"]
    traces.append(go.Scatter(x=[0, 1.5 * kx], y=[0, 1.5 * ky], mode="lines+markers", name="key",
                             line=dict(color=MARK_COLOUR, width=3, dash="dot"), marker=dict(size=[0, 10]),
                             hovertemplate="the key<extra></extra>", xaxis="x", yaxis="y"))
    traces.append(go.Bar(x=data["weights"], y=list(range(len(data["weights"]))), orientation="h",
                         marker=dict(color=READ_COLOUR), name="weight", showlegend=False,
                         hovertemplate="slot %{y}: weight %{x:.3f}<extra></extra>", xaxis="x2", yaxis="y2"))
    layout = _layout(400, f"Slots as arrows (numbered), the key (dotted), and the weights with β = {data['beta']:g}",
                     xaxis=dict(domain=[0, 0.45], range=[-1.7, 1.7], zeroline=False, showticklabels=False),
                     yaxis=dict(range=[-1.7, 1.7], scaleanchor="x", zeroline=False, showticklabels=False),
                     xaxis2=dict(domain=[0.55, 1], range=[0, 1], title="read weight"),
                     yaxis2=dict(anchor="x2", autorange="reversed", title=SLOT_AXIS, dtick=1))
    return go.Figure(data=traces, layout=layout)


def write_figure(data: dict):
    """Before, after the erase, after erase + add: three small tables side by side."""
    import plotly.graph_objects as go

    from samviz.app.figures import SLOT_AXIS
    tables = (("before", data["before"]), ("after erase", data["erased"]), ("after erase + add", data["after"]))
    values = [v for _, t in tables for row in t for v in row]
    bound = max(1e-9, max(abs(v) for v in values))
    traces, layout = [], _layout(300, f"Writing to slot {data['target']}: before, erased, then added")
    for i, (name, z) in enumerate(tables):
        s = "" if i == 0 else str(i + 1)
        traces.append(go.Heatmap(z=z, zmin=-bound, zmax=bound, colorscale="RdBu", showscale=i == 2,
                                 colorbar=dict(title="value", thickness=12), xaxis=f"x{s}", yaxis=f"y{s}",
                                 hovertemplate=name + "<br>slot %{y}, entry %{x}: %{z:.2f}<extra></extra>"))
        layout[f"xaxis{s}"] = dict(domain=[i * 0.34, i * 0.34 + 0.3], title=name, dtick=1)
        layout[f"yaxis{s}"] = dict(anchor=f"x{s}", autorange="reversed", dtick=1,
                                   title=SLOT_AXIS if i == 0 else None, showticklabels=i == 0)
    return go.Figure(data=traces, layout=layout)


def cost_figure(curve: dict, chosen: int):
    """Estimated bytes kept for backprop against N, dense and SAM, log-log, the visitor's N marked."""
    import plotly.graph_objects as go

    from samviz.app.figures import MARK_COLOUR
    from samviz.bench.plots import COLOURS
    mib = [b / 2**20 for b in curve["dense_bytes"]], [b / 2**20 for b in curve["sparse_bytes"]]
    traces = [go.Scatter(x=curve["slots"], y=mib[0], name="dense (NTM)", mode="lines+markers",
                         line=dict(color=COLOURS["ntm"]), hovertemplate="N = %{x:,}: %{y:,.1f} MiB<extra></extra>"),
              go.Scatter(x=curve["slots"], y=mib[1], name="SAM", mode="lines+markers",
                         line=dict(color=COLOURS["sam-faiss"]),
                         hovertemplate="N = %{x:,}: %{y:,.1f} MiB<extra></extra>")]
    layout = _layout(340, "Estimated memory kept for backprop (MiB) against N",
                     xaxis=dict(type="log", title="N (slots)"), yaxis=dict(type="log", title="MiB"),
                     shapes=[dict(type="line", x0=chosen, x1=chosen, y0=0, y1=1, yref="paper",
                                  line=dict(color=MARK_COLOUR, dash="dot"))])
    return go.Figure(data=traces, layout=layout)


def sam_figure(episode: dict):
    """Slots × steps: read (blue), written (orange; the least recently used one marked), nothing (white)."""
    import plotly.graph_objects as go

    from samviz.app.figures import MARK_COLOUR, READ_COLOUR, SLOT_AXIS, WRITE_COLOUR
    n, steps = episode["slots"], episode["steps"]
    z = [[0] * len(steps) for _ in range(n)]
    for t, record in enumerate(steps):
        for ids in record["read_ids"]:
            for slot in ids:
                z[slot][t] = 1
        for slot, weight in zip(record["write_ids"], record["write_weights"], strict=True):
            if weight > episode["threshold"]:
                z[slot][t] = 3 if z[slot][t] == 1 else 2
    scale = [[0, "#ffffff"], [0.249, "#ffffff"], [0.25, READ_COLOUR], [0.499, READ_COLOUR], [0.5, WRITE_COLOUR],
             [0.749, WRITE_COLOUR], [0.75, "#9467bd"], [1, "#9467bd"]]
    heat = go.Heatmap(z=z, zmin=-0.5, zmax=3.5, colorscale=scale, xgap=2, ygap=2,
                      colorbar=dict(tickvals=[0, 1, 2, 3], ticktext=["untouched", "read", "written", "both"],
                                    thickness=12),
                      hovertemplate="step %{x}, slot %{y}<extra></extra>")
    lru = go.Scatter(x=list(range(len(steps))), y=[r["least_used"] for r in steps], mode="markers",
                     marker=dict(symbol="circle-open", size=16, color=MARK_COLOUR, line=dict(width=3)),
                     name="least recently used (erased, then written)")
    layout = _layout(440, f"SAM, {n} slots, K = {episode['k']}, R = {episode['heads']}: what each step touched",
                     xaxis=dict(title="step", dtick=1), yaxis=dict(title=SLOT_AXIS, range=[n - 0.5, -0.5], dtick=1),
                     legend=dict(orientation="h", y=-0.15))
    return go.Figure(data=[heat, lru], layout=layout)


def rollback_figure(episode: dict, state: dict):
    """The toy SAM's memory after undoing journal entries, the rows just restored outlined."""
    import plotly.graph_objects as go

    from samviz.app.figures import SLOT_AXIS, WRITE_COLOUR
    heat = go.Heatmap(z=state["memory"], colorscale="RdBu", zmid=0, colorbar=dict(title="value", thickness=12),
                      hovertemplate="slot %{y}, entry %{x}: %{z:.3f}<extra></extra>")
    shapes = [dict(type="rect", x0=-0.5, x1=episode["width"] - 0.5, y0=s - 0.5, y1=s + 0.5,
                   line=dict(color=WRITE_COLOUR, width=3)) for s in state["restored_ids"]]
    title = ("Memory at the end of the forward pass" if state["at_step"] == len(episode["steps"])
             else f"Memory rolled back to before step {state['at_step']} (restored rows outlined)")
    layout = _layout(420, title, xaxis=dict(title="entry", dtick=1),
                     yaxis=dict(title=SLOT_AXIS, autorange="reversed", dtick=1), shapes=shapes)
    return go.Figure(data=[heat], layout=layout)


def recall_figure(data: dict):
    """Recall per query of the approximate index (1 = found all K)."""
    import plotly.graph_objects as go

    from samviz.app.figures import READ_COLOUR
    bars = go.Bar(x=list(range(len(data["per_query"]))), y=data["per_query"], marker=dict(color=READ_COLOUR),
                  hovertemplate="query %{x}: recall %{y:.2f}<extra></extra>")
    layout = _layout(280, f"Recall of each of {data['queries']} queries, N = {data['slots']:,} (mean "
                          f"{data['recall']:.3f})", xaxis=dict(title="query"),
                     yaxis=dict(title="recall", range=[0, 1.05]))
    return go.Figure(data=[bars], layout=layout)


def payoff_figure(table: list[dict]):
    """Measured dense ÷ SAM (faiss) ratios of time and memory per step against N (log-log), from the table.
    The setting measured at the most sizes is drawn as lines; points of other settings as separate markers."""
    import plotly.graph_objects as go

    from samviz.app.figures import READ_COLOUR, WRITE_COLOUR
    settings = [r["setting"] for r in table]
    main = max(set(settings), key=settings.count) if settings else None
    traces = []
    for name, label, colour in (("speed ratio", "time per step", READ_COLOUR),
                                ("memory ratio", "memory kept", WRITE_COLOUR)):
        for setting in sorted(set(settings), key=lambda s: s != main):
            rows = sorted((r for r in table if r["setting"] == setting and r[name] is not None), key=lambda r: r["N"])
            traces.append(go.Scatter(
                x=[r["N"] for r in rows], y=[r[name] for r in rows],
                mode="markers+lines" if setting == main else "markers",
                name=f"{label}: NTM ÷ SAM" + ("" if setting == main else f" ({setting})"),
                line=dict(color=colour), marker=dict(size=8 if setting == main else 11,
                                                     symbol="circle" if setting == main else "diamond-open"),
                hovertemplate=f"N = %{{x:,}}: %{{y:,}}× ({setting})<extra></extra>"))
    layout = _layout(340, "Measured: how many times cheaper SAM (faiss) is than the NTM, against N"
                          + (f" (lines: {main})" if main else ""),
                     xaxis=dict(type="log", title="N (slots)"), yaxis=dict(type="log", title="NTM ÷ SAM"),
                     legend=dict(orientation="h", y=-0.25))
    return go.Figure(data=traces, layout=layout)


PRESENTER_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarNav"] { display: none !important; }
[data-testid="stMainBlockContainer"] { max-width: 1240px; padding-top: 2.5rem; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li,
[data-testid="stMain"] [data-testid="stWidgetLabel"] p { font-size: 1.45rem !important; line-height: 1.5; }
[data-testid="stMain"] h1 { font-size: 2.6rem !important; }
[data-testid="stMain"] h2 { font-size: 2.1rem !important; }
[data-testid="stMain"] button p { font-size: 1.25rem !important; }
</style>"""
"""Presenter mode's fixed stylesheet (a constant: no visitor text ever reaches unsafe HTML): no sidebar, big type."""
