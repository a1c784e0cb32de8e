"""The maths of "focus on the core" as pure tensor functions (no modules, no state).

Importance scores, per-document budgets, fuzzy sets, key/value selection, and the hard token
assignment of the combining module. Every function works on a batch of documents with its own
lengths and never lets one document's padding or neighbours change another's result. Everything
here exports to ONNX: data-dependent sizes go through `topk` with a tensor `k`.

Shapes: B batch, H heads, Q queries, K key slots, N document positions, m combination tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

# Added before flooring t * p so that products which are integers in exact arithmetic (10 * 0.3)
# are not floored one below by binary rounding.
_FLOOR_EPSILON = 1e-9
# Added to each group's token count before dividing by it, as GroupViT does (transformers,
# models/groupvit/modeling_groupvit.py, GroupViTAssignAttention.forward:
# `attn / (attn.sum(dim=-1, keepdim=True) + self.assign_eps)`, with `assign_eps = 1.0` in
# configuration_groupvit.py). With a straight-through assignment an empty group has a hard sum of
# 0 and a soft gradient: the divisor must stay >= 1 or that gradient is amplified by 1 / eps.
GROUP_NORMALISATION_EPS = 1.0


def received_attention(attention_probs: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
    """Sum over the real queries i of the head-mean attention each key j receives.

    attention_probs: (B, H, Q, K); query_mask: (B, Q) bool. Returns (B, K) float.
    """
    head_mean = attention_probs.mean(dim=1)  # (B, Q, K)
    weights = query_mask.to(head_mean.dtype).unsqueeze(-1)  # (B, Q, 1)
    return (head_mean * weights).sum(dim=1)


def importance_scores(
    received: torch.Tensor, query_mask: torch.Tensor, num_slots: int | None = None
) -> torch.Tensor:
    """S[j] = mean over heads h and real queries i of A[h, i, j] (paper: S[l,h,j] = mean_i A).

    One shared score per key slot: heads are averaged so that a single set of keys/values is
    kept per layer (docs/design.md), and padding queries are excluded from the mean. Only the
    first `num_slots` keys are scored (the document tokens; the combination tokens follow).

    received: (B, K) from `received_attention`; query_mask: (B, Q) bool. Returns (B, num_slots).
    """
    real_queries = query_mask.sum(dim=-1, keepdim=True).clamp(min=1).to(received.dtype)
    return received[:, :num_slots] / real_queries


def ratio_budget(counts: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """t(l+1) = floor(t(l) * p), never below one token. counts: (B,) int64 -> (B,) int64."""
    scaled = counts.to(torch.float64) * keep_ratio + _FLOOR_EPSILON
    return torch.floor(scaled).to(torch.long).clamp(min=1)


def masked_quantile(values: torch.Tensor, mask: torch.Tensor, q: float) -> torch.Tensor:
    """Per-row q-quantile over the entries where `mask` is true, linear interpolation.

    Matches `torch.quantile(row[mask], q)` row by row. A row with no entries gives 0.
    values: (B, K) float; mask: (B, K) bool. Returns (B,) float.
    """
    return masked_quantiles(values, mask, (q,))[0]


def masked_quantiles(
    values: torch.Tensor, mask: torch.Tensor, qs: Sequence[float]
) -> tuple[torch.Tensor, ...]:
    """`masked_quantile` at each q of `qs`, from a single sort of each row (one Sort in the
    exported graph for both fuzzy quantiles of a layer, not one per quantile)."""
    filled = values.masked_fill(~mask, float("inf"))
    ordered = torch.sort(filled, dim=-1).values  # real entries first, ascending
    count = mask.sum(dim=-1)
    last = (count - 1).clamp(min=0).to(values.dtype)  # (B,)
    quantiles = []
    for q in qs:
        position = q * last
        lower = torch.floor(position)
        lower_value = ordered.gather(-1, lower.to(torch.long).unsqueeze(-1)).squeeze(-1)
        upper_index = torch.ceil(position).to(torch.long).unsqueeze(-1)
        upper_value = ordered.gather(-1, upper_index).squeeze(-1)
        quantile = lower_value + (position - lower) * (upper_value - lower_value)
        quantiles.append(torch.where(count > 0, quantile, torch.zeros_like(quantile)))
    return tuple(quantiles)


def fuzzy_memberships(
    scores: torch.Tensor, low: torch.Tensor, high: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Importance and unimportance memberships (paper, fuzzy pruning).

    mu_I(S) = 0 below a, (S - a) / (b - a) between, 1 above b;  mu_U = 1 - mu_I.
    When a == b the ramp collapses to a step at a: S <= a is unimportant, S > a important.
    scores: (B, K); low, high: (B,) the a and b of each row. Returns (mu_I, mu_U), both (B, K).
    """
    low = low.unsqueeze(-1)
    high = high.unsqueeze(-1)
    width = high - low
    ramp = (scores - low) / torch.where(width > 0, width, torch.ones_like(width))
    step = (scores > low).to(scores.dtype)
    importance = torch.where(width > 0, ramp.clamp(0.0, 1.0), step)
    return importance, 1.0 - importance


