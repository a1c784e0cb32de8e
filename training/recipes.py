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
    """Values a run takes unless an option sets them.

    `new_parameters_lr_scale`: the learning rate of the parameters the checkpoint does not hold
    (classifier, combining module, combination tokens), as a multiple of `learning_rate`: they
    start from random values and need larger steps than the pretrained encoder.
    `pooling`: `auto` is mean pooling when the checkpoint's [CLS] pooler was not trained for
    what it is used for (`backbone.pooler_is_trained`), BERT's pooler otherwise.
    """

    name: str
    purpose: str
    learning_rate: float
    new_parameters_lr_scale: float
    pooling: str
    epochs: float = 3.0
    warmup_ratio: float = 0.1

    @property
    def summary(self) -> str:
        return (
            f"{self.purpose}: lr {self.learning_rate:g}, new parts at "
            f"{self.new_parameters_lr_scale:g}x, pooling {self.pooling}, {self.epochs:g} epochs"
        )


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe("default", "for the shipped MiniLM and small data sets", 1e-4, 10.0, "auto"),
        Recipe("paper", "the paper's bert-base recipe", 2e-5, 1.0, "pooler"),
    )
}
DEFAULT_RECIPE = "default"


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`; an unknown name is an error listing the known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]
