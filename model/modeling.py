"""The corebert encoder and classifier: BERT with key/value pruning and token combining.

Read top to bottom: attention over a chosen key/value set -> layer -> combining module ->
encoder (where pruning and combining are wired in, at one marked point per layer) -> model ->
sequence classifier. Parameter names follow `BertModel`, so every BERT checkpoint loads; only
the combination tokens, the combining module (which replaces layer Lc) and the classifier are new.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from transformers import AutoModel, AutoModelForSequenceClassification, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput, SequenceClassifierOutput
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertIntermediate,
    BertOutput,
    BertPooler,
    BertSelfOutput,
)

from . import reduction
from .configuration import CoreBertConfig
from .explanation import ExplanationTrace, TokenExplanation
from .fused_attention import fused_attention
from .variants import DEFAULT_VARIANT, NO_PRUNING


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, K) bool -> (B, 1, 1, K) bias: 0 where attended, the dtype's minimum where not."""
    bias = (~mask).to(dtype) * torch.finfo(dtype).min
    return bias[:, None, None, :]


def packed_linear(
    x: torch.Tensor, projections: tuple[nn.Linear, ...], with_bias: bool = True
) -> tuple[torch.Tensor, ...]:
    """Several projections of the same input as one matrix product (one MatMul in the exported
    graph: the concatenated weights fold into a single constant), split back per projection."""
    weight = torch.cat([projection.weight for projection in projections])
    bias = torch.cat([projection.bias for projection in projections]) if with_bias else None
    return nn.functional.linear(x, weight, bias).chunk(len(projections), dim=-1)


