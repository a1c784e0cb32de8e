"""Recipes: defaults resolved per backbone, the paper's recipe one flag away, new parts faster."""

from __future__ import annotations

import json

import pytest
import torch

from training.__main__ import TRAIN_GROUPS, parse
from training.args import ModelArguments, RecipeArguments
from training.backbone import load_classifier, pooler_is_trained, resolve_pooling
from training.optimizer import scale_new_parameters
from training.recipes import RECIPES, get_recipe


def recipe_args(*argv: str) -> RecipeArguments:
    _, (_, _, recipe, _), _ = parse(TRAIN_GROUPS, ["--output-dir", "x", *argv], "test", "")
    return recipe


def test_unset_options_take_the_recipe_and_given_ones_win():
    default = recipe_args()
    assert (default.recipe, default.learning_rate, default.epochs) == ("default", 1e-4, 3.0)
    assert default.new_parameters_lr_scale == 10.0 and default.pooling == "auto"
    paper = recipe_args("--recipe", "paper")
    assert (paper.learning_rate, paper.new_parameters_lr_scale, paper.pooling) == (
        2e-5, 1.0, "pooler"
    )  # fmt: skip
    mixed = recipe_args("--recipe", "paper", "--learning-rate", "5e-5", "--pooling", "mean")
    assert (mixed.learning_rate, mixed.pooling, mixed.epochs) == (5e-5, "mean", 3.0)
    with pytest.raises(ValueError, match="default, paper"):
        get_recipe("fast")


def test_pooling_is_resolved_per_backbone(tiny_base_model, tmp_path):
    """A sentence-transformers checkpoint that pools by mean has an untrained [CLS] pooler."""
    assert pooler_is_trained(str(tiny_base_model))
    assert resolve_pooling("auto", str(tiny_base_model)) == "pooler"
    (tmp_path / "1_Pooling").mkdir()
    config = {"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(config))
    assert resolve_pooling("auto", str(tmp_path)) == "mean"
    assert resolve_pooling("pooler", str(tmp_path)) == "pooler"
    config["pooling_mode_cls_token"] = True
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(config))
    assert resolve_pooling("auto", str(tmp_path)) == "pooler"


def test_the_shipped_backbone_pools_by_mean_under_the_default_recipe():
    from training.backbone import default_base_model

    assert resolve_pooling(RECIPES["default"].pooling, default_base_model()) == "mean"


COMBINING_PARTS = ("classifier.", "bert.combination_tokens", "bert.encoder.layer.2.")


@pytest.mark.parametrize(
    ("variant", "new_prefixes"), [("bert", ("classifier.",)), ("pfc", COMBINING_PARTS)]
)
def test_the_parameters_the_checkpoint_lacks_are_the_new_ones(
    tiny_base_model, variant, new_prefixes
):
    args = ModelArguments(base_model=str(tiny_base_model), variant=variant, combine_layer=3)
    model, new = load_classifier(args, ["a", "b"], "mean")
    assert new and all(name.startswith(new_prefixes) for name in new)
    assert {n for n, _ in model.named_parameters() if n.startswith(new_prefixes)} == new


def test_an_inserted_combiner_is_the_only_new_part_of_the_encoder(tiny_base_model):
    """--insert-combiner keeps every pretrained layer: only the combiner, the combination
    tokens and the head are new (and so trained at the larger rate)."""
    args = ModelArguments(
        base_model=str(tiny_base_model), variant="pfc", combine_layer=3, insert_combiner=True
    )
    model, new = load_classifier(args, ["a", "b"], "mean")
    assert model.config.insert_combiner
    inserted = ("classifier.", "bert.combination_tokens", "bert.encoder.combiner.")
    assert {n for n, _ in model.named_parameters() if n.startswith(inserted)} == new
    with pytest.raises(ValueError, match="needs a variant with combining"):
        ModelArguments(variant="pf", insert_combiner=True)


def test_new_parameters_get_the_scaled_learning_rate():
    old, fresh = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    decayed = {"params": [old, fresh], "lr": 1e-4, "weight_decay": 0.01}
    groups = scale_new_parameters([decayed, {"params": [], "lr": 1e-4}], [fresh], 10.0)
    assert [(g["params"], g["lr"], g["new_parameters"]) for g in groups] == [
        ([old], 1e-4, False),
        ([fresh], pytest.approx(1e-3), True),
    ]
    assert all(g["weight_decay"] == 0.01 for g in groups)
