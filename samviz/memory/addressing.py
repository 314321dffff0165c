"""Addressing equations shared by every memory core — one place for each.

Shapes: B batch, H heads, N slots, W word size, K neighbours.
"""
import torch
import torch.nn.functional as F

EPSILON = 1e-6      # the model's cosine: added to ‖k‖·‖m‖ (also keeps sharpening's powers of 0 finite)
NORM_FLOOR = 1e-8   # the indexes' cosine: each norm floored here, as torch.nn.functional.cosine_similarity


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """x [..., W] with each row divided by max(‖row‖, NORM_FLOOR): unit rows, zero rows stay zero."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(NORM_FLOOR)


def cosine_similarity(keys: torch.Tensor, memory: torch.Tensor, *, floor_norms: bool = False) -> torch.Tensor:
    """Cosine similarity of every key with every memory row: the one definition, with a named choice for tiny vectors.

    keys [B, H, W], memory [B, N, W] -> [B, H, N]. A zero row or key gives 0, never NaN.

    floor_norms=False — the model's reads (NTM, DAM, DNC content addressing; SAM and SDNC's sparse read,
        `cosine_similarity_rows` and the fused `sparse_read`): k·m / (‖k‖‖m‖ + EPSILON).
    floor_norms=True — what the nearest-neighbour indexes rank by (samviz/memory/index.py, which stores unit
        rows): (k / max(‖k‖, NORM_FLOOR))·(m / max(‖m‖, NORM_FLOOR)).
    They differ only for tiny vectors: SAM's memory starts at rows of norm ~5e-6, where ε shrinks a
    similarity by ~10% and would rank untouched rows by norm instead of direction (an exact index would
    then disagree with itself). Why the model keeps ε: switching the sparse read to the floored form changes
    the shipped sam-copy's score from 0.044 to 0.050 bit errors per sequence (`python -m samviz.evaluate
    sam-copy --batches 5 --no-generalisation`; the other sparse checkpoints are unchanged), and the
    checkpoints must keep their metrics.
    """
    if floor_norms:
        return torch.bmm(unit_rows(keys), unit_rows(memory).transpose(1, 2))
    dot = torch.bmm(keys, memory.transpose(1, 2))
    key_norms = torch.linalg.vector_norm(keys, dim=-1, keepdim=True)                 # [B, H, 1]
    row_norms = torch.linalg.vector_norm(memory, dim=-1).unsqueeze(1)                 # [B, 1, N]
    return dot / (key_norms * row_norms + EPSILON)


def cosine_similarity_rows(queries: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each query with its own gathered rows (the sparse case; the model's ε convention).

    queries [B, H, W], rows [B, H, K, W] -> [B, H, K].
    """
    dot = (rows * queries.unsqueeze(2)).sum(-1)
    norms = torch.linalg.vector_norm(queries, dim=-1, keepdim=True) * torch.linalg.vector_norm(rows, dim=-1)
    return dot / (norms + EPSILON)


def content_weights(keys: torch.Tensor, memory: torch.Tensor, strengths: torch.Tensor) -> torch.Tensor:
    """NTM/DNC content addressing: w^c(i) = softmax_i(β · cos(k, M(i))).

    keys [B, H, W], memory [B, N, W], strengths β [B, H] (> 0) -> weights [B, H, N].
    """
    return torch.softmax(strengths.unsqueeze(-1) * cosine_similarity(keys, memory), dim=-1)


def interpolate(content: torch.Tensor, previous: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """NTM interpolation: w^g = g·w^c + (1 − g)·w_{t−1}.  content, previous [B, H, N]; gate [B, H]."""
    gate = gate.unsqueeze(-1)
    return gate * content + (1 - gate) * previous


def circular_shift(weights: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """NTM rotation: w̃(i) = Σ_j w(j) s(i − j mod N) with s over shifts (−1, 0, +1).

    weights [B, H, N], shift [B, H, 3] (a distribution over −1, 0, +1) -> [B, H, N].
    Rolling by +1 moves weight from slot i to slot i+1, wrapping N−1 -> 0.
    """
    return (shift[..., 0:1] * torch.roll(weights, -1, dims=-1)
            + shift[..., 1:2] * weights
            + shift[..., 2:3] * torch.roll(weights, 1, dims=-1))


def sharpen(weights: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """NTM sharpening: w(i) = w̃(i)^γ / Σ_j w̃(j)^γ.  weights [B, H, N], gamma [B, H] (≥ 1)."""
    powered = (weights + EPSILON).pow(gamma.unsqueeze(-1))
    return powered / powered.sum(-1, keepdim=True)


def erase_and_add(memory: torch.Tensor, write_weights: torch.Tensor,
                  erase: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """NTM/DNC write: M(i) ← M(i) ⊙ (1 − w(i)·e) + w(i)·a.

    memory [B, N, W], write_weights [B, N], erase [B, W] in (0, 1), add [B, W] -> new memory [B, N, W].
    """
    w = write_weights.unsqueeze(-1)
    return memory * (1 - w * erase.unsqueeze(1)) + w * add.unsqueeze(1)


def sparse_read_weights(similarities: torch.Tensor, strengths: torch.Tensor) -> torch.Tensor:
    """SAM's read weights over the K retrieved slots: softmax_k(β · cos(q, M(s_k))).

    The paper does not state the normalisation; a softmax over the K similarities with a learned
    strength β keeps the cost independent of N (docs/PAPER_NOTES.md, #sam).  similarities [B, H, K], strengths [B, H].
    """
    return torch.softmax(strengths.unsqueeze(-1) * similarities, dim=-1)


READ_MODES = ("backward", "content", "forward")   # the order of π in the DNC's and the SDNC's interface


def mix_read_modes(modes: torch.Tensor, backward: torch.Tensor, content: torch.Tensor, forward: torch.Tensor,
                   concatenate: bool = False) -> torch.Tensor:
    """DNC read weighting w^r = π_b b + π_c c + π_f f, π = modes [B, R, 3] in READ_MODES order.

    Dense (DNC): backward, content, forward [B, R, N] -> their weighted sum [B, R, N].
    Entries (SDNC, concatenate=True): each part is a list of entries over its own slots ([B, R, K], [B, R, K_L],
    [B, R, K_L]) -> the weighted entries concatenated as content | forward | backward [B, R, K + 2·K_L]
    (a slot listed in several parts is summed where the weights are used).
    """
    if concatenate:
        return torch.cat([modes[..., 1:2] * content, modes[..., 2:3] * forward, modes[..., 0:1] * backward], -1)
    return modes[..., 0:1] * backward + modes[..., 1:2] * content + modes[..., 2:3] * forward


# How a read head's key strength β comes from the controller's raw value (SAM and the SDNC may choose; the paper
# does not say whether SAM's sparse read has a strength at all, docs/PAPER_NOTES.md #sam):
#   "one_plus_softplus" — β = 1 + softplus(raw) ≥ 1, the DNC's (the default, what every shipped model uses)
#   "softplus"          — β = softplus(raw) > 0, the NTM's
#   "fixed"             — β = 1, no learned strength: the read is softmax_k(cos) and the raw value is unused
KEY_STRENGTHS = ("one_plus_softplus", "softplus", "fixed")
DEFAULT_KEY_STRENGTH = "one_plus_softplus"


def strength(raw: torch.Tensor, form: str = DEFAULT_KEY_STRENGTH) -> torch.Tensor:
    """Key strength β from the raw interface value, by `form` (KEY_STRENGTHS; default 1 + softplus(raw) ≥ 1)."""
    if form == "one_plus_softplus":
        return 1 + F.softplus(raw)
    if form == "softplus":
        return F.softplus(raw)
    if form == "fixed":
        return torch.ones_like(raw)
    raise ValueError(f"unknown key strength {form!r}; choose one of {', '.join(KEY_STRENGTHS)}")


def strength_slope(raw: torch.Tensor, form: str = DEFAULT_KEY_STRENGTH) -> torch.Tensor:
    """dβ/d raw of strength(raw, form): sigmoid(raw) for both softplus forms (d softplus = sigmoid), 0 if fixed."""
    return torch.zeros_like(raw) if form == "fixed" else torch.sigmoid(raw)


def split_interface(interface: torch.Tensor, sizes: dict) -> dict:
    """Cut a controller interface vector [B, Σ sizes] into named pieces [B, size] in the order given."""
    pieces = torch.split(interface, list(sizes.values()), dim=-1)
    return dict(zip(sizes.keys(), pieces, strict=True))


def sparse_read(query: torch.Tensor, strength_raw: torch.Tensor, rows: torch.Tensor,
                key_strength: str = DEFAULT_KEY_STRENGTH) -> tuple:
    """SAM's sparse read in one autograd node: weights = softmax_k(β·cos(q, M(s_k))), r = Σ_k w_k M(s_k).

    query [B, H, W], strength_raw [B, H] (β = strength(raw, key_strength)), rows [B, H, K, W] -> (weights
    [B, H, K], reads [B, H, W]). Exactly the composition of cosine_similarity_rows, strength and
    sparse_read_weights (tests/test_addressing.py checks values and gradients against it); fused with a
    hand-written backward because each small autograd node costs microseconds and this runs every step of SAM.
    """
    return _SparseRead.apply(query, strength_raw, rows, key_strength)   # strength() refuses an unknown form


class _SparseRead(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, strength_raw, rows, key_strength):
        ctx.key_strength = key_strength
        query_norm = torch.linalg.vector_norm(query, dim=-1)                   # [B, H]
        row_norms = torch.linalg.vector_norm(rows, dim=-1)                     # [B, H, K]
        dot = torch.matmul(rows, query.unsqueeze(-1)).squeeze(-1)              # [B, H, K]
        denominator = query_norm.unsqueeze(-1) * row_norms + EPSILON
        similarity = dot / denominator
        beta = strength(strength_raw, key_strength)
        weights = torch.softmax(beta.unsqueeze(-1) * similarity, dim=-1)
        reads = torch.matmul(weights.unsqueeze(-2), rows).squeeze(-2)         # [B, H, W]
        ctx.save_for_backward(query, strength_raw, rows, query_norm, row_norms, dot, denominator,
                              similarity, beta, weights)
        return weights, reads

    @staticmethod
    def backward(ctx, grad_weights, grad_reads):
        (query, strength_raw, rows, query_norm, row_norms, dot, denominator,
         similarity, beta, weights) = ctx.saved_tensors
        # total gradient reaching each weight: directly, and through r = Σ w_k m_k
        total = grad_weights + torch.matmul(rows, grad_reads.unsqueeze(-1)).squeeze(-1)       # [B, H, K]
        grad_logits = weights * (total - (weights * total).sum(-1, keepdim=True))            # softmax backward
        grad_strength_raw = (grad_logits * similarity).sum(-1) * strength_slope(strength_raw, ctx.key_strength)
        grad_similarity = beta.unsqueeze(-1) * grad_logits
        # s = d / D with d = m·q and D = |q||m| + ε
        over_d = grad_similarity / denominator                                               # ∂L/∂d
        over_big_d = grad_similarity * dot / denominator.square()                            # −∂L/∂D
        tiny = torch.finfo(query.dtype).tiny
        grad_query = (torch.matmul(over_d.unsqueeze(-2), rows).squeeze(-2)
                      - ((over_big_d * row_norms).sum(-1) / query_norm.clamp_min(tiny)).unsqueeze(-1) * query)
        grad_rows = (weights.unsqueeze(-1) * grad_reads.unsqueeze(-2)
                     + over_d.unsqueeze(-1) * query.unsqueeze(-2)
                     - (over_big_d * query_norm.unsqueeze(-1) / row_norms.clamp_min(tiny)).unsqueeze(-1) * rows)
        return grad_query, grad_strength_raw, grad_rows, None
