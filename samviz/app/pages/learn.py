"""Learn: the equations of NTM, SAM, DAM, DNC and SDNC, one section per anchor the narration links to.

Sources: Graves et al. 2014 (NTM), Rae et al. 2016 (SAM, DAM, SDNC; supplements A–G), Graves et al. 2016
(DNC); in the project's words: docs/PAPER_NOTES.md. Where the papers leave a choice open, the section says
what samviz does. The constants quoted (δ, λ, the index's scan budget) are imported from the modules that
use them, so the page cannot drift from the code.
"""
from __future__ import annotations

import streamlit as st

from samviz.app.explain import ANCHORS
from samviz.memory.dam import USAGE_DISCOUNT  # λ
from samviz.memory.index import FLAT_BELOW, RECENT_ROWS, SCAN_PER_SQRT_N  # the faiss index's parts and budgets
from samviz.memory.index_clusters import CLUSTER_PROBES, CLUSTER_ROWS
from samviz.memory.index_parts import HNSW_EF_SEARCH
from samviz.memory.usage import ACCESS_THRESHOLD  # δ

DELTA, LAMBDA = f"{ACCESS_THRESHOLD:g}", f"{USAGE_DISCOUNT:g}"

# anchor -> (what it says, equations (LaTeX), where the app shows it)
SECTIONS: dict[str, tuple[str, list[str], str]] = {
    "tasks": (
        "Three algorithmic tasks from the NTM paper. **Copy**: read random 8-bit vectors and a delimiter, then "
        "write them back. **Associative recall**: read items of three 6-bit vectors, then a query item; answer "
        "the item that followed it. **Priority sort**: read vectors with a priority in [−1, 1]; output the "
        "highest-priority 80 %, highest first. The score everyone reports: bit errors per sequence — threshold "
        "the sigmoid at 0.5 and count wrong bits over the answer phase.",
        [r"\text{bit errors} = \sum_{t\,:\,\text{mask}_t = 1} \sum_{j} \big[\, \mathbb{1}(y_{t,j} > 0.5) "
         r"\neq \text{target}_{t,j} \,\big]"],
        "Episode player → *Bits over time*: the answer phase is shaded and every wrong bit is crossed out."),
    "ntm-content": (
        "Each NTM head emits a key k and a strength β > 0 (softplus). Content addressing compares the key with "
        "every row of the memory M (N rows of width W) by cosine similarity and takes a softmax.",
        [r"w^c_t(i) = \frac{\exp\big(\beta_t \cos(k_t, M_t(i))\big)}{\sum_j \exp\big(\beta_t \cos(k_t, M_t(j))\big)}",
         r"\cos(u, v) = \frac{u \cdot v}{\lVert u \rVert\,\lVert v \rVert}"],
        "Episode player → *Read and write weights*: a large β makes one bright cell per column, a small β a "
        "smear over all slots."),
    "ntm-interpolation": (
        "An interpolation gate g ∈ (0, 1) (sigmoid) mixes the content weights with the head's weights of the "
        "previous step: g = 0 ignores content and keeps the old focus (useful for stepping through memory).",
        [r"w^g_t = g_t\, w^c_t + (1 - g_t)\, w_{t-1}"],
        "Narration: “Interpolation gate g = …”; the weights figure shows the focus staying put when g is small."),
    "ntm-shift": (
        "A shift distribution s over {−1, 0, +1} (softmax) rotates the weights circularly: this is how the NTM "
        "walks through consecutive slots in the copy task.",
        [r"\tilde w_t(i) = \sum_{j=0}^{N-1} w^g_t(j)\, s_t\big((i - j) \bmod N\big)"],
        "Episode player → *Read and write weights*: a diagonal stripe is a head shifting by one slot per step."),
    "ntm-sharpen": (
        "Shifting blurs the weights; sharpening with γ ≥ 1 (1 + softplus) focuses them again.",
        [r"w_t(i) = \frac{\tilde w_t(i)^{\gamma_t}}{\sum_j \tilde w_t(j)^{\gamma_t}}"],
        "Narration: “Sharpening γ = …”."),
    "ntm-read": (
        "A read is the weighted sum of all N rows: every slot is visited, even the ones with tiny weight.",
        [r"r_t = \sum_{i=0}^{N-1} w^r_t(i)\, M_t(i)"],
        "Episode player → *Memory rows touched*: the read vectors r_t and the rows with the largest read weights."),
    "ntm-erase-add": (
        "Writing first erases with a vector e ∈ (0, 1)^W (sigmoid), then adds a vector a, both in proportion to "
        "the write weights. Every row changes a little: the whole N × W memory is new at every step, and naive "
        "backpropagation keeps a copy of it per step.",
        [r"\tilde M_t(i) = M_{t-1}(i) \odot \big(\mathbf{1} - w^w_t(i)\, e_t\big)",
         r"M_t(i) = \tilde M_t(i) + w^w_t(i)\, a_t"],
        "Episode player → *Memory rows touched* (before / after) and *Memory M_t*."),
    "sam-sparse-read": (
        "SAM reads only the K rows most similar to the query q (K = 4 in the paper). samviz normalises their "
        "weights with a softmax of β·cosine over those K (the paper leaves this open; it keeps the cost "
        "independent of N). All other slots have weight exactly 0.",
        [r"\mathcal{S}_t = \operatorname{top-}K_i \cos\big(q_t, M_{t-1}(i)\big)",
         r"w^r_t(s_k) = \frac{\exp(\beta_t \cos(q_t, M(s_k)))}{\sum_{k'=1}^K \exp(\beta_t \cos(q_t, M(s_{k'})))},"
         r"\qquad r_t = \sum_{k=1}^{K} w^r_t(s_k)\, M(s_k)"],
        "Episode player → *Read and write weights* lists only the touched slots; the narration names the K slots."),
    "sam-ann": (
        "The K rows are found by a nearest-neighbour index. The paper uses approximate trees or hashing "
        "(FLANN k-d trees, LSH), which answer in about O(log N). samviz offers two: *exact*, a scan of all N "
        "rows (O(N), but one fast matrix product), and *faiss*. A model's memory is its known initial rows plus "
        "the rows written so far. From zero rows (the shipped models' start) an untouched row scores exactly 0, "
        "so faiss searches only the written rows: the last "
        f"{RECENT_ROWS:,} written rows of each episode exactly, and the older ones in an inverted file (k-means "
        f"lists of about {CLUSTER_ROWS} similar rows; a search compares the key with every list's centre and "
        f"scans the {CLUSTER_PROBES} nearest lists, so its cost does not grow with N); a row written again leaves "
        "its list at once, and the lists are re-clustered each time as many rows were added as they were made "
        "from. A memory that starts from "
        "jittered rows adds one shared graph over those initial rows, searched with the written slots excluded "
        f"({HNSW_EF_SEARCH} candidates). Any other memory (random rows in a test) gets an inverted-file index "
        f"that scans about {SCAN_PER_SQRT_N}·√N rows per query; below {FLAT_BELOW:,} slots an exact flat index. "
        "Cosine similarity is the inner product of L2-normalised rows. Recall is the share of the exact top-K "
        "that the index found; on the shipped models' own memories: pretrained/README.md and the story's "
        "chapter 6.",
        [r"\text{recall} = \frac{\lvert \mathcal{S}^{\text{found}}_t \cap \mathcal{S}^{\text{exact}}_t \rvert}{K}"],
        "Episode player → *Nearest neighbours*: found vs exact top-K per head, their similarities and recall."),
    "sam-sparse-write": (
        "The write weights mix the previous step's read weights with the least recently used slot (by the "
        "interpolation gate g^i, the paper's γ; samviz keeps γ for the NTM's sharpening), scaled by a "
        "write gate α. The least recently used row is erased (set to zero) first; the written word a is added to "
        "every written row. So at most K·R + 1 rows change. samviz combines the R heads' previous reads by their "
        "mean (the paper leaves it open).",
        [r"w^W_t = \alpha_t \big(g^i_t\, w^R_{t-1} + (1 - g^i_t)\, \mathbb{I}^U_t\big)",
         r"M_t = (1 - R_t) \odot M_{t-1} + w^W_t\, a_t^\top, \qquad R_t = \mathbb{I}^U_t \mathbf{1}^\top"],
        "Narration: “wrote … to slot …, the least recently used”; the write panel marks the least-used slot ○."),
    "sam-usage": (
        f"Usage is the number of steps since a slot was last accessed; a read or write above δ = {DELTA} counts as "
        "an access, so reading a word protects it. The least recently used slot maximises U and is tracked in "
        "O(1) (a ring in access order) — no sort over N.",
        [r"U_t(i) = t - \max\{\tau \le t : w^W_\tau(i) + w^R_\tau(i) > \delta\}, \qquad \delta = " + DELTA,
         r"\mathbb{I}^U_t = \text{one-hot}\big(\arg\max_i U_{t-1}(i)\big)"],
        "Episode player → *Usage*: the bars are U_t, the red marker the least recently used slot."),
    "sam-bptt": (
        "The heart of the speed-up. Writes go in place into ONE memory buffer shared by all steps; each step "
        "records only the rows it changed (ids and old values) in a journal. Backward walks the steps in "
        "reverse, restores the old rows (the rollback) and passes gradients only to touched rows: O(1) extra "
        "space per step instead of a copy of M.",
        [r"\text{journal}_t = \big(\{i : w^W_t(i) > 0\},\ M_{t-1}(\{i\})\big), \qquad "
         r"M_{t-1} = \text{rollback}(M_t, \text{journal}_t)"],
        "Narration: “Only … of N rows were touched”; Compare → *rows touched per step*."),
    "dam": (
        "DAM is SAM's dense twin (the paper's baseline): same controller and write rule, but dense softmax reads "
        f"over all N slots and a discounted usage (λ is not given by the paper; samviz uses {LAMBDA}). The least "
        "used slot minimises U.",
        [r"w^r_t(i) = \operatorname{softmax}_i\big(\beta_t \cos(q_t, M_t(i))\big)",
         r"U_t = \lambda\, U_{t-1} + w^W_t + \textstyle\sum_h w^{R,h}_t, \qquad \lambda = " + LAMBDA],
        "Episode player with DAM: the usage bars are U_t, the marker the smallest."),
    "dnc-usage": (
        "The DNC tracks usage u ∈ [0, 1]: writing raises it, and free gates f^i let each read head release the "
        "slots it read (the retention ψ).",
        [r"\psi_t = \prod_{i=1}^{R} \big(1 - f^i_t\, w^{r,i}_{t-1}\big)",
         r"u_t = \big(u_{t-1} + w^W_{t-1} - u_{t-1} \odot w^W_{t-1}\big) \odot \psi_t"],
        "Episode player with DNC → *Usage*."),
    "dnc-allocation": (
        "Allocation sorts the slots by usage (φ: ascending) and prefers the least used — an O(N log N) sort "
        "per step.",
        [r"a_t[\phi_t[j]] = \big(1 - u_t[\phi_t[j]]\big) \prod_{i=1}^{j-1} u_t[\phi_t[i]]"],
        "Narration: “allocation points there”; the usage marker is the slot allocated next."),
    "dnc-write": (
        "The write weights blend allocation and a content lookup c^w with the allocation gate g^a, scaled by the "
        "write gate g^w.",
        [r"w^W_t = g^w_t \big(g^a_t\, a_t + (1 - g^a_t)\, c^w_t\big)"],
        "Narration: “Write gate g^w = …, allocation gate g^a = …”."),
    "dnc-precedence": (
        "The precedence p records how much each slot was the last one written.",
        [r"p_t = \Big(1 - \sum_i w^W_t(i)\Big)\, p_{t-1} + w^W_t, \qquad p_0 = 0"],
        "It feeds the links below."),
    "dnc-links": (
        "The N × N temporal link matrix remembers the order of writes; a head follows it forward or backward "
        "from what it read last step. Updating L is O(N²) per step.",
        [r"L_t[i,j] = \big(1 - w^W_t[i] - w^W_t[j]\big)\, L_{t-1}[i,j] + w^W_t[i]\, p_{t-1}[j], \qquad L_t[i,i] = 0",
         r"f^i_t = L_t\, w^{r,i}_{t-1}, \qquad b^i_t = L_t^\top\, w^{r,i}_{t-1}"],
        "Episode player with DNC/SDNC → *Temporal links followed*."),
    "dnc-read-modes": (
        "Each read head mixes backward, content and forward reading with read modes π (softmax over 3).",
        [r"w^{r,i}_t = \pi^i_t[1]\, b^i_t + \pi^i_t[2]\, c^{r,i}_t + \pi^i_t[3]\, f^i_t"],
        "Episode player with DNC/SDNC → *Read modes*: one stacked bar per head."),
    "sdnc-links": (
        "The SDNC (Rae 2016, supplement D) reads, writes and tracks usage exactly as SAM. The N × N link matrix "
        "becomes two sparse N × K_L matrices, N_t (forward) and P_t (backward), each row keeping its K_L largest "
        "entries (K_L = 8); the precedence keeps at most K_L non-zeros. No gradient flows through the links, and "
        "the per-step cost no longer depends on N.",
        [r"N_t(i,j) = \big(1 - w^W_t(i)\big)\, N_{t-1}(i,j) + w^W_t(i)\, p_{t-1}(j)",
         r"P_t(i,j) = \big(1 - w^W_t(j)\big)\, P_{t-1}(i,j) + w^W_t(j)\, p_{t-1}(i)"],
        "Episode player with SDNC → *Temporal links followed* and *Read modes*."),
    "why-sparse-scales": (
        "Per step and head, a dense model computes a similarity with every row, and its erase/add rewrites "
        "every row: O(N·W). Backpropagation through T steps keeps a copy of the memory per step: O(T·N·W) "
        "memory. A sparse model finds its K rows with an index — samviz's faiss index searches only the rows "
        "written so far (recent ones exactly, older ones in clusters with a fixed search budget, like the paper's "
        "trees; the exact scan: O(N) with a tiny constant) — reads and writes only K·R + 1 rows, and keeps only "
        "the rows it changed: O(T·K·W). "
        "The paper measured 1600× faster steps at N = 1,000,000 and 3700× less memory at N = 64,000.",
        [r"\text{dense: } O(N W) \text{ time per step}, \quad O(T\, N\, W) \text{ memory for BPTT}",
         r"\text{sparse (faiss index): } O(\text{recent rows} + \text{cluster budget} + K W) \text{ time per step},",
         r"O(T\, K\, W) \text{ memory for BPTT}"],
        "Compare → *rows touched* and *time per step*; Scaling lab → live log-log measurements."),
}

