"""Training recipes: the defaults a run takes for what the command line leaves unset.

`default` is tuned for the backbone corebert ships (MiniLM-L6, sentence-transformers weights) on
small data sets; `paper` is the paper's recipe for bert-base (docs/method.md). docs/results.md
("Training recipes") holds the runs behind the choice. Imports neither torch nor transformers.
"""

from __future__ import annotations

from dataclasses import dataclass

POOLING_CHOICES = ("auto", "pooler", "mean")


@dataclass(frozen=True)
class Recipe:
    """Values a run takes unless an option sets them."""

    name: str
    learning_rate: float
    # Learning rate of the parameters the checkpoint does not hold (classifier, combining
    # module, combination tokens, an untrained pooler), as a multiple of `learning_rate`: they
    # start from random values and need larger steps than the pretrained encoder.
    new_parameters_lr_scale: float
    epochs: float
    warmup_ratio: float
    # `auto`: mean pooling when the checkpoint's [CLS] pooler was not trained for what it is
    # used for (backbone.pooler_is_trained), BERT's pooler otherwise.
    pooling: str
    summary: str


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "default",
            learning_rate=1e-4,
            new_parameters_lr_scale=10.0,
            epochs=3.0,
            warmup_ratio=0.1,
            pooling="auto",
            summary="for small backbones and small data sets: lr 1e-4, new parts at 10x, "
            "mean pooling when the checkpoint's pooler is untrained, 3 epochs",
        ),
        Recipe(
            "paper",
            learning_rate=2e-5,
            new_parameters_lr_scale=1.0,
            epochs=3.0,
            warmup_ratio=0.1,
            pooling="pooler",
            summary="the paper's bert-base recipe: lr 2e-5 for every parameter, BERT's pooler, "
            "3 epochs",
        ),
    )
}
DEFAULT_RECIPE = "default"


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; an unknown name is an error listing the known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]
