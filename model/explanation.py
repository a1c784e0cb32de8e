"""Which tokens decided: per input position, what the forward pass already knows about it.

The pruning layers rank the document's tokens and drop the unimportant ones, the tokens that
survive to layer Lc are the core the model focused on, and the combining module puts every token
into one of the m groups. `ExplanationTrace` collects those facts while the encoder runs (only
when asked: the logits path records nothing) and turns them into three tensors, one value per
input position:

* `kept_layers` (B, N) int64: how many pruning layers (1 .. Lc-1, or all layers without
  combining) the token was a key/value of; every one of them for a token never pruned, 0 for
  padding.
* `importance` (B, N) float: the token's importance score (docs/method.md, eq. 1) in the last
  layer that scored it, divided by the largest score that layer gave one of the document's words
  ([CLS] and [SEP], attention sinks, left out) and capped at 1; 0 for padding. So the words the
  last layer ranked first score 1, and a token pruned earlier keeps the low rank it was pruned
  for (scores of different layers are not on one scale: later layers attend more to the sinks).
* `groups` (B, N) int64: the combination token the token was assigned to, -1 for padding or
  without combining.

Pure tensor code, no parameters; it exports to ONNX with the rest of the explain graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Keeps a document whose words all scored 0 (or that has none) from dividing by zero.
_MIN_NORMALISER = 1e-12


@dataclass
class TokenExplanation:
    """Per input position (B, N): see the module docstring."""

    kept_layers: torch.Tensor
    importance: torch.Tensor
    groups: torch.Tensor


def positions_of(index: torch.Tensor | None, slot_values: torch.Tensor, num_positions: int):
    """Values per key/value slot (B, K) placed at the slots' positions (B, N); 0 elsewhere.

    `index` (B, K) holds each slot's position, None for "slot k is position k". A document's
    slots hold distinct positions, so nothing is written twice.
    """
    if index is None:
        return slot_values
    placed = slot_values.new_zeros(slot_values.shape[0], num_positions)
    return placed.scatter(1, index, slot_values)


def relative_to_best_word(
    scores: torch.Tensor,
    slot_positions: torch.Tensor,
    slot_mask: torch.Tensor,
    lengths: torch.Tensor,
) -> torch.Tensor:
    """A layer's scores (B, K) divided by the largest it gave a word of the document (a slot
    that is neither [CLS], position 0, nor [SEP], position `lengths - 1`), capped at 1."""
    words = slot_mask & (slot_positions > 0) & (slot_positions < lengths.unsqueeze(1) - 1)
    largest = scores.masked_fill(~words, 0.0).amax(dim=1, keepdim=True)  # (B, 1)
    return (scores / largest.clamp(min=_MIN_NORMALISER)).clamp(max=1.0)


def assigned_groups(assignment: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
    """The combining module's hard assignment HA (B, m, N) -> each token's group (B, N), -1 on
    padding."""
    groups = assignment.argmax(dim=1)
    return groups.masked_fill(~token_mask, -1)


class ExplanationTrace:
    """Collects, layer by layer, which positions were keys/values and how they scored."""

    def __init__(self, token_mask: torch.Tensor):
        self.token_mask = token_mask  # (B, N) bool
        self.kept_layers = torch.zeros_like(token_mask, dtype=torch.long)
        self.importance = torch.zeros_like(token_mask, dtype=torch.float32)
        self.groups = torch.full_like(token_mask, -1, dtype=torch.long)

    @property
    def num_positions(self) -> int:
        return self.token_mask.shape[1]

    def attended(self, index: torch.Tensor | None, slot_mask: torch.Tensor) -> None:
        """A pruning layer attended to these key/value slots (index, mask: (B, K))."""
        kept = positions_of(index, slot_mask.long(), self.num_positions)
        self.kept_layers = self.kept_layers + kept

    def scored(self, index: torch.Tensor | None, slot_mask: torch.Tensor, scores: torch.Tensor):
        """A layer scored its key/value slots (scores (B, K)): these become the slots' latest."""
        slots = torch.arange(slot_mask.shape[1], device=slot_mask.device).expand_as(slot_mask)
        slot_positions = slots if index is None else index
        lengths = self.token_mask.sum(dim=1)
        relative = relative_to_best_word(scores, slot_positions, slot_mask, lengths)
        relative = relative.masked_fill(~slot_mask, 0.0).float()
        scored = positions_of(index, slot_mask.long(), self.num_positions) > 0
        placed = positions_of(index, relative, self.num_positions)
        self.importance = torch.where(scored, placed, self.importance)

    def combined(self, assignment: torch.Tensor) -> None:
        """The combining module assigned the tokens: HA (B, m, N)."""
        self.groups = assigned_groups(assignment, self.token_mask)

    def explanation(self) -> TokenExplanation:
        return TokenExplanation(
            kept_layers=self.kept_layers,
            importance=self.importance.masked_fill(~self.token_mask, 0.0),
            groups=self.groups,
        )
