"""The variants of the method and their defaults, declared once (imports neither torch nor
transformers, so a command line can list them without loading a model).

A variant is a pruning rule (a name registered in `model.reduction.PRUNING_RULES`, or `none`)
plus whether token combining replaces a layer. docs/method.md describes the five the paper reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NO_PRUNING = "none"
PAPER_NUM_LAYERS = 12

# The paper's settings (docs/method.md); every entry point reads its defaults from here.
DEFAULT_KEEP_RATIO = 0.9
DEFAULT_FUZZY_QUANTILES = (0.25, 0.75)
DEFAULT_ALPHA_CUTS = (0.01, 0.9)
DEFAULT_NUM_COMBINATION_TOKENS = 8
DEFAULT_PAPER_COMBINE_LAYER = 11  # the paper's most accurate Lc, of 12 layers
DEFAULT_GUMBEL_TAU = 1.0
# Options beyond the paper that change only what happens at and after Lc: variants with
# combining only (`CoreBertConfig` and `python -m training train` name them alike).
COMBINING_OPTIONS = ("insert_combiner", "proportional_attention", "skip_pooling")


@dataclass(frozen=True)
class Variant:
    """One configuration of the method: which pruning rule runs, and whether tokens combine."""

    name: str
    pruning: str
    combining: bool
    summary: str


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("bert", NO_PRUNING, False, "baseline BERT"),
        Variant("p", "ratio", False, "ratio pruning of keys/values"),
        Variant("pf", "fuzzy", False, "fuzzy pruning of keys/values"),
        Variant("c", NO_PRUNING, True, "token combining"),
        Variant("pfc", "fuzzy", True, "fuzzy pruning + token combining"),
    )
}
DEFAULT_VARIANT = "pfc"


def get_variant(name: str) -> Variant:
    """The variant called `name`; an unknown name is an error listing the known ones."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; known variants: {', '.join(VARIANTS)}")
    return VARIANTS[name]


def variant_of(pruning: str, combining: bool) -> Variant:
    """The variant that prunes with `pruning` and combines when `combining`."""
    for variant in VARIANTS.values():
        if (variant.pruning, variant.combining) == (pruning, combining):
            return variant
    raise ValueError(f"no variant prunes with {pruning!r} and has combining={combining}")


def map_paper_layer(paper_layer: int, num_layers: int) -> int:
    """Map a layer index of the paper's 12-layer BERT onto a backbone with `num_layers` layers.

    `ceil(paper_layer * num_layers / 12)`: on a 6-layer MiniLM, Lc = 7 -> 4 and Lc = 11 -> 6.
    """
    if not 1 <= paper_layer <= PAPER_NUM_LAYERS:
        raise ValueError(f"paper_layer must be in 1..{PAPER_NUM_LAYERS}, got {paper_layer}")
    return max(1, math.ceil(paper_layer * num_layers / PAPER_NUM_LAYERS))
