"""Configuration of the corebert encoder: a BERT config plus the pruning and combining knobs."""

from __future__ import annotations

import math

from transformers import BertConfig

VARIANTS: dict[str, tuple[str, bool]] = {
    # name: (pruning mode, token combining on)
    "bert": ("none", False),
    "p": ("ratio", False),
    "pf": ("fuzzy", False),
    "c": ("none", True),
    "pfc": ("fuzzy", True),
}
PRUNING_MODES = ("none", "ratio", "fuzzy")
POOLING_MODES = ("pooler", "mean")
PAPER_NUM_LAYERS = 12
COREBERT_OPTIONS = (
    "variant",
    "pruning",
    "keep_ratio",
    "fuzzy_quantiles",
    "alpha_cuts",
    "combine_layer",
    "num_combination_tokens",
    "pooling",
    "gumbel_tau",
)


def map_paper_layer(paper_layer: int, num_layers: int) -> int:
    """Map a layer index of the paper's 12-layer BERT onto a backbone with `num_layers` layers.

    `ceil(paper_layer * num_layers / 12)`: on a 6-layer MiniLM, Lc = 7 -> 4 and Lc = 11 -> 6.
    """
    if not 1 <= paper_layer <= PAPER_NUM_LAYERS:
        raise ValueError(f"paper_layer must be in 1..12, got {paper_layer}")
    return max(1, math.ceil(paper_layer * num_layers / PAPER_NUM_LAYERS))


def _variant_of(pruning: str, combining: bool) -> str:
    for name, preset in VARIANTS.items():
        if preset == (pruning, combining):
            return name
    raise ValueError(f"no variant prunes with {pruning!r} and combining={combining}")


class CoreBertConfig(BertConfig):
    """BERT configuration extended with fuzzy token pruning and token combining.

    Every BERT argument is accepted unchanged, so any BERT checkpoint's `config.json` loads.

    Args:
        variant: one of `bert`, `p`, `pf`, `c`, `pfc` (paper.md); it sets `pruning` and whether
            combining is on. `combine_layer` is ignored by the variants without combining.
        pruning: `none`, `ratio` (top-k by importance) or `fuzzy` (ratio budget applied only to
            the fuzzy-unimportant tokens); derived from `variant`, checked when both are given.
        keep_ratio: p, the per-layer preservation ratio: t(l+1) = floor(t(l) * p).
        fuzzy_quantiles: (a, b) quantiles of the importance scores that shape the memberships.
        alpha_cuts: (alpha_important, alpha_unimportant) alpha-cut levels.
        combine_layer: Lc, 1-based index of the BERT layer the combining module replaces, or None
            for no combining. For `c`/`pfc` without it: `ceil(11 * L / 12)` (the paper's best).
        num_combination_tokens: m, the learnable combination tokens.
        pooling: `pooler` ([CLS] through BERT's pooler, as BertForSequenceClassification) or
            `mean` (mean of the real tokens). With combining, the classifier always reads the
            mean of the m combined tokens (paper) and this must be `mean`.
        gumbel_tau: temperature of the Gumbel-softmax assignment in training.
    """

    model_type = "corebert"

    def __init__(
        self,
        variant: str | None = None,
        pruning: str | None = None,
        keep_ratio: float = 0.9,
        fuzzy_quantiles: tuple[float, float] | list[float] = (0.25, 0.75),
        alpha_cuts: tuple[float, float] | list[float] = (0.01, 0.9),
        combine_layer: int | None = None,
        num_combination_tokens: int = 8,
        pooling: str | None = None,
        gumbel_tau: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if variant is None:  # configs written without a variant name: derive it
            variant = _variant_of(pruning or "none", combine_layer is not None)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        preset_pruning, combining = VARIANTS[variant]
        if pruning is not None and pruning != preset_pruning:
            raise ValueError(
                f"variant {variant!r} uses pruning {preset_pruning!r}, got {pruning!r}"
            )
        self.pruning = preset_pruning
        if combining and combine_layer is None:
            combine_layer = map_paper_layer(11, self.num_hidden_layers)
        self.combine_layer = int(combine_layer) if combining else None
        self.keep_ratio = float(keep_ratio)
        self.fuzzy_quantiles = [float(q) for q in fuzzy_quantiles]
        self.alpha_cuts = [float(a) for a in alpha_cuts]
        self.num_combination_tokens = int(num_combination_tokens)
        self.pooling = pooling or ("mean" if self.combine_layer is not None else "pooler")
        self.gumbel_tau = float(gumbel_tau)
        self._validate()

    @property
    def variant(self) -> str:
        """The paper's name for this configuration (`bert`, `p`, `pf`, `c`, `pfc`)."""
        return _variant_of(self.pruning, self.combine_layer is not None)

    @property
    def num_pruning_layers(self) -> int:
        """Layers that run (possibly pruned) attention over document tokens."""
        if self.combine_layer is None:
            return self.num_hidden_layers
        return self.combine_layer - 1

    def _validate(self) -> None:
        if self.pruning not in PRUNING_MODES:
            raise ValueError(f"pruning must be one of {PRUNING_MODES}, got {self.pruning!r}")
        if not 0.0 < self.keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio must be in (0, 1], got {self.keep_ratio}")
        low, high = self.fuzzy_quantiles
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(f"fuzzy_quantiles must satisfy 0 <= a < b <= 1, got {low}, {high}")
        if not all(0.0 < a <= 1.0 for a in self.alpha_cuts) or len(self.alpha_cuts) != 2:
            raise ValueError(f"alpha_cuts must be two levels in (0, 1], got {self.alpha_cuts}")
        if self.combine_layer is not None:
            if not 1 <= self.combine_layer <= self.num_hidden_layers:
                raise ValueError(
                    f"combine_layer must be in 1..{self.num_hidden_layers}, "
                    f"got {self.combine_layer}"
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
        if self.pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
        if self.gumbel_tau <= 0:
            raise ValueError(f"gumbel_tau must be > 0, got {self.gumbel_tau}")

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """Like PretrainedConfig.from_dict, but corebert's own options go through `__init__`.

        So `CoreBertConfig.from_pretrained("bert-base-uncased", variant="pfc")` applies the
        variant's presets and validation. A new `variant` replaces the stored one's derived
        fields (pruning, combine_layer, pooling) unless those are given too.
        """
        config_dict = dict(config_dict)
        if "variant" in kwargs:
            for derived in ("pruning", "combine_layer", "pooling"):
                config_dict.pop(derived, None)
        for key in COREBERT_OPTIONS:
            if key in kwargs:
                config_dict[key] = kwargs.pop(key)
        return super().from_dict(config_dict, **kwargs)

    def to_dict(self) -> dict:
        output = super().to_dict()
        output["variant"] = self.variant
        return output