class CoreBertSelfAttention(nn.Module):
    """Multi-head attention whose keys/values come from a (pruned) token set of their own."""

    def __init__(self, config: CoreBertConfig):
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(
                f"hidden_size {config.hidden_size} is not a multiple of "
                f"num_attention_heads {config.num_attention_heads}"
            )
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.scale = self.head_size**-0.5
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)

    def forward(
        self,
        queries: torch.Tensor,
        keys_values: torch.Tensor,
        key_mask: torch.Tensor | None,
        query_mask: torch.Tensor | None = None,
        key_bias: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """queries (B, Q, D), keys_values (B, K, D), key_mask (B, K) bool or None (no mask);
        key_bias (B, K): added to every query's logit of that key (proportional attention).

        Returns the context (B, Q, D) and, when `query_mask` (B, Q) is given, the attention each
        key received from the real queries (B, K), from which the encoder scores importance.
        Keys and values are projected for the K kept tokens only: pruning saves projection
        work as well as attention work. At inference a layer that scores nothing runs as one
        fused attention operator (`fused_attention`).
        """
        if query_mask is None and key_bias is None and not self.training:
            return self._fused(queries, keys_values, key_mask), None
        q, k, v = (self._heads(x) for x in self._project(queries, keys_values))  # (B, H, *, hs)
        logits = (q @ k.transpose(-1, -2)) * self.scale  # (B, H, Q, K)
        if key_bias is not None:
            logits = logits + key_bias[:, None, None, :].to(logits.dtype)
        if key_mask is not None:
            logits = logits + additive_mask(key_mask, logits.dtype)
        probs = torch.softmax(logits, dim=-1)
        context = self.dropout(probs) @ v  # (B, H, Q, hs)
        received = None if query_mask is None else reduction.received_attention(probs, query_mask)
        batch, _, length, _ = context.shape
        return context.transpose(1, 2).reshape(batch, length, -1), received

    def _project(
        self, queries: torch.Tensor, keys_values: torch.Tensor, with_bias: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q, K, V. At inference the projections that read one input share one matrix product:
        Q/K/V where the queries are the keys/values, K/V over the kept tokens otherwise."""
        if self.training:
            return self.query(queries), self.key(keys_values), self.value(keys_values)
        if queries is keys_values:
            q, k, v = packed_linear(queries, (self.query, self.key, self.value), with_bias)
            return q, k, v
        q = nn.functional.linear(queries, self.query.weight, self.query.bias if with_bias else None)
        k, v = packed_linear(keys_values, (self.key, self.value), with_bias)
        return q, k, v

    def _fused(
        self, queries: torch.Tensor, keys_values: torch.Tensor, key_mask: torch.Tensor | None
    ) -> torch.Tensor:
        q, k, v = self._project(queries, keys_values, with_bias=False)
        bias = torch.cat([self.query.bias, self.key.bias, self.value.bias])
        return fused_attention(q, k, v, bias, key_mask, self.num_heads)


class CoreBertAttention(nn.Module):
    def __init__(self, config: CoreBertConfig):
        super().__init__()
        self.self = CoreBertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, queries, keys_values, key_mask, query_mask=None, key_bias=None):
        context, received = self.self(queries, keys_values, key_mask, query_mask, key_bias)
        return self.output(context, queries), received


class CoreBertLayer(nn.Module):
    """A BERT layer. Every token is a query and goes through the FFN; only keys/values shrink."""

    def __init__(self, config: CoreBertConfig):
        super().__init__()
        self.attention = CoreBertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden, keys_values, key_mask, query_mask=None, key_bias=None):
        attended, received = self.attention(hidden, keys_values, key_mask, query_mask, key_bias)
        return self.output(self.intermediate(attended), attended), received


class IdentityInitLinear(nn.Linear):
    """A square linear map initialised to the identity (see CoreBertPreTrainedModel)."""


class TokenCombiner(nn.Module):
    """Token-combining module (docs/method.md): folds the document tokens into m combination tokens.

        logits[i, j] = (W_q LN(c_i)) . (W_k LN(e_j)) / sqrt(D)
        HA           = hard assignment of each token j to one i (Gumbel-softmax, straight-through)
        c_i'         = c_i + W_o( sum_j HA[i, j] W_v LN(e_j) / (sum_j HA[i, j] + eps) )

    (`reduction.group_tokens` holds HA and the normalised sum.) It replaces BERT layer Lc (with
    `insert_combiner`, it runs before it); only the m combined tokens go on. Of its projections
    only W_k reads the document tokens (`DOCUMENT_SIDE`, with the norm before it): W_v is
    applied after pooling (`group_values`).
    """

    DOCUMENT_SIDE = ("token_norm", "key")  # submodules that run on the N document tokens

    def __init__(self, config: CoreBertConfig):
        super().__init__()
        size = config.hidden_size
        self.token_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.combination_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.query = nn.Linear(size, size)
        self.key = nn.Linear(size, size)
        # Identity at initialisation: from the first step each combined token carries the mean
        # of its group's token states, so the layers after Lc see the document (docs/design.md).
        self.value = IdentityInitLinear(size, size)
        self.output = IdentityInitLinear(size, size)
        self.tau = config.gumbel_tau
        self.scale = 1.0 / math.sqrt(size)

    def forward(
        self, tokens: torch.Tensor, combination: torch.Tensor, token_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, N, D), combination (B, m, D), token_mask (B, N) bool.

        Returns the combined tokens (B, m, D) and the assignment HA (B, m, N).
        """
        normed_tokens = self.token_norm(tokens)
        queries = self.query(self.combination_norm(combination))  # (B, m, D)
        logits = queries @ self.key(normed_tokens).transpose(1, 2) * self.scale  # (B, m, N)
        grouped, assignment = reduction.group_tokens(
            logits, normed_tokens, token_mask, self.tau, self.training
        )
        return combination + self.output(self.group_values(grouped, assignment)), assignment

    def group_values(self, grouped: torch.Tensor, assignment: torch.Tensor) -> torch.Tensor:
        """sum_j HA[i, j] W_v LN(e_j) / (size_i + eps), from the pooled LN(e_j) (`grouped`): W_v
        is linear and group i's weights sum to size_i / (size_i + eps), so W_v runs on the m
        combined tokens instead of the N document tokens; the same values and gradients."""
        sizes = assignment.sum(dim=-1, keepdim=True)  # (B, m, 1)
        share = sizes / (sizes + reduction.GROUP_NORMALISATION_EPS)
        return nn.functional.linear(grouped, self.value.weight) + self.value.bias * share


@dataclass
class KeyValueSet:
    """The document tokens a layer may attend to: positions into the sequence, and validity."""

    index: torch.Tensor | None  # (B, K) positions, or None for "all N positions"
    mask: torch.Tensor  # (B, K) bool

    def tokens(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden if self.index is None else reduction.gather_tokens(hidden, self.index)

    def counts(self) -> torch.Tensor:
        return self.mask.sum(dim=-1)

    def is_first_token(self) -> torch.Tensor:
        """(B, K) bool: the slot holding position 0, the [CLS] token."""
        if self.index is None:
            slots = torch.arange(self.mask.shape[1], device=self.mask.device)
            return (slots == 0).unsqueeze(0).expand_as(self.mask)
        return self.index == 0

    def narrowed(self, slot_index: torch.Tensor, slot_mask: torch.Tensor) -> KeyValueSet:
        """The subset picked by `slot_index` (B, K') into this set's slots."""
        index = slot_index if self.index is None else self.index.gather(1, slot_index)
        return KeyValueSet(index=index, mask=slot_mask)


def masked_mean(hidden: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
    """hidden (B, N, D), token_mask (B, N) bool -> the mean of the real tokens (B, D)."""
    weights = token_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class EncodedDocument(NamedTuple):
    """What the encoder hands the pooling: the final hidden states ((B, N, D), or (B, m, D)
    with combining), the kept key/value counts (B, L), with `proportional_attention` each
    combined token's group size (B, m), and with `skip_pooling` the document tokens' mean as
    they entered the combining module (B, D)."""

    hidden: torch.Tensor
    kept_counts: torch.Tensor
    group_sizes: torch.Tensor | None = None
    skip_mean: torch.Tensor | None = None


class CoreBertEncoder(nn.Module):
    """Layers 1..Lc-1 attend over a shrinking key/value set; layer Lc combines; the rest see m.

    `layer` keeps BertModel's parameter names, so every BERT checkpoint loads. The combining
    module replaces `layer[Lc - 1]`, or with `insert_combiner` sits beside the layers as
    `combiner` and every BERT layer stays.
    """

    def __init__(self, config: CoreBertConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [CoreBertLayer(config) for _ in range(config.num_hidden_layers)]
        self.combiner = None
        if config.combine_layer is not None and config.insert_combiner:
            self.combiner = TokenCombiner(config)
        elif config.combine_layer is not None:
            layers[config.combine_layer - 1] = TokenCombiner(config)
        self.layer = nn.ModuleList(layers)
        self.pruning_rule = (
            None if config.pruning == NO_PRUNING else reduction.pruning_rule(config.pruning)
        )

    def forward(
        self,
        hidden: torch.Tensor,
        token_mask: torch.Tensor,
        trace: ExplanationTrace | None = None,
        states: list[torch.Tensor] | None = None,
    ) -> EncodedDocument:
        """hidden (B, N + m, D): document tokens then combination tokens; token_mask (B, N) bool.

        Returns the final hidden states ((B, N, D) without combining, (B, m, D) with it), the
        kept_kv_counts (B, L): document tokens each layer could attend to (0 from Lc on), and
        what `proportional_attention` and `skip_pooling` pool with (`EncodedDocument`). A
        `trace` (explain only) records what the layers knew of each token; `states` (a list)
        receives the document tokens' states (B, N, D) after each layer before Lc.
        """
        hidden, kept_counts = self.pruning_layers(hidden, token_mask, trace, states)
        if self.config.combine_layer is None:
            return EncodedDocument(hidden, kept_counts)
        num_positions = token_mask.shape[1]
        documents = hidden[:, :num_positions]
        hidden, assignment = self.token_combiner(documents, hidden[:, num_positions:], token_mask)
        if trace is not None:
            trace.combined(assignment)
        # The hard assignment's forward values are 0/1: a group's size is a count. Not learned
        # through (as ToMe's sizes are not).
        sizes = assignment.sum(dim=-1).detach() if self.config.proportional_attention else None
        hidden = self.combined_layers(hidden, sizes)  # (B, m, D)
        folded = kept_counts.new_zeros(kept_counts.shape[0], self.num_combined_layers)
        return EncodedDocument(
            hidden,
            torch.cat([kept_counts, folded], dim=1),
            group_sizes=sizes,
            skip_mean=masked_mean(documents, token_mask) if self.config.skip_pooling else None,
        )

    @property
    def token_combiner(self) -> nn.Module:
        """The combining module: `combiner` where it is inserted, else layer Lc."""
        if self.combiner is not None:
            return self.combiner
        assert self.config.combine_layer is not None, "only a model with combining has one"
        return self.layer[self.config.combine_layer - 1]

    @property
    def num_combined_layers(self) -> int:
        """Layer Lc and the layers after it: they see the m combined tokens, no document token
        (with `insert_combiner` layer Lc is a BERT layer over them, else the combining module)."""
        return self.config.num_hidden_layers - self.config.num_pruning_layers

    def pruning_layers(
        self,
        hidden: torch.Tensor,
        token_mask: torch.Tensor,
        trace: ExplanationTrace | None = None,
        states: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Layers 1..Lc-1: every token is a query (with `prune_queries`, only the kept ones);
        keys/values come from a shrinking set.

        hidden (B, N + m, D). Returns hidden (B, N + m, D) and the kept counts (B, Lc - 1).
        With a `trace`, the last of these layers scores its keys/values too (for the trace
        only: nothing is pruned after it).
        """
        num_positions = token_mask.shape[1]
        combination_mask = torch.ones_like(hidden[:, num_positions:, 0], dtype=torch.bool)
        query_mask = torch.cat([token_mask, combination_mask], dim=1)  # (B, N + m)
        kv = KeyValueSet(index=None, mask=token_mask)
        kept_counts = []
        for number in range(1, self.config.num_pruning_layers + 1):
            kept_counts.append(kv.counts())
            keys_values, key_mask = self.keys_values(hidden, kv, query_mask, num_positions)
            last = number == self.config.num_pruning_layers
            scoring = self.prunes_after(number) or (trace is not None and last)
            if self.config.prune_queries and kv.index is not None:
                hidden, received = self.kept_tokens_layer(
                    number, hidden, kv, keys_values, key_mask, scoring
                )
                queries_mask = key_mask  # the kept tokens and the combination tokens
            else:
                hidden, received = self.layer[number - 1](
                    hidden, keys_values, key_mask, query_mask if scoring else None
                )
                queries_mask = query_mask
            if states is not None:
                states.append(hidden[:, :num_positions])
            if trace is not None:
                trace.attended(kv.index, kv.mask)
            if received is None:
                continue
            scores = reduction.importance_scores(received, queries_mask, kv.mask.shape[1])
            if trace is not None:
                trace.scored(kv.index, kv.mask, scores)
            if self.prunes_after(number):
                kv = self.next_key_values(kv, scores)
        if not kept_counts:  # combining at layer 1
            return hidden, token_mask.new_zeros(token_mask.shape[0], 0, dtype=torch.long)
        return hidden, torch.stack(kept_counts, dim=1)

    def kept_tokens_layer(
        self,
        number: int,
        hidden: torch.Tensor,
        kv: KeyValueSet,
        keys_values: torch.Tensor,
        key_mask: torch.Tensor,
        scoring: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`prune_queries`: layer `number` over `keys_values` alone, the kept tokens then the
        combination tokens (B, K + m, D), as queries too; the dropped tokens keep their states."""
        updated, received = self.layer[number - 1](
            keys_values, keys_values, key_mask, key_mask if scoring else None
        )
        assert kv.index is not None, "called only once a layer has pruned"
        num_kept = kv.mask.shape[1]
        num_positions = hidden.shape[1] - (keys_values.shape[1] - num_kept)
        # A slot past a document's budget holds a token that was not kept: its old state stays.
        kept = torch.where(kv.mask.unsqueeze(-1), updated[:, :num_kept], keys_values[:, :num_kept])
        slots = kv.index.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        documents = hidden[:, :num_positions].scatter(1, slots, kept)  # only kept tokens change
        return torch.cat([documents, updated[:, num_kept:]], dim=1), received

    @staticmethod
    def keys_values(
        hidden: torch.Tensor, kv: KeyValueSet, query_mask: torch.Tensor, num_positions: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The kept document tokens then the combination tokens (B, K + m, D), and their mask.

        Before any pruning that is `hidden` itself: the same tensor as the queries, so the
        layer projects Q, K and V in one matrix product.
        """
        if kv.index is None:
            return hidden, query_mask
        combination = hidden[:, num_positions:]
        keys_values = torch.cat([kv.tokens(hidden[:, :num_positions]), combination], dim=1)
        return keys_values, torch.cat([kv.mask, query_mask[:, num_positions:]], dim=1)

    def combined_layers(self, hidden: torch.Tensor, sizes: torch.Tensor | None) -> torch.Tensor:
        """Layers Lc+1..L (with `insert_combiner`, Lc..L): BERT layers over the m combined
        tokens, hidden (B, m, D). With group `sizes` (B, m), proportional attention: a key's
        logits gain log(size), and an empty group is no key (ToMe, tome/patch/timm.py,
        `ToMeAttention`: `attn + size.log()`)."""
        combine_layer = self.config.combine_layer
        assert combine_layer is not None, "only a model with combining has combined layers"
        first = combine_layer - 1 if self.config.insert_combiner else combine_layer
        key_mask = key_bias = None
        if sizes is not None:
            key_mask, key_bias = sizes > 0, sizes.clamp(min=1.0).log()
        for layer in self.layer[first:]:
            hidden, _ = layer(hidden, hidden, key_mask, key_bias=key_bias)
        return hidden

    def prunes_after(self, number: int) -> bool:
        """Whether layer `number` (1-based) chooses the keys/values of the next layer."""
        return self.pruning_rule is not None and number < self.config.num_pruning_layers

    def next_key_values(self, kv: KeyValueSet, scores: torch.Tensor) -> KeyValueSet:
        """The pruning point: layer l's importance scores (B, K) pick the keys/values of
        layer l+1."""
        protected = kv.is_first_token()
        assert self.pruning_rule is not None, "called only where prunes_after() holds"
        keep = self.pruning_rule(scores, kv.mask & ~protected, kv.counts(), self.config)
        slot_index, slot_mask = reduction.select_top_tokens(scores, kv.mask, keep, protected)
        return kv.narrowed(slot_index, slot_mask)


@dataclass
class CoreBertModelOutput(ModelOutput):
    """last_hidden_state: (B, N, D), or (B, m, D) with combining; kept_kv_counts: (B, L);
    explanation: per input position, when asked (`model.explanation`)."""

    last_hidden_state: torch.Tensor | None = None
    pooled_output: torch.Tensor | None = None
    kept_kv_counts: torch.Tensor | None = None
    explanation: TokenExplanation | None = None
    # With `output_hidden_states`: the embeddings, then each layer before Lc, document tokens
    # only (B, N, D), as BERT's hidden_states count them (what distillation matches).
    hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass
class CoreBertClassifierOutput(SequenceClassifierOutput):
    kept_kv_counts: torch.LongTensor | None = None
    explanation: TokenExplanation | None = None
    # With `output_hidden_states`: the vector the classifier reads (B, D), what distillation's
    # pooled term matches; left out otherwise, so that evaluation gathers logits alone.
    pooled_output: torch.Tensor | None = None


class CoreBertPreTrainedModel(PreTrainedModel):
    config_class = CoreBertConfig
    config: CoreBertConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, IdentityInitLinear):
            init.eye_(module.weight)
            init.zeros_(module.bias)
            return
        super()._init_weights(module)
        if isinstance(module, BertEmbeddings):
            positions = torch.arange(module.position_ids.shape[-1]).expand((1, -1))
            init.copy_(module.position_ids, positions)
            init.zeros_(module.token_type_ids)
        elif isinstance(module, CoreBertModel) and module.combination_tokens is not None:
            # LayerNorm-scale vectors, like the embeddings the layers expect (docs/design.md).
            init.normal_(module.combination_tokens, mean=0.0, std=1.0)


class CoreBertModel(CoreBertPreTrainedModel):
    """Embeddings ++ m combination tokens -> encoder -> pooled representation."""

    def __init__(self, config: CoreBertConfig):
        super().__init__(config)
        self.embeddings = BertEmbeddings(config)
        self.combination_tokens = None
        if config.combine_layer is not None:
            shape = (config.num_combination_tokens, config.hidden_size)
            self.combination_tokens = nn.Parameter(torch.zeros(shape))
        self.encoder = CoreBertEncoder(config)
        self.pooler = BertPooler(config) if config.pooling == "pooler" else None
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        explain: bool = False,
        output_hidden_states: bool = False,
    ) -> CoreBertModelOutput:
        """`explain`: also return, per input position, what the layers knew of each token
        (`model.explanation`); `output_hidden_states`: the document tokens' states up to Lc.
        Neither changes the logits."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        token_mask = attention_mask.bool()  # (B, N)
        trace = ExplanationTrace(token_mask) if explain else None
        hidden = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        states = [hidden] if output_hidden_states else None
        if self.combination_tokens is not None:
            combination = self.combination_tokens.unsqueeze(0).expand(hidden.shape[0], -1, -1)
            hidden = torch.cat([hidden, combination.to(hidden.dtype)], dim=1)  # (B, N + m, D)
        encoded = self.encoder(hidden, token_mask, trace, states)
        return CoreBertModelOutput(
            last_hidden_state=encoded.hidden,
            pooled_output=self.pool(encoded, token_mask),
            kept_kv_counts=encoded.kept_counts,
            explanation=None if trace is None else trace.explanation(),
            hidden_states=None if states is None else tuple(states),
        )

    def pool(self, encoded: EncodedDocument, token_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the m combined tokens (paper; with group sizes, their mean weighted by group
        size; with a skip mean, averaged with it), BERT's pooler on [CLS], or a masked mean."""
        hidden = encoded.hidden
        if self.combination_tokens is None:
            return masked_mean(hidden, token_mask) if self.pooler is None else self.pooler(hidden)
        if encoded.group_sizes is None:
            pooled = hidden.mean(dim=1)
        else:
            weights = encoded.group_sizes.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        if encoded.skip_mean is None:
            return pooled
        return (pooled + encoded.skip_mean) / 2


class CoreBertForSequenceClassification(CoreBertPreTrainedModel):
    """Sequence classification head, as `BertForSequenceClassification`: Trainer-ready."""

    # The loss is a per-batch mean: the Trainer must not rescale it by the number of processes.
    accepts_loss_kwargs = False

    def __init__(self, config: CoreBertConfig):
        super().__init__(config)
        if config.num_labels is None:
            raise ValueError("a classifier needs labels: config.num_labels is None")
        self.num_labels = config.num_labels
        self.bert = CoreBertModel(config)
        dropout = config.classifier_dropout
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @classmethod
    def from_backbone(cls, checkpoint: str, variant: str = DEFAULT_VARIANT, **options):
        """Load any BERT checkpoint (hub id or directory) as the given corebert variant.

        `from_pretrained` reserves its own `variant` argument (weight-file variants), hence this
        entry point: the encoder weights load, the new parts are freshly initialised. `options`
        are `CoreBertConfig` values (keep_ratio, combine_layer, num_labels, ...).
        """
        config = CoreBertConfig.from_backbone(checkpoint, variant, **options)
        return cls.from_pretrained(checkpoint, config=config)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        explain: bool = False,
        output_hidden_states: bool = False,
        **kwargs,
    ) -> CoreBertClassifierOutput:
        encoded = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            explain=explain,
            output_hidden_states=output_hidden_states,
        )
        logits = self.classifier(self.dropout(encoded.pooled_output))
        loss = None if labels is None else self.loss(logits, labels)
        return CoreBertClassifierOutput(
            loss=loss,
            logits=logits,
            kept_kv_counts=encoded.kept_kv_counts,
            explanation=encoded.explanation,
            hidden_states=encoded.hidden_states,
            pooled_output=encoded.pooled_output if output_hidden_states else None,
        )

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean over the batch: cross-entropy against class ids (B,), or for a multi-label
        model binary cross-entropy with logits against 0/1 targets (B, num_labels)."""
        if self.config.problem_type == "multi_label_classification":
            targets = labels.to(logits.dtype).view(-1, self.num_labels)
            return nn.functional.binary_cross_entropy_with_logits(logits, targets)
        return nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))


AutoModel.register(CoreBertConfig, CoreBertModel, exist_ok=True)
AutoModelForSequenceClassification.register(
    CoreBertConfig, CoreBertForSequenceClassification, exist_ok=True
)