def fuzzy_prunable(
    scores: torch.Tensor,
    candidate_mask: torch.Tensor,
    quantiles: tuple[float, float] | list[float],
    alpha_cuts: tuple[float, float] | list[float],
) -> torch.Tensor:
    """Tokens the ratio budget may remove: candidates outside (I minus U) (paper, fuzzy pruning).

    a, b are the quantiles of each document's own candidate scores. I = {mu_I >= alpha_I},
    U = {mu_U >= alpha_U}. With (0.25, 0.75) and (0.01, 0.9) this is U, i.e. about
    S <= a + 0.1 (b - a): everything above that line is protected.
    scores, candidate_mask: (B, K). Returns (B, K) bool.
    """
    low, high = masked_quantiles(scores, candidate_mask, quantiles)
    importance, unimportance = fuzzy_memberships(scores, low, high)
    important = importance >= alpha_cuts[0]
    unimportant = unimportance >= alpha_cuts[1]
    return candidate_mask & ~(important & ~unimportant)


def fuzzy_budget(
    counts: torch.Tensor, prunable_counts: torch.Tensor, keep_ratio: float
) -> torch.Tensor:
    """Tokens kept under fuzzy pruning: the ratio budget removes at most the prunable ones.

    kept = t - min(t - floor(t * p), |prunable|). The prunable set is a lower set of the scores
    (everything under a threshold), so keeping the top `kept` tokens by score removes exactly
    the lowest-scoring prunable tokens, lowest first. counts, prunable_counts: (B,) int64.
    """
    removable = counts - ratio_budget(counts, keep_ratio)
    return counts - torch.minimum(removable, prunable_counts)


