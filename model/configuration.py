"""Configuration of the corebert encoder: a BERT config plus the pruning and combining knobs."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, BertConfig, PretrainedConfig

from . import variants
from .reduction import PRUNING_RULES

POOLING_MODES = ("pooler", "mean")
# transformers' names; None is single-label, as in BertForSequenceClassification's default.
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification")
# Keys of a base checkpoint's config that describe that checkpoint's class, not the network.
_BASE_CLASS_KEYS = ("model_type", "architectures", "transformers_version", "auto_map")


class CoreBertConfig(BertConfig):
    """BERT configuration extended with key/value pruning and token combining.

    A plain store of validated values: `for_variant` is the constructor that applies a variant's
    presets; `__init__` only checks. Every BERT argument is accepted unchanged, and
    `CoreBertConfig()` is plain BERT.

    Args:
        pruning: `none` or a rule of `model.reduction.PRUNING_RULES` (`ratio`: top-k by
            importance; `fuzzy`: the ratio budget applied only to fuzzy-unimportant tokens).
        keep_ratio: p, the per-layer preservation ratio: t(l+1) = floor(t(l) * p).
        fuzzy_quantiles: (a, b) quantiles of the importance scores that shape the memberships.
        alpha_cuts: (alpha_important, alpha_unimportant) alpha-cut levels.
        combine_layer: Lc, 1-based index of the BERT layer the combining module replaces (or,
            with `insert_combiner`, runs before), or None for no combining.
        num_combination_tokens: m, the learnable combination tokens.
        pooling: `pooler` ([CLS] through BERT's pooler, as BertForSequenceClassification) or
            `mean` (mean of the real tokens). With combining, the classifier always reads the
            mean of the m combined tokens (docs/method.md) and this must be `mean`.
        gumbel_tau: temperature of the Gumbel-softmax assignment in training.
        prune_queries: beyond the paper: a token a layer drops from the keys/values also stops
            being a query and skips the FFN from then on; it keeps its last hidden state, which
            still takes part in combining and pooling (docs/design.md).
        insert_combiner: beyond the paper: the combining module runs between layers Lc - 1 and
            Lc instead of replacing layer Lc, so every pretrained layer is kept; layers Lc..L
            run over the m combined tokens (one more layer over m tokens, docs/design.md).
        proportional_attention: beyond the paper: the layers after the combining module weigh
            each combined token by its group's size (ToMe's proportional attention: log size
            added to its attention logits, an empty group masked out), and the classifier reads
            their size-weighted mean, the document's mean when groups are their members' means
            (docs/design.md).
        skip_pooling: beyond the paper: the classifier reads the mean of two document vectors,
            the combined tokens' (as without it) and the document tokens' mean as they enter
            the combining module (a skip around the layers after Lc, docs/design.md).
        variant: accepted only to check a stored config: it must name what the values make.
        problem_type (a `PretrainedConfig` argument): `single_label_classification` (default:
            cross-entropy, softmax) or `multi_label_classification` (binary cross-entropy with
            logits, a sigmoid per label); the head and the ONNX graph are the same for both.
    """

    model_type = "corebert"

    def __init__(
        self,
        pruning: str = variants.NO_PRUNING,
        keep_ratio: float = variants.DEFAULT_KEEP_RATIO,
        fuzzy_quantiles: tuple[float, float] | list[float] = variants.DEFAULT_FUZZY_QUANTILES,
        alpha_cuts: tuple[float, float] | list[float] = variants.DEFAULT_ALPHA_CUTS,
        combine_layer: int | None = None,
        num_combination_tokens: int = variants.DEFAULT_NUM_COMBINATION_TOKENS,
        pooling: str = "pooler",
        gumbel_tau: float = variants.DEFAULT_GUMBEL_TAU,
        prune_queries: bool = False,
        insert_combiner: bool = False,
        proportional_attention: bool = False,
        skip_pooling: bool = False,
        variant: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.pruning = pruning
        self.keep_ratio = float(keep_ratio)
        self.fuzzy_quantiles = [float(q) for q in fuzzy_quantiles]
        self.alpha_cuts = [float(a) for a in alpha_cuts]
        self.combine_layer = None if combine_layer is None else int(combine_layer)
        self.num_combination_tokens = int(num_combination_tokens)
        self.pooling = pooling
        self.gumbel_tau = float(gumbel_tau)
        self.prune_queries = bool(prune_queries)
        self.insert_combiner = bool(insert_combiner)
        self.proportional_attention = bool(proportional_attention)
        self.skip_pooling = bool(skip_pooling)
        self._validate()
        if variant is not None and variant != self.variant:
            raise ValueError(
                f"variant {variant!r} does not match pruning {self.pruning!r} with "
                f"combine_layer {self.combine_layer}; build a variant with "
                f"CoreBertConfig.for_variant({variant!r}, ...)"
            )

    @classmethod
    def for_variant(
        cls, variant: str, base: PretrainedConfig | dict[str, Any] | None = None, **options
    ) -> CoreBertConfig:
        """The config of `variant` (bert, p, pf, c, pfc) on top of a BERT config.

        `base` is a BERT config (or its dict) whose architecture is kept; `options` override
        any value. A combining variant without `combine_layer` combines at the paper's Lc = 11
        mapped onto the backbone's depth, and pools the combined tokens.
        """
        preset = variants.get_variant(variant)
        values = _architecture_of(base)
        values.pop("variant", None)  # a corebert base: its variant is the one replaced
        values.update(options)
        values["pruning"] = preset.pruning
        if preset.combining:
            num_layers = int(values.get("num_hidden_layers", BertConfig().num_hidden_layers))
            if values.get("combine_layer") is None:
                values["combine_layer"] = variants.map_paper_layer(
                    variants.DEFAULT_PAPER_COMBINE_LAYER, num_layers
                )
            values.setdefault("pooling", "mean")
        else:
            values["combine_layer"] = None
            for option in variants.COMBINING_OPTIONS:
                values[option] = bool(options.get(option, False))
        return cls(**values)

    @classmethod
    def from_backbone(cls, checkpoint: str, variant: str, **options) -> CoreBertConfig:
        """The config of `variant` on the architecture of a BERT checkpoint (hub id or folder)."""
        return cls.for_variant(variant, AutoConfig.from_pretrained(checkpoint), **options)

    @property
    def variant(self) -> str:
        """The paper's name for this configuration (`bert`, `p`, `pf`, `c`, `pfc`)."""
        return variants.variant_of(self.pruning, self.combine_layer is not None).name

    @property
    def num_pruning_layers(self) -> int:
        """Layers that run (possibly pruned) attention over document tokens."""
        if self.combine_layer is None:
            return self.num_hidden_layers
        return self.combine_layer - 1

    def method_options(self) -> dict[str, Any]:
        """The values of the method (not of BERT), JSON-ready: what an artifact records."""
        return {
            "variant": self.variant,
            "pruning": self.pruning,
            "keep_ratio": self.keep_ratio,
            "fuzzy_quantiles": list(self.fuzzy_quantiles),
            "alpha_cuts": list(self.alpha_cuts),
            "combine_layer": self.combine_layer,
            "num_combination_tokens": self.num_combination_tokens,
            "pooling": self.pooling,
            "gumbel_tau": self.gumbel_tau,
            "prune_queries": self.prune_queries,
            "insert_combiner": self.insert_combiner,
            "proportional_attention": self.proportional_attention,
            "skip_pooling": self.skip_pooling,
        }

    def _validate(self) -> None:
        rules = (variants.NO_PRUNING, *PRUNING_RULES)
        if self.pruning not in rules:
            raise ValueError(f"pruning must be one of {rules}, got {self.pruning!r}")
        if not 0.0 < self.keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio must be in (0, 1], got {self.keep_ratio}")
        if len(self.fuzzy_quantiles) != 2 or not (
            0.0 <= self.fuzzy_quantiles[0] < self.fuzzy_quantiles[1] <= 1.0
        ):
            raise ValueError(f"fuzzy_quantiles must be 0 <= a < b <= 1, got {self.fuzzy_quantiles}")
        if len(self.alpha_cuts) != 2 or not all(0.0 < a <= 1.0 for a in self.alpha_cuts):
            raise ValueError(f"alpha_cuts must be two levels in (0, 1], got {self.alpha_cuts}")
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
        if self.gumbel_tau <= 0:
            raise ValueError(f"gumbel_tau must be > 0, got {self.gumbel_tau}")
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"problem_type must be one of {PROBLEM_TYPES}, got {self.problem_type!r}"
            )
        if self.combine_layer is not None:
            self._validate_combining(self.combine_layer)
        else:
            for option in variants.COMBINING_OPTIONS:
                if getattr(self, option):
                    raise ValueError(f"{option} needs combining: set combine_layer")

    def _validate_combining(self, combine_layer: int) -> None:
        if not 1 <= combine_layer <= self.num_hidden_layers:
            raise ValueError(
                f"combine_layer must be in 1..{self.num_hidden_layers}, got {combine_layer}"
            )
        if self.num_combination_tokens < 1:
            raise ValueError(
                f"num_combination_tokens must be >= 1, got {self.num_combination_tokens}"
            )
        if self.pooling != "mean":
            raise ValueError(
                f"with combining the classifier pools the combined tokens: pooling must be "
                f"'mean', got {self.pooling!r}"
            )

    def to_dict(self) -> dict:
        output = super().to_dict()
        output["variant"] = self.variant
        return output


def _architecture_of(base: PretrainedConfig | dict[str, Any] | None) -> dict[str, Any]:
    if base is None:
        return {}
    values = dict(base.to_dict() if isinstance(base, PretrainedConfig) else base)
    for key in _BASE_CLASS_KEYS:
        values.pop(key, None)
    return values


AutoConfig.register(CoreBertConfig.model_type, CoreBertConfig, exist_ok=True)
