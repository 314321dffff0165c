"""The guided story (the app's landing page): chapters as data, and the pure functions behind each figure.

No Streamlit here. Every number a chapter shows comes from the library itself, never typed in:

    content weights           samviz.memory.addressing.content_weights (the NTM/DNC equation)
    erase and add             samviz.memory.addressing.erase_and_add
    bytes kept for backprop   samviz.bench.cost.kept_for_backprop (one cost model: chapters 4 and 7)
    SAM's reads, writes, LRU  a real samviz.memory.sam.SAMMemory run for a few steps on a 16-slot toy (sam_grid
                              derives chapter 5's colours from its read set, written-above-δ set and LRU slot)
    journal and rollback      the same run's journal (rows before each write) and a real backward pass
    the index                 samviz.memory.index / index_clusters / index_parts constants and FaissIndex.describe()
                              (index_facts), its measured episodes from samviz.results (index_runs)
    measured payoff           samviz.results rows (assets/bench/results.jsonl, scale.json) of today's code from one
                              machine (samviz.results.AppRows), one setting and one time measure (plots.on_measure)
    a memory that fills       samviz.long_evaluation's rows (assets/long_curriculum/evaluation.json): the
                              long-curriculum SAM per tenth of an episode 100× its trained length

Constants come from where the library defines them: δ = samviz.memory.usage.ACCESS_THRESHOLD, K = the
default of samviz.model.ModelConfig.k, the read heads of an untrained SAM = samviz.kinds.KINDS["sam"]. Heavy
modules (torch, faiss) are imported inside the functions that need them, so importing this module is cheap.
Figures are small static SVG charts (samviz/app/svg_charts.py: a spec the tests read, rendered without plotly) and
follow the player's encodings (samviz/app/figures.py): slots on the vertical axis, slot 0 at the top; read blue,
write orange.
"""
from __future__ import annotations

from dataclasses import dataclass
import functools
import math
from pathlib import Path
import re

from samviz.app import svg_charts as sc
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
INDEX_MODEL = "sam-copy"   # chapter 6: the shipped model whose measured episodes it draws (samviz.results index_recall)
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