GROUPS = [
    ("Tasks", ["tasks"]),
    ("Neural Turing Machine (dense)", ["ntm-content", "ntm-interpolation", "ntm-shift", "ntm-sharpen", "ntm-read",
                                       "ntm-erase-add"]),
    ("SAM — Sparse Access Memory", ["sam-sparse-read", "sam-ann", "sam-sparse-write", "sam-usage", "sam-bptt"]),
    ("DAM — Dense Access Memory", ["dam"]),
    ("DNC — Differentiable Neural Computer (dense)", ["dnc-usage", "dnc-allocation", "dnc-write", "dnc-precedence",
                                                       "dnc-links", "dnc-read-modes"]),
    ("SDNC — sparse DNC", ["sdnc-links"]),
    ("Scaling", ["why-sparse-scales"]),
]


def render() -> None:
    st.title("Learn: the equations behind the views")
    st.markdown("Notation: memory **M** has **N** slots (words) of width **W**; **R** read heads; **K** "
                "neighbours per sparse read; **T** time steps. Every sentence in the Episode player's narration "
                "links to one of the sections below.")
    with st.expander("Contents", expanded=False):
        st.markdown("\n".join(f"- **{group}**: " + " · ".join(f"[{ANCHORS[a].split(' · ')[-1]}](#{a})" for a in anchors)
                              for group, anchors in GROUPS))
    for group, anchors in GROUPS:
        st.header(group, anchor=False)
        for anchor in anchors:
            text, equations, shown = SECTIONS[anchor]
            title = ANCHORS[anchor].split(" · ")[-1]
            st.subheader(title[0].upper() + title[1:], anchor=anchor)
            st.markdown(text)
            for equation in equations:
                st.latex(equation)
            st.caption(f"Shown in: {shown}")
    st.caption("Sources: Graves et al. 2014 (arXiv 1410.5401); Rae et al. 2016 (arXiv 1610.09027); "
               "Graves et al. 2016 (Nature 538).")