def select_top_tokens(
    scores: torch.Tensor,
    valid_mask: torch.Tensor,
    keep_counts: torch.Tensor,
    protected_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of each row's `keep_counts` highest-scoring valid slots, padded to the batch max.

    Protected slots ([CLS]) rank above every other, so they are always kept (as ToMe keeps its
    class token inside the matching); invalid slots rank below every valid one, so padding never
    outranks a real token. The returned width is max(keep_counts) and `kept_mask` marks which
    returned slots are real.
    scores, valid_mask, protected_mask: (B, K); keep_counts: (B,) int64.
    Returns kept_index (B, K') int64 into the K slots, kept_mask (B, K') bool.
    """
    ranked = scores.masked_fill(~valid_mask, float("-inf"))
    if protected_mask is not None:
        ranked = ranked.masked_fill(protected_mask & valid_mask, float("inf"))
    width = keep_counts.max()
    # (B, K'), best first. k stays a 0-d tensor (torch's stubs say int) so that the traced graph
    # keeps the width data-dependent.
    kept_index = torch.topk(ranked, width, dim=-1).indices  # type: ignore[arg-type]
    slots = torch.arange(kept_index.shape[-1], device=scores.device)
    kept_mask = slots.unsqueeze(0) < keep_counts.unsqueeze(-1)
    return kept_index, kept_mask


# A pruning rule: (scores (B, K), candidate_mask (B, K) bool, key_counts (B,) int64, config)
# -> how many keys/values each document keeps (B,) int64. Candidates are the kept slots a rule
# may remove ([CLS] is not one); key_counts counts every kept slot, [CLS] included.
PruningRule = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Any], torch.Tensor]


def ratio_rule(
    scores: torch.Tensor, candidate_mask: torch.Tensor, key_counts: torch.Tensor, config: Any
) -> torch.Tensor:
    """Ratio pruning (variant p): keep floor(t * p) of the t keys/values."""
    return ratio_budget(key_counts, config.keep_ratio)


def fuzzy_rule(
    scores: torch.Tensor, candidate_mask: torch.Tensor, key_counts: torch.Tensor, config: Any
) -> torch.Tensor:
    """Fuzzy pruning (variants pf, pfc): the ratio budget, capped at the fuzzy-prunable tokens."""
    prunable = fuzzy_prunable(scores, candidate_mask, config.fuzzy_quantiles, config.alpha_cuts)
    return fuzzy_budget(key_counts, prunable.sum(dim=-1), config.keep_ratio)


# The pruning rules a config may name (docs/design.md says how to add one).
PRUNING_RULES: dict[str, PruningRule] = {"ratio": ratio_rule, "fuzzy": fuzzy_rule}


def pruning_rule(name: str) -> PruningRule:
    """The rule registered as `name`; an unknown name is an error listing the known ones."""
    if name not in PRUNING_RULES:
        raise ValueError(f"unknown pruning rule {name!r}; known rules: {', '.join(PRUNING_RULES)}")
    return PRUNING_RULES[name]


def gather_tokens(hidden: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """hidden (B, N, D) at index (B, K') -> (B, K', D)."""
    return hidden.gather(1, index.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))


def hard_assignment(
    logits: torch.Tensor,
    token_mask: torch.Tensor,
    tau: float = 1.0,
    training: bool = False,
) -> torch.Tensor:
    """Assign each real token to one combination token (paper, token combining; GroupViT).

    Sim = softmax_i((logits + g) / tau) over the m combination tokens. In training, g ~ Gumbel(0, 1)
    and HA = one_hot(argmax_i Sim) + Sim - stop_grad(Sim): hard in the forward pass, the soft
    gradient in the backward pass. At inference HA = one_hot(argmax_i logits): deterministic, and
    nothing of the noise or the soft path is left in an exported graph. Padding columns are zeroed.
    logits: (B, m, N); token_mask: (B, N) bool. Returns HA (B, m, N).
    """
    slots = torch.arange(logits.shape[1], device=logits.device).view(1, -1, 1)
    token_weight = token_mask.unsqueeze(1).to(logits.dtype)  # (B, 1, N)
    if not training:
        winner = logits.argmax(dim=1, keepdim=True)  # softmax and 1/tau keep the argmax
        return (slots == winner).to(logits.dtype) * token_weight
    uniform = torch.rand_like(logits).clamp(1e-9, 1.0 - 1e-9)
    similarity = torch.softmax((logits - torch.log(-torch.log(uniform))) / tau, dim=1)
    winner = similarity.argmax(dim=1, keepdim=True)  # (B, 1, N)
    one_hot = (slots == winner).to(logits.dtype)
    return (one_hot + similarity - similarity.detach()) * token_weight


def group_tokens(
    logits: torch.Tensor,
    values: torch.Tensor,
    token_mask: torch.Tensor,
    tau: float = 1.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The combining module's grouping (docs/method.md, token combining):

        HA = hard_assignment(logits);  pooled_i = sum_j HA[i, j] v_j / (sum_j HA[i, j] + eps)

    with eps = `GROUP_NORMALISATION_EPS` (1.0, GroupViT's `assign_eps`), so a group that receives
    no token pools to zero and its soft gradient is not amplified.
    logits: (B, m, N); values: (B, N, D); token_mask: (B, N) bool.
    Returns pooled (B, m, D) and the assignment HA (B, m, N).
    """
    assignment = hard_assignment(logits, token_mask, tau, training)  # (B, m, N)
    group_sizes = assignment.sum(dim=-1, keepdim=True)  # (B, m, 1)
    pooled = (assignment @ values) / (group_sizes + GROUP_NORMALISATION_EPS)
    return pooled, assignment