def dam_usage_discount() -> float:
    """λ: DAM's usage discount per step (samviz.memory.dam)."""
    from samviz.memory.dam import USAGE_DISCOUNT
    return USAGE_DISCOUNT


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
    facts = index_facts()
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
                "compares it with every slot: the more a slot points the same way as the key, the higher its "
                "similarity. A **softmax** turns similarities into weights: each is raised as a power of e, then "
                "divided by their sum, so every weight is positive, they add up to 1, and the best match gets the "
                "most. The **key strength β** multiplies the similarities first: a small β spreads light over many "
                f"slots, a large β focuses it on the best match. Below is a toy memory of {TOY_SLOTS} slots with "
                "two numbers each, drawn as arrows. Move the key and β and watch the weights.",
                r"Content weights: $w^c(i) = \dfrac{\exp\big(\beta\, \cos(k, M(i))\big)}"
                r"{\sum_j \exp\big(\beta\, \cos(k, M(j))\big)}$ (a softmax), "
                r"with $\cos(k, m) = \dfrac{k \cdot m}{\lVert k\rVert\, \lVert m\rVert + \varepsilon}$. "
                "Computed here by `samviz.memory.addressing.content_weights`, the function the NTM's heads use.",
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
                "plain implementation **keeps copies of the whole memory at every step**. Pick N and see how many "
                "bytes the NTM keeps for backprop while it trains on one batch.",
                r"Dense cost per step: $O(N \cdot W)$ time per head; memory kept for backprop over T steps and a "
                r"batch of B episodes: $O(N \cdot W \cdot T \cdot B)$. The bytes shown are "
                "`samviz.bench.cost.kept_for_backprop`, fitted to the peak memory of measured training runs of "
                "samviz's NTM (chapter 8 shows measurements).",
                Question("You double N. What happens to the bytes a dense model keeps for backprop?",
                         ("They stay the same", "They roughly double", "They grow tenfold"),
                         1, "Each step keeps copies of an N-slot memory, so the bytes grow in proportion to N: twice "
                            "the slots, twice the bytes.")),
        Chapter(5, "SAM: touch only a few slots",
                f"**Sparse Access Memory (SAM)** keeps the spotlight idea but each head lights **only K = {k} "
                "slots**: the K most similar to its key, found by an index (chapter 6). Each step first **writes**, "
                "then **reads**. The write goes to the slots the heads read at the step before, plus **the least "
                "recently used slot**: the one that has gone the most steps without being read or written. With "
                f"R = {r} heads that is at most K·R + 1 = {k} · {r} + 1 = {written} rows per step, whatever N is. "
                f"Below: a real SAM with {TOY_SLOTS} slots, stepped {SAM_STEPS} times with random keys.",
                rf"Read: the K slots $s_1..s_K$ most similar to the key q get "
                rf"$w = \mathrm{{softmax}}_k(\beta \cos(q, M(s_k)))$. "
                rf"Write: $w^W_t = \alpha_t\big({gi}_t\, w^R_{{t-1}} + (1 - {gi}_t)\, I^U_t\big)$, "
                rf"$I^U_t$ one-hot on the least recently used slot (erased first). A slot counts as *used* at a "
                rf"step when its read + write weight exceeds $\delta = {delta}$. "
                rf"$\alpha$: write gate; ${gi}$: interpolation gate (the paper writes it $\gamma$).",
                Question(f"With K = {k} and R = {r} read heads, at most how many rows does one SAM step write?",
                         ("All N rows", f"{k}", f"{written}"),
                         2, f"The write goes to the K·R = {k * r} slots read at the previous step plus the least "
                            f"recently used slot: {written} rows, independent of N.")),
        Chapter(6, "Finding the K nearest without looking at all N",
                "To find the K slots most similar to a key, an **exact scan** compares the key with all N slots: "
                "correct, but its cost grows with N. samviz's SAM avoids most of that work with one observation: "
                "its memory starts as **zero rows**, and an untouched zero row scores 0 against any key, so only "
                "the rows written during the episode can be among the best matches — the index never looks at "
                "the others, however large N is. It keeps the written rows in two parts. The **most recent "
                f"{facts['recent_rows']:,}** written rows are compared with the key one by one, exactly. When an "
                "episode has written more, the older ones move into **clusters**: k-means sorts them into lists "
                f"of about {facts['cluster_rows']} similar rows, each list with a centre, and a search compares "
                f"the key with every centre, then exactly with the rows of the {facts['cluster_probes']} lists "
                f"whose centres are most similar — about {facts['cluster_probes'] * facts['cluster_rows']:,} rows "
                "however many the clusters hold. (This is an *inverted file* index from **faiss**, a library of "
                "nearest-neighbour indexes.) A row written again is taken out of its list at once, and the lists "
                "are sorted anew from their rows each time as many rows were added as they were made from. A "
                "true neighbour in a list that was not scanned is missed now and then: **recall** is the fraction "
                "of the true K nearest it found. Below: a trained SAM copying long sequences, measured.",
                "recall@K $= \\dfrac{|\\,\\text{found} \\cap \\text{exact top-}K\\,|}{K}$, averaged over keys. "
                f"Below {facts['flat_below']:,} slots samviz's faiss index is a plain exact scan (`IndexFlatIP`); "
                "a memory that starts from jittered rows instead of zeros adds one shared graph over those "
                f"initial rows (M = {facts['initial_m']}, {facts['initial_ef_search']} candidates), searched "
                "with the written slots excluded. The index describes itself as: "
                f"“{facts['describe']}” (`samviz.memory.index.FaissIndex`).",
                Question("An episode has written 20,000 rows of a memory of a million. How many rows does the index "
                         "compare with the key one by one?",
                         ("All 1,000,000", "All 20,000 written rows",
                          f"The last {facts['recent_rows']:,} written rows, plus those of the "
                          f"{facts['cluster_probes']} lists nearest the key"),
                         2, f"Untouched zero rows are never searched; the last {facts['recent_rows']:,} written rows "
                            "are compared exactly, and of the older ones only the rows of the "
                            f"{facts['cluster_probes']} lists whose centres are nearest the key (about "
                            f"{facts['cluster_probes'] * facts['cluster_rows']:,}), after one comparison with "
                            "each list's centre.")),
        Chapter(7, "Sparse backprop: the journal and the rollback",
                "Chapter 4's problem was the copies of memory kept at every step. SAM keeps **one** memory and "
                "changes it in place. Each step writes a small **journal** entry: which rows it changed and what "
                "they held before. Backprop walks the steps backwards and **rolls the memory back**, restoring the "
                "old rows from the journal, so at every step it sees the memory as it was, having stored only a few "
                "rows per step instead of all N.",
                r"Journal entry of step t: (ids of the $\le K R + 1$ rows written, their rows before the write). "
                r"Backward at step t: gradients flow to those rows only, then $M(\text{ids}) \leftarrow$ old rows. "
                "Implemented by `samviz.memory.journal.SparseMemory`; the bytes are `samviz.bench.cost"
                ".kept_for_backprop`, the same cost model as chapter 4.",
                Question("During backprop SAM needs the memory as it was at step t. How does it get it?",
                         ("It undoes the later writes, newest first, from its journal",
                          "It kept a full copy of the memory for every step",
                          "It replays the whole episode from the start"),
                         0, "Each journal entry holds the old contents of the few rows a step wrote; restoring them "
                            "in reverse order walks the memory back in time, one step at a time.")),
        Chapter(8, "The payoff",
                "Put together: a dense head touches every slot and its backprop keeps copies of memory at every "
                "step; SAM touches K slots per head found by an index, writes at most K·R + 1 rows and journals "
                "only those. So SAM's cost per step hardly grows with N while the dense model's grows in "
                "proportion. Below, the two **measured** on one machine by samviz's benchmark (at small N fixed "
                "per-step costs dominate and the gap is smaller), then the trained SAM models, trained with 128 "
                "slots, run with a memory of a million, and a SAM from the long curriculum whose memory fills as "
                "a long episode goes on. Now explore for yourself:",
                r"Dense (NTM) per step: $O(N W)$ time, $O(N W)$ memory kept for backprop. SAM per step: "
                r"$O(K R W)$ plus the index search, $O(K R W)$ memory kept.",
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
        ("softmax", "Turns a list of scores into weights: each score is raised as a power of e, then divided by the "
                    "sum of them all, so the weights are positive, add up to 1 and the highest score gets the most."),
        ("β (beta)", "Key strength: multiplies the similarities before the softmax; larger β, sharper focus."),
        ("g", "The NTM's interpolation gate: how much of the new content-based weighting replaces the previous "
              "step's weights (0 to 1)."),
        ("γ (gamma)", "The NTM's sharpening exponent (γ ≥ 1): raises the weights to the power γ and renormalises. "
                      "The SAM paper also writes γ for its interpolation gate; samviz calls that one " + gi + "."),
        (gi, "SAM's interpolation gate: how much of the write goes to the slots read at the step before rather "
             "than to the least recently used one (0 to 1)."),
        ("α (alpha)", "SAM's write gate: how strongly to write at all this step (0 to 1)."),
        ("e, a", "Erase and add vectors of a write: e in (0, 1) wipes, a is added."),
        ("K", f"Slots each SAM head reads: only the K most similar to its key (K = {k} here)."),
        ("R", "The number of read heads."),
        ("δ (delta)", f"Access threshold (δ = {delta}): a slot counts as used at a step when its read + write "
                      "weight exceeds δ."),
        ("steps since last use (usage)", "For SAM: how many steps ago a slot was last used (read or written "
                                         "above δ). samviz's player and traces call this number the slot's "
                                         "usage — a large usage means a slot has NOT been used for long, the "
                                         "opposite of the everyday word. Before the first step every slot counts "
                                         "as used just before the episode began (1 step ago)."),
        ("λ (lambda)", "DAM's usage discount (λ = " + f"{dam_usage_discount():g}" + "): a DAM slot's usage is the "
                       "weight it has received, multiplied by λ at every step, so old use fades; DAM writes to the "
                       "slot with the SMALLEST discounted usage, while SAM's \"usage\" counts steps since last use "
                       "and SAM writes to the LARGEST. The paper does not give λ."),
        ("LRU", "Least recently used slot: the one with the most steps since its last use; SAM erases it and "
                "writes to it when it needs a fresh slot (ties go to the lowest slot number)."),
        ("index", "A structure that finds the rows most similar to a key without comparing the key with every row."),
        ("ANN", "Approximate nearest neighbours: an index that finds (almost always) the most similar rows "
                "without comparing with all N."),
        ("recall", "The fraction of the true K nearest slots an approximate index found (1 = all of them)."),
        ("backprop", "Backpropagation through time: how the network learns; it needs the memory as it was at "
                     "every step."),
        ("kept for backprop", "Bytes the cost model (samviz.bench.cost) says autograd holds for backward: for a "
                              "dense model copies of the memory at every step, for SAM its journal and the rows "
                              "its reads gathered."),
        ("measured overhead", "What the benchmark measures: how far a training step's peak memory rose above the "
                              "memory already set up. It includes what is kept for backprop plus temporaries, "
                              "Python objects and the allocator's slack."),
        ("journal", "SAM's record of each step's written rows and their old contents, used to roll memory back "
                    "during backprop."),
        ("RSS", "Resident set size: the memory a process really occupies in RAM (what the benchmark measures)."),
        ("CPU time", "The time a process actually ran on a core; on a machine busy with other work the wall clock "
                     "also counts the time it waited for one."),
        ("NTM, DAM, SAM", "Neural Turing Machine (dense); Dense Access Memory (SAM's equations with dense reads, "
                          "the fair baseline); Sparse Access Memory."),
        ("DNC, SDNC", "Differentiable Neural Computer (dense, with links between slots written one after another); "
                      "its sparse version. In the player: g^w and g^a its write and allocation gates, π its read "
                      "modes, K_L the links kept per slot."),
        ("LSTM", "Long short-term memory: the recurrent network used as the controller."),
        ("ε (epsilon)", "A tiny number added to a denominator so that a zero vector never divides by zero."),
        ("I^U", "One-hot on the least recently used slot (SAM's write rule)."),
        ("exact scan", "Comparing a key with all N slots to find the K most similar (cost grows with N, never "
                       "wrong)."),
        ("faiss", "A library of nearest-neighbour indexes (from Meta AI research) that samviz's index is built on."),
        ("graph (HNSW)", "Hierarchical navigable small world: an index that links each row to a few similar rows "
                         "and answers a key by walking the links towards more similar rows, keeping a fixed number "
                         "of best candidates; samviz uses one over a jittered memory's initial rows."),
        ("inverted file (IVF)", "An index that sorts rows into lists of similar rows (k-means clustering), each "
                                "with a centre, and answers a key by scanning only the lists whose centres are "
                                "nearest it; a row that changes moves out of its list at once."),
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
    cosines = [(x * key[0] + y * key[1]) / math.hypot(x, y) for x, y in rows]
    best = max(range(len(weights)), key=weights.__getitem__)
    opposite = min(range(len(cosines)), key=cosines.__getitem__)
    return {"rows": rows, "key": key, "weights": weights, "beta": beta, "best": best, "opposite": opposite,
            "opposite_cosine": cosines[opposite],
            # "almost nothing" is earned only below a tenth of a uniform share (1 / N)
            "opposite_negligible": weights[opposite] < 0.1 / len(weights)}


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
    others = [i for i in range(WRITE_SLOTS) if i != target]
    return {"before": memory[0].tolist(), "erased": erased[0].tolist(), "after": after[0].tolist(),
            "weights": w[0].tolist(), "add": add[0].tolist(), "erase": float(erase), "target": target,
            "others_weight": float(w[0, others].sum()),
            "others_change": float((after[0, others] - memory[0, others]).abs().max()),
            # one colour scale for every target and erase strength: |after| ≤ |before| + w·|a| ≤ max|M| + max|a|
            "colour_bound": float(memory.abs().max() + add.abs().max())}


def cost_slot_choices() -> list[int]:
    from samviz.bench.runner import MAX_SLOTS
    return [2 ** p for p in range(COST_MIN_POWER, COST_MAX_POWER + 1) if 2 ** p <= MAX_SLOTS]


def benchmark_model() -> dict:
    """The benchmark model's settings (samviz.bench.runner.BenchConfig's defaults: the paper's Fig. 1 model)."""
    from samviz.bench.runner import BenchConfig
    config = BenchConfig(model="ntm", slots=1)
    return {"batch": config.batch, "steps": config.steps, "heads": config.heads, "k": config.k,
            "word_size": config.word_size}


def backprop_bytes(slots: int) -> dict:
    """Chapter 4: what the NTM keeps for backprop (samviz.bench.cost.kept_for_backprop) training the benchmark model
    on one batch of T steps with N = slots, and the rows one step touches."""
    from samviz.bench.cost import kept_for_backprop
    m = benchmark_model()
    kept = kept_for_backprop("ntm", int(slots), m["word_size"], m["heads"], steps=m["steps"], batch=m["batch"])
    return {**m, "slots": kept.slots, "total_bytes": kept.total, "per_step_bytes": kept.per_step,
            "copy_bytes": kept.memory_copy, "copies_per_step": kept.copies_per_step,
            "touched": kept.slots * (m["heads"] + 1)}     # every slot, for each read head and the write head


def backprop_curve() -> dict:
    """Chapter 4's chart: backprop_bytes over every offered N."""
    points = [backprop_bytes(n) for n in cost_slot_choices()]
    return {"slots": [p["slots"] for p in points], "total_bytes": [p["total_bytes"] for p in points]}


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


UNTOUCHED, READ, WRITTEN, BOTH = 0, 1, 2, 3
BOTH_COLOUR = "#9467bd"
CATEGORY_NAMES = ("untouched", "read", "written above δ", "read and written above δ")
LEAST_USED_NAME = "least recently used slot (erased, then written)"


def category_colours() -> tuple[str, ...]:
    """Chapter 5's colour of each category (UNTOUCHED, READ, WRITTEN, BOTH): white, read blue, write orange,
    purple."""
    from samviz.app.figures import READ_COLOUR, WRITE_COLOUR
    return ("#ffffff", READ_COLOUR, WRITE_COLOUR, BOTH_COLOUR)


def sam_grid(episode: dict) -> dict:
    """Chapter 5's picture, derived from the run: per step, the slots the heads read (every head's K slots), the
    slots written with a total write weight above δ (a slot named by several heads sums its weights) and the least
    recently used slot. -> {"categories": [slot][step] one of UNTOUCHED, READ, WRITTEN, BOTH, "read_sets",
    "written": [{slot: total weight}] (every slot the write named), "written_sets" (above δ), "reads_per_step"
    (K·R: heads may pick the same slot), "least_used"}."""
    n, delta = episode["slots"], episode["threshold"]
    categories = [[UNTOUCHED] * len(episode["steps"]) for _ in range(n)]
    read_sets, written, written_sets = [], [], []
    for t, record in enumerate(episode["steps"]):
        reads = {slot for ids in record["read_ids"] for slot in ids}
        totals: dict[int, float] = {}
        for slot, weight in zip(record["write_ids"], record["write_weights"], strict=True):
            totals[slot] = totals.get(slot, 0.0) + weight
        above = {slot for slot, weight in totals.items() if weight > delta}
        for slot in range(n):
            categories[slot][t] = (BOTH if slot in reads and slot in above else READ if slot in reads
                                   else WRITTEN if slot in above else UNTOUCHED)
        read_sets.append(sorted(reads))
        written.append(totals)
        written_sets.append(sorted(above))
    return {"categories": categories, "read_sets": read_sets, "written": written, "written_sets": written_sets,
            "reads_per_step": episode["k"] * episode["heads"], "least_used": [r["least_used"]
                                                                              for r in episode["steps"]]}


def rollback(episode: dict, undone: int) -> dict:
    """Chapter 7: the memory after undoing the last `undone` steps from the journal, newest first.

    -> {"memory", "at_step" (the forward step whose start this is; len(steps) = the end of the forward pass),
    "restored": [{"step", "journal_rows" (entries in the step's journal), "slots" (distinct slots), "changed"
    (slots whose contents the undo changed), "above_delta" (those written above δ: chapter 5's "written")}] for
    every undone step, newest first, and "difference" (largest difference from the memory the forward pass had
    at that point: 0 when the journal is exact)}.
    """
    steps = episode["steps"]
    undone = max(0, min(len(steps), int(undone)))
    grid = sam_grid(episode)
    memory = [list(row) for row in episode["end"]]
    restored = []
    for t in range(len(steps) - 1, len(steps) - 1 - undone, -1):
        record = steps[t]
        changed = set()
        for slot, old in zip(record["write_ids"], record["rows_before"], strict=True):
            if memory[slot] != list(old):
                changed.add(slot)
            memory[slot] = list(old)
        restored.append({"step": t, "journal_rows": len(record["write_ids"]), "slots": sorted(set(record["write_ids"])),
                         "changed": sorted(changed), "above_delta": grid["written_sets"][t]})
    position = len(steps) - undone
    expected = episode["start"] if position == 0 else steps[position - 1]["memory_after"]
    difference = max(abs(a - b) for row, other in zip(memory, expected, strict=True)
                     for a, b in zip(row, other, strict=True))
    return {"memory": memory, "restored": restored, "difference": difference, "at_step": position}


def colour_bound(episode: dict) -> float:
    """One colour scale for chapter 7's whole episode: the largest |value| the memory holds at any step."""
    tables = [episode["start"], episode["end"], *(r["memory_after"] for r in episode["steps"])]
    return max(1e-9, max(abs(v) for table in tables for row in table for v in row))


def journal_vs_copy(slots: int, word_size: int, heads: int, k: int) -> dict:
    """Chapter 7: per step and episode, what SAM and the NTM keep for backprop at N = slots (the cost model of
    chapter 4, samviz.bench.cost.kept_for_backprop) and one N×W float32 copy of the memory."""
    from samviz.bench.cost import kept_for_backprop
    sam = kept_for_backprop("sam", int(slots), word_size, heads, k=k)
    ntm = kept_for_backprop("ntm", int(slots), word_size, heads)
    return {"slots": int(slots), "word_size": word_size, "heads": heads, "k": k, "copy": sam.memory_copy,
            "sam": sam.per_step, "journal": sam.journal, "gathered": sam.gathered, "ntm": ntm.per_step,
            "ntm_copies": ntm.copies_per_step, "written_rows": k * heads + 1}


@functools.lru_cache(maxsize=1)
def index_facts() -> dict:
    """Chapter 6's facts about samviz's faiss index, read from the library (samviz.memory.index, index_clusters,
    index_parts): an index over a zero-rows memory of FLAT_BELOW slots describes itself."""
    import torch

    from samviz.memory import index, index_clusters, index_parts
    probe = index.FaissIndex(1, index.FLAT_BELOW, 4)
    probe.reset(torch.zeros(1, index.FLAT_BELOW, 4))
    return {"flat_below": index.FLAT_BELOW, "recent_rows": probe.recent_rows,
            "cluster_rows": index_clusters.CLUSTER_ROWS, "cluster_probes": index_clusters.CLUSTER_PROBES,
            "initial_m": index_parts.HNSW_M, "initial_ef_search": index_parts.HNSW_EF_SEARCH,
            "describe": probe.describe(), "mode": probe.mode}


def index_runs(path: str | None = None) -> dict:
    """Chapter 6: the faiss index measured on INDEX_MODEL's own memories (samviz.results index_recall part,
    assets/bench/index_recall.jsonl): rows of today's code from one machine, by episode length.
    -> {"rows", "note", "machine", "this_machine"}."""
    from samviz import results
    from samviz.results import PARTS, store
    rows = store.read_jsonl(path) if path else PARTS["index_recall"].read()
    view = results.rows_for_app(rows)
    mine = sorted((r for r in view.shown if r.get("model") == INDEX_MODEL and r.get("status") == "ok"),
                  key=lambda r: (r["slots"], r["level"]))
    return {"rows": mine, "note": view.note("index rows"), "machine": view.machine, "this_machine": view.this_machine}


PAYOFF_START = "zero"        # how the sparse memory starts in chapter 8's rows (the shipped models' start)
PAYOFF_MEASURE = "cpu"       # chapter 8's time measure (samviz.bench.plots.MEASURES)


def measured_payoff(path: str | None = None) -> dict:
    """Chapter 8: the NTM against SAM (faiss) as the benchmark measured them, from the shipped grid
    (assets/bench/results.jsonl, samviz.results): rows of today's code from one machine only
    (samviz.results.AppRows), of one setting (the benchmark model, T as in chapter 4, memory from zero rows) and
    one time measure. -> {"table": dense ÷ sparse rows, largest N first, "setting", "measure", "machine",
    "this_machine", "note" (what was left out and why), "ntm_beyond" (the NTM's first size past its largest
    measured one, with the reason it was not measured, or None)}."""
    import os

    from samviz import results
    from samviz.bench import SHIPPED_RESULTS
    from samviz.bench.plots import latest, ok, on_measure, ratios, setting, setting_text
    from samviz.bench.runner import read_rows
    path = path or SHIPPED_RESULTS
    rows = latest(read_rows(path)) if os.path.exists(path) else []
    view = results.rows_for_app(rows)
    m = benchmark_model()
    chosen = (m["batch"], m["steps"], m["heads"], m["k"], m["word_size"])
    mine = [r for r in on_measure(view.shown, PAYOFF_MEASURE)
            if setting(r) == chosen and r.get("initial_rows") in (None, PAYOFF_START)]
    table = sorted((r for r in ratios(mine) if r["dense / sparse"] == "ntm / sam-faiss"), key=lambda r: -r["N"])
    ntm = sorted((r for r in mine if r["model"] == "ntm"), key=lambda r: r["slots"])
    measured = [r["slots"] for r in ok(ntm)]
    beyond = next((r for r in ntm if measured and r["slots"] > max(measured) and r.get("status") != "ok"), None)
    return {"table": table, "setting": f"{setting_text(chosen)}, memory from {PAYOFF_START} rows",
            "measure": PAYOFF_MEASURE, "machine": view.machine, "this_machine": view.this_machine,
            "note": view.note("benchmark rows"),
            "ntm_beyond": None if beyond is None else {"slots": beyond["slots"], "status": beyond["status"],
                                                       "reason": beyond.get("reason", "")}}


def trained_at_scale(path: str | None = None) -> dict:
    """Chapter 8: the shipped SAM models run at the largest memory samviz.evaluate_scale measured
    (assets/bench/scale.json, samviz.results), faiss and exact on the same episodes; rows of today's code from one
    machine only. -> {"rows" (by task), "note", "machine", "this_machine"}."""
    from samviz import evaluate_scale, results
    rows, _ = evaluate_scale.load_rows(path)
    view = results.rows_for_app(rows)
    sam = [r for r in view.shown if r.get("kind") == "sam"]
    largest = max((r["slots"] for r in sam), default=None)
    return {"rows": sorted((r for r in sam if r["slots"] == largest), key=lambda r: r["task"]),
            "note": view.note("scale rows"), "machine": view.machine, "this_machine": view.this_machine}


def index_sentence(row: dict) -> str:
    """Why faiss and exact can differ in bit errors, in the numbers of one scale row (recall, top-1, episodes)."""
    faiss, exact = row["bit_errors_faiss"], row["bit_errors_exact"]
    if faiss == exact:
        return f"{row['model']}: faiss and the exact scan made the same errors ({faiss:.3f} per sequence)."
    total = abs(faiss - exact) * row["episodes"]
    return (f"{row['model']}: faiss made {'fewer' if faiss < exact else 'more'} errors than the exact scan "
            f"({faiss:.3f} against {exact:.3f} per sequence, {total:.0f} bit{'s' if round(total) != 1 else ''} over "
            f"{row['episodes']} episodes). Where faiss returned other rows than the exact scan (recall "
            f"{row.get('recall', float('nan')):.4f}, rows tying the K-th best counted as found), the model read "
            "other, equally or nearly equally similar rows; that can land either way, so a difference this small "
            "is chance, not a better index.")


FILLING_FACTOR = 100         # chapter 8's memory that fills: episodes this many times the trained length
FILLING_RUNS = ((1 << 16, "faiss"), (1 << 20, "faiss"), (1 << 16, "exact"))   # (N, index) drawn, in this order
FILLING_DASH = {"faiss": None, "exact": "6 4"}      # one kind, one colour: the index told apart by dash,
FILLING_RING = {1 << 16: False, 1 << 20: True}      # N by marker (open circles at 2^20)


def filling_path():
    """Where samviz.long_evaluation writes its rows (assets/long_curriculum/evaluation.json)."""
    from samviz.long_evaluation import DEFAULT_OUT
    from samviz.paths import ASSETS_DIR
    return ASSETS_DIR / "long_curriculum" / DEFAULT_OUT.name


def _count(value) -> int:
    """A count field of an evaluation row as an int (ValueError when it is not a whole, non-negative number)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return int(value)


def _filling_series(row: dict) -> dict | None:
    """One evaluation row as a drawn series (each tenth's last step, rows written, % of the N slots written, CPU ms
    per step) with the row's counts checked, or None when a field it needs is missing or not a number."""
    try:
        slots = _count(row["memory_slots"])
        tenths = row["tenths"]
        steps = tuple(float(_count(t["steps"][1])) for t in tenths)
        written = tuple(float(t["rows_written"]) for t in tenths)
        cpu = tuple(float(t["cpu_ms_per_step"]) for t in tenths)
        facts = {name: _count(row[name]) for name in ("steps", "level", "trained_level", "checkpoint_step",
                                                      "episodes")}
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    if not slots or not tenths or not all(map(math.isfinite, written + cpu)) or min(cpu) <= 0:
        return None
    return {"slots": slots, "index": row["index"], "steps": steps, "written": written,
            "filled": tuple(w / slots * 100 for w in written), "cpu_ms": cpu, **{f"row_{k}": v for k, v in
                                                                                  facts.items()}, "row": row}


def memory_filling(path=None) -> dict:
    """Chapter 8: a memory that fills. The long-curriculum SAM's rows of samviz.long_evaluation
    (assets/long_curriculum/evaluation.json) on episodes FILLING_FACTOR × its trained length, for each (N, index) of
    FILLING_RUNS found: per tenth of the episode, the rows written as % of the N slots and the CPU ms per step. Only
    rows of one checkpoint, one set of episodes and one machine are drawn together (the group with most of
    FILLING_RUNS, then the latest checkpoint). -> {"series": [{"slots", "index", "steps" (each tenth's last step),
    "written", "filled" (%), "cpu_ms", "row_*" (the row's counts), "row"}], "note": why nothing is drawn, None when
    something is}."""
    from samviz.long_evaluation import read_results
    path = filling_path() if path is None else path
    try:
        rows = read_results(path)["rows"]
    except (OSError, ValueError) as problem:
        return {"series": [], "note": f"The long-curriculum evaluation could not be read ({problem})."}
    groups: dict[tuple, dict] = {}
    for row in rows:
        if not isinstance(row, dict) or row.get("kind") != "sam" or row.get("factor") != FILLING_FACTOR:
            continue
        if (row.get("memory_slots"), row.get("index")) not in FILLING_RUNS:
            continue
        series = _filling_series(row)
        if series is None:
            continue
        key = tuple(str(row.get(name)) for name in ("checkpoint", "checkpoint_step", "weights_sha256", "level",
                                                     "episodes", "seed", "machine"))
        groups.setdefault(key, {})[(series["slots"], series["index"])] = series      # the file's latest row wins
    if not groups:
        return {"series": [], "note": f"No long-curriculum SAM rows at {FILLING_FACTOR}× the trained length in "
                                      f"{Path(path).name} yet: python -m samviz.long_evaluation evaluate makes them."}
    best = max(groups.values(), key=lambda g: (len(g), next(iter(g.values()))["row_checkpoint_step"]))
    return {"series": [best[run] for run in FILLING_RUNS if run in best], "note": None}


def filling_slots(n: int) -> str:
    """A memory size as the chapter writes it: 2^16 for a power of two, else 65,000."""
    return f"2^{n.bit_length() - 1}" if n > 0 and n & (n - 1) == 0 else f"{n:,}"


def filling_label(series: dict) -> str:
    """"faiss, N = 2^16": the index and the memory size of a drawn series."""
    return f"{series['index']}, N = {filling_slots(series['slots'])}"


def filling_sentence(filling: dict, recent_rows: int | None = None) -> str:
    """The words beside chapter 8's second figure: the episodes, the checkpoint, the memory filled at the end and
    the CPU ms per step of the first and last tenth, each number one the figure draws. With `recent_rows` (the
    faiss index's exact part, samviz.memory.index.RECENT_ROWS): the tenth where the rows written passed it and the
    range of faiss's CPU ms per step from that tenth on."""
    series = filling["series"]
    first = series[0]
    count = {1: "one episode", 2: "two episodes"}.get(first["row_episodes"], f"{first['row_episodes']:,} episodes")
    sizes: dict[int, dict] = {}
    for s in series:
        sizes.setdefault(s["slots"], s)                 # faiss first: the exact index wrote the same or other rows
    filled = " and ".join(f"**{s['filled'][-1]:.1f}%** of {n:,}" for n, s in sizes.items())
    ends = {s["written"][-1] for s in sizes.values()}
    wrote = (f"SAM wrote {next(iter(ends)):,.0f} rows per episode, filling" if len(ends) == 1 else
             "the rows SAM wrote filled")
    times = "; ".join(f"{s['index']} at {filling_slots(s['slots'])}: {s['cpu_ms'][0]:.2f} → "
                      f"**{s['cpu_ms'][-1]:.2f} ms**" for s in series)
    text = (f"On {count} of {first['row_steps']:,} steps ({first['row_level']:,} items, {FILLING_FACTOR}× the "
            f"{first['row_trained_level']:,} items the checkpoint of update {first['row_checkpoint_step']:,} was "
            f"trained on), {wrote} {filled} slots. CPU time per step, first tenth → last: {times}.")
    after = []
    for s in series:
        passed = next((i for i, w in enumerate(s["written"]) if w > recent_rows), None) if recent_rows else None
        if s["index"] == "faiss" and passed is not None:
            after.append((s, passed, min(s["cpu_ms"][passed:]), max(s["cpu_ms"][passed:])))
    if after:
        tenths = " and ".join(sorted({str(p + 1) for _, p, _, _ in after}))
        ranges = " and ".join(f"{lo:.2f}–{hi:.2f} ms at {filling_slots(s['slots'])}" for s, _, lo, hi in after)
        text += (f" From tenth {tenths}, where the rows written passed the {recent_rows:,} newest that faiss "
                 f"compares exactly (older ones go into clusters, chapter 6), its step stayed within {ranges}.")
    return text


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def filling_source(filling: dict) -> str:
    """Where the drawn rows came from, as plain text: interim or not, the command (shortened at a word), the
    commit (7 characters) and the machine (its first four parts) of the first row."""
    row = filling["series"][0]["row"]
    command = ""
    for part in re.split(r" (?=--)", str(row.get("command") or "").strip()):    # the program, then each option
        if command and len(command) + len(part) > 140:
            command += " …"
            break
        command = f"{command} {part}".strip()
    commit = str(row.get("commit") or "")[:7] or "unrecorded"
    machine = ", ".join(str(row.get("machine") or "unrecorded").split(", ")[:4])
    level, ceiling = row.get("curriculum_level"), row.get("ceiling")
    interim = (f"Interim checkpoint: its curriculum had reached {_number(level)} of its {_number(ceiling)} items. "
               if row.get("interim") else "")
    return (f"{interim}Measured by {command or 'an unrecorded command'} (commit {commit}; {machine}). Rows "
            "written: distinct slots, the mean over the episodes; CPU ms: this thread's CPU time per step.")


def plain_markdown(text: str) -> str:
    """`text` shown as written in Streamlit markdown: every ASCII punctuation mark backslash-escaped (CommonMark), so
    no emphasis, link, HTML, LaTeX or directive is made of it."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", str(text))


# ------------------------------------------------------------------------------------------ figures (SVG)
# Each figure is a samviz.app.svg_charts.Chart: a spec whose marks hold the numbers drawn (tests read them), drawn
# as a small static SVG (Chart.svg()) — no plotly.js in the browser (issue 28). Layout in viewBox units, 900 wide.

def _diverging_cells(name: str, table, bound: float, hover) -> sc.Cells:
    values = tuple(tuple(float(v) for v in row) for row in table)
    return sc.Cells(name, values, tuple(tuple(sc.diverging(v, bound) for v in row) for row in values),
                            tuple(tuple(hover(r, c, v) for c, v in enumerate(row)) for r, row in enumerate(values)))


def spotlight_figure(data: dict):
    """Weights as brightness beside the memory table (slots on the vertical axis, slot 0 on top)."""
    from samviz.app.figures import READ_COLOUR, SLOT_AXIS
    weights, memory = data["weights"], data["memory"]
    n, width = len(weights), len(memory[0])
    bound = max(abs(v) for row in memory for v in row)
    bars = sc.Bars("read weight", tuple(weights), READ_COLOUR, tuple(f"slot {i}: weight {w:.3f}"
                                                                    for i, w in enumerate(weights)),
                   opacities=tuple(0.15 + 0.85 * w for w in weights))
    table = _diverging_cells("memory", memory, bound, lambda r, c, v: f"slot {r}, entry {c}: {v:.2f}")
    top, height = 50, 30 * n
    return sc.Chart(
        "A head's spotlight (left) over the memory table (right)", top + height + 50,
        (sc.Panel(80, top, 210, height, sc.Axis(0, 1, "read weight (brightness)", ticks=sc.nice_ticks(0, 1, 4)),
                  sc.slot_axis(n, SLOT_AXIS), (bars,)),
         sc.Panel(360, top, 60 * width, height, sc.index_axis(width, "the numbers stored in each slot"),
                  sc.slot_axis(n, ticks=False), (table,))),
        description=f"Read weights of {n} slots beside the memory table; the brightest is slot {data['brightest']}",
        colour_bar=sc.ColourBar("value", -bound, bound))


LABEL_GAP_DEGREES, LABEL_STEP = 14.0, 0.2


def label_positions(rows) -> list[tuple[float, float]]:
    """Where chapter 2 writes each arrow's slot number: just past its tip, pushed further out when an arrow at a
    nearby angle already has a label at that distance, so two numbers never run together ("1" beside "9" read
    as "19")."""
    placed: list[tuple[float, float]] = []          # (angle in degrees, radius) of labels placed so far
    out = []
    for x, y in rows:
        angle = math.degrees(math.atan2(y, x)) % 360
        radius = math.hypot(x, y) + 0.16
        while any(min(abs(angle - a), 360 - abs(angle - a)) < LABEL_GAP_DEGREES and abs(radius - r) < LABEL_STEP
                  for a, r in placed):
            radius += LABEL_STEP
        placed.append((angle, radius))
        out.append((radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle))))
    return out


ARROW_RANGE = 2.3           # chapter 2's arrow plane: −2.3 … 2.3 on both axes (arrows up to 1.4, labels past them)


def content_figure(data: dict):
    """The toy's slots as arrows (brighter and thicker the more weight) with the key, and the weights per slot."""
    from samviz.app.figures import MARK_COLOUR, READ_COLOUR, SLOT_AXIS
    weights = data["weights"]
    arrows = tuple(sc.Line(f"slot {i}", (0.0, x), (0.0, y), READ_COLOUR, ("", f"slot {i}: weight {weights[i]:.3f}"),
                           width=1 + 6 * weights[i], marker_sizes=(0, 6), opacity=0.25 + 0.75 * weights[i])
                   for i, (x, y) in enumerate(data["rows"]))
    labels = label_positions(data["rows"])
    numbers = sc.Texts(tuple(p[0] for p in labels), tuple(p[1] for p in labels),
                       tuple(str(i) for i in range(len(labels))), name="slot numbers")
    kx, ky = data["key"]
    key = sc.Line("key", (0.0, 1.5 * kx), (0.0, 1.5 * ky), MARK_COLOUR, ("", "the key"), width=3, dash="2 4",
                  marker_sizes=(0, 10))
    plane = sc.Axis(-ARROW_RANGE, ARROW_RANGE, ticks=tuple((float(v), "") for v in range(-2, 3)))
    bars = sc.Bars("weight", tuple(weights), READ_COLOUR, tuple(f"slot {i}: weight {w:.3f}"
                                                               for i, w in enumerate(weights)))
    top, side = 45, 330
    return sc.Chart(
        f"Slots as arrows (numbered), the key (dotted), and the weights with β = {data['beta']:g}", top + side + 45,
        (sc.Panel(30, top, side, side, plane, plane, (*arrows, numbers, key), frame=True),
         sc.Panel(480, top, 390, side, sc.Axis(0, 1, "read weight", ticks=sc.nice_ticks(0, 1, 4)),
                  sc.slot_axis(len(weights), SLOT_AXIS), (bars,))),
        description=f"{len(weights)} slots as arrows and the key; with β = {data['beta']:g} the brightest slot is "
                    f"slot {data['best']}",
        legend=(sc.LegendEntry("key", MARK_COLOUR, dash="2 4"),), legend_top=top + side + 22)


def write_figure(data: dict):
    """Before, after the erase, after erase + add: three small tables side by side, one colour scale."""
    from samviz.app.figures import SLOT_AXIS
    tables = (("before", data["before"]), ("after erase", data["erased"]), ("after erase + add", data["after"]))
    bound = data["colour_bound"]
    n, width = len(data["before"]), len(data["before"][0])
    top, height = 50, 30 * n
    panels = tuple(
        sc.Panel(80 + 250 * i, top, 50 * width, height, sc.index_axis(width, name),
                 sc.slot_axis(n, SLOT_AXIS) if i == 0 else sc.slot_axis(n, ticks=False),
                 (_diverging_cells(name, table, bound,
                                   lambda r, c, v, name=name: f"{name}: slot {r}, entry {c}: {v:.2f}"),))
        for i, (name, table) in enumerate(tables))
    return sc.Chart(f"Writing to slot {data['target']}: before, erased, then added", top + height + 55, panels,
                    description=f"The memory table before, after the erase and after erase and add, writing to slot "
                                f"{data['target']}",
                    colour_bar=sc.ColourBar("value", -bound, bound))


def cost_figure(curve: dict, chosen: int):
    """Chapter 4: MiB the NTM keeps for backprop over one batch of T steps against N (log-log), the visitor's N
    marked."""
    from samviz.app.colours import model_colour
    from samviz.app.figures import MARK_COLOUR
    slots = [float(n) for n in curve["slots"]]
    mib = [b / 2**20 for b in curve["total_bytes"]]
    line = sc.Line("NTM (dense)", tuple(slots), tuple(mib), model_colour("ntm"),
                   tuple(f"N = {int(n):,}: {m:,.1f} MiB" for n, m in zip(slots, mib, strict=True)),
                   marker_sizes=(7.0,) * len(slots))
    rule = sc.Rule("x", float(chosen), MARK_COLOUR, f"your N = {int(chosen):,}", name="chosen N")
    top, height = 45, 230
    return sc.Chart(
        "MiB the NTM keeps for backprop over one batch, against N", top + height + 50,
        (sc.Panel(110, top, 750, height,
                  sc.Axis(*sc.log_range(slots, 2), "memory slots N", log=True, ticks=sc.log_ticks(slots, 2)),
                  sc.Axis(*sc.log_range(mib), "MiB kept", log=True, ticks=sc.log_ticks(mib)), (line, rule)),),
        description=f"MiB the NTM keeps for backprop against N, from {int(slots[0]):,} to {int(slots[-1]):,} slots "
                    f"(log-log); your N = {int(chosen):,} marked")


def sam_figure(episode: dict):
    """Slots × steps, each cell one of sam_grid's categories (read blue, written orange, both purple), the least
    recently used slot of each step circled."""
    from samviz.app.figures import MARK_COLOUR, SLOT_AXIS
    n, steps = episode["slots"], len(episode["steps"])
    grid = sam_grid(episode)
    colours = category_colours()
    categories = tuple(tuple(row) for row in grid["categories"])
    cells = sc.Cells("categories", categories, tuple(tuple(colours[c] for c in row) for row in categories),
                     tuple(tuple(f"step {t}, slot {s}: {CATEGORY_NAMES[c]}" for t, c in enumerate(row))
                           for s, row in enumerate(categories)), gap=2)
    least = sc.Line(LEAST_USED_NAME, tuple(float(t) for t in range(steps)), tuple(float(s) for s in grid["least_used"]),
                    MARK_COLOUR, tuple(f"step {t}: slot {s}, the least recently used, erased then written"
                                       for t, s in enumerate(grid["least_used"])),
                    marker_sizes=(16.0,) * steps, ring=True, connect=False)
    top, height = 45, 22 * n
    legend = (*(sc.LegendEntry(name, colours[c], "box") for c, name in enumerate(CATEGORY_NAMES)),
              sc.LegendEntry(LEAST_USED_NAME, MARK_COLOUR, "ring"))
    return sc.Chart(
        f"SAM, {n} slots, K = {episode['k']}, R = {episode['heads']}: what each step touched", top + height + 105,
        (sc.Panel(80, top, 90 * steps, height, sc.index_axis(steps, "step"), sc.slot_axis(n, SLOT_AXIS),
                  (cells, least)),),
        description=f"SAM's {n} slots over {steps} steps: read, written above δ, both, or untouched; the least "
                    "recently used slot of each step circled",
        legend=legend, legend_top=top + height + 62)


def rollback_figure(episode: dict, state: dict):
    """The toy SAM's memory after undoing journal entries (one colour scale for the whole episode); the rows the
    last undo changed outlined thick, rows earlier undos changed outlined thin."""
    from samviz.app.figures import SLOT_AXIS, WRITE_COLOUR
    bound = colour_bound(episode)
    width, n = episode["width"], len(state["memory"])
    cells = _diverging_cells("memory", state["memory"], bound, lambda r, c, v: f"slot {r}, entry {c}: {v:.3f}")

    def rows(slots):
        return tuple((-0.5, width - 0.5, s - 0.5, s + 0.5) for s in slots)
    restored = state["restored"]
    last = restored[-1]["changed"] if restored else []
    earlier = [s for undo in restored[:-1] for s in undo["changed"]]
    marks = (cells, sc.Outlines("rows the last undo restored", rows(last), WRITE_COLOUR, width=3),
             sc.Outlines("rows earlier undos restored", rows(earlier), "#555555", width=1, dash="2 3"))
    steps = len(episode["steps"])
    title = (f"Memory at the end of the forward pass (after step {steps - 1})" if state["at_step"] == steps
             else f"Memory rolled back to before step {state['at_step']}: rows it restored outlined")
    top, height = 45, 22 * n
    return sc.Chart(title, top + height + 50,
                    (sc.Panel(80, top, 70 * width, height, sc.index_axis(width, "entry"), sc.slot_axis(n, SLOT_AXIS),
                              marks),),
                    colour_bar=sc.ColourBar("value", -bound, bound, left=80 + 70 * width + 40))


def _step_axis(steps: list[float]) -> sc.Axis:
    low, high = (min(steps), max(steps)) if steps else (0.0, 1.0)
    if high == low:
        low, high = low - 1, high + 1
    return sc.Axis(low, high, "step", ticks=sc.nice_ticks(low, high, 6))


def index_figure(row: dict):
    """Chapter 6: one measured episode's index, step by step — the written rows searched exactly (the recent part)
    and the older ones, clustered (stacked), and the recall of the searches (right axis)."""
    from samviz.app.figures import MARK_COLOUR, READ_COLOUR, WRITE_COLOUR
    trace = row["trace"]
    steps = tuple(float(p["step"]) for p in trace)
    recent = tuple(float(p["recent"]) for p in trace)
    older = tuple(float(p.get("older") or 0) for p in trace)
    zeros = (0.0,) * len(trace)
    marks = (
        sc.Area("recent rows: compared exactly", steps, recent, zeros, READ_COLOUR,
                tuple(f"step {int(s):,}: {int(r):,} recent rows" for s, r in zip(steps, recent, strict=True))),
        sc.Area("older rows: clustered", steps, older, recent, WRITE_COLOUR,
                tuple(f"step {int(s):,}: {int(o):,} older rows, clustered" for s, o in zip(steps, older,
                                                                                          strict=True))),
        sc.Line("recall of the searches", steps, tuple(float(p["recall"]) for p in trace), MARK_COLOUR,
                tuple(f"steps up to {int(p['step']):,}: recall {p['recall']:.4f}" for p in trace), dash="2 3",
                axis="y2"),
    )
    top_rows = max([r + o for r, o in zip(recent, older, strict=True)] + [1.0]) * 1.05
    top, height = 45, 240
    legend = (sc.LegendEntry("recent rows: compared exactly", READ_COLOUR, "box"),
              sc.LegendEntry("older rows: clustered", WRITE_COLOUR, "box"),
              sc.LegendEntry("recall of the searches", MARK_COLOUR, dash="2 3"))
    return sc.Chart(
        f"{row['model']}, N = {row['slots']:,}: the written rows the index holds, by step", top + height + 85,
        (sc.Panel(100, top, 680, height, _step_axis(list(steps)),
                  sc.Axis(0, top_rows, "written rows", ticks=sc.nice_ticks(0, top_rows, 5)), marks,
                  y2=sc.Axis(0, 1.05, "recall", ticks=sc.nice_ticks(0, 1, 5), grid=False)),),
        description=f"The written rows {row['model']}'s index held at each step of one episode (recent rows and "
                    "older rows, clustered, stacked) and the recall of its searches",
        legend=legend, legend_top=top + height + 62)


def payoff_figure(payoff: dict):
    """Chapter 8: the measured NTM ÷ SAM (faiss) ratios of time and memory per step against N (log-log), exactly
    the rows of payoff["table"] (one machine, one setting, one measure)."""
    from samviz.app.figures import READ_COLOUR, WRITE_COLOUR
    table = sorted(payoff["table"], key=lambda r: r["N"])
    lines, drawn = [], []
    for name, label, colour in (("speed ratio", "time per step", READ_COLOUR),
                                ("memory ratio", "measured memory overhead", WRITE_COLOUR)):
        rows = [r for r in table if r[name] is not None]
        drawn += [r[name] for r in rows]
        lines.append(sc.Line(f"{label}: NTM ÷ SAM", tuple(float(r["N"]) for r in rows),
                             tuple(float(r[name]) for r in rows), colour,
                             tuple(f"N = {r['N']:,}: {r[name]:,}× ({label})" for r in rows),
                             marker_sizes=(8.0,) * len(rows)))
    slots = [float(r["N"]) for r in table] or [1.0, 2.0]
    ratios = drawn + [1.0]
    top, height = 45, 230
    return sc.Chart(
        "Measured: how many times cheaper SAM (faiss) is than the NTM", top + height + 85,
        (sc.Panel(100, top, 760, height,
                  sc.Axis(*sc.log_range(slots, 2), "memory slots N", log=True, ticks=sc.log_ticks(slots, 2)),
                  sc.Axis(*sc.log_range(ratios), "NTM ÷ SAM", log=True, ticks=sc.log_ticks(ratios)),
                  (sc.Rule("y", 1.0, "#999999", "1×: the same cost", name="equal cost"), *lines)),),
        description="Measured ratios of the NTM's cost to SAM's (time per step and memory overhead) against N, "
                    "log-log",
        legend=tuple(sc.LegendEntry(line.name, line.colour, "marker") for line in lines),
        legend_top=top + height + 62)


def filling_figure(filling: dict):
    """Chapter 8's second figure: along the long episode (each tenth's last step), the rows written as % of the
    memory (left) and the CPU ms per step (right), one line per (N, index) of filling["series"] — exactly their
    values. One kind, one colour (samviz.app.colours): the index by dash, N by marker."""
    from samviz.app.colours import model_colour
    colour = model_colour("sam")
    filled, times, legend = [], [], []
    for s in filling["series"]:
        label, ring, dash = filling_label(s), FILLING_RING.get(s["slots"], False), FILLING_DASH.get(s["index"])
        markers = (7.0,) * len(s["steps"])
        pairs = list(zip(s["steps"], s["written"], s["filled"], s["cpu_ms"], strict=True))
        filled.append(sc.Line(f"memory filled: {label}", s["steps"], s["filled"], colour,
                              tuple(f"{label}, step {x:,.0f}: {w:,.0f} of {s['slots']:,} slots written ({f:.1f}%)"
                                    for x, w, f, _ in pairs), dash=dash, marker_sizes=markers, ring=ring))
        times.append(sc.Line(f"CPU ms per step: {label}", s["steps"], s["cpu_ms"], colour,
                             tuple(f"{label}, tenth ending at step {x:,.0f}: {c:.2f} CPU ms per step"
                                   for x, _, _, c in pairs), dash=dash, marker_sizes=markers, ring=ring))
        legend.append(sc.LegendEntry(label, colour, "ring" if ring else "marker", dash))
    last = max((x for s in filling["series"] for x in s["steps"]), default=1.0)
    top_filled = max([f for s in filling["series"] for f in s["filled"]] + [1.0]) * 1.1
    top_ms = max([c for s in filling["series"] for c in s["cpu_ms"]] + [0.1]) * 1.15
    x_axis = sc.Axis(0, last, "step", ticks=sc.nice_ticks(0, last, 3))
    top, height = 45, 200
    return sc.Chart(
        f"A memory that fills: SAM along episodes of {last:,.0f} steps", top + height + 85,
        (sc.Panel(95, top, 315, height, x_axis,
                  sc.Axis(0, top_filled, "memory filled (%)", ticks=sc.nice_ticks(0, top_filled, 4)), tuple(filled)),
         sc.Panel(545, top, 315, height, x_axis,
                  sc.Axis(0, top_ms, "CPU ms per step", ticks=sc.nice_ticks(0, top_ms, 4)), tuple(times))),
        description="The long-curriculum SAM along a long episode: the rows written as a share of the memory, and "
                    "the CPU time per step, for each index and memory size",
        legend=tuple(legend), legend_top=top + height + 62)


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
