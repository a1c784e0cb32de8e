"""What the accuracy report measures: configurations, per-dataset settings, the paper's numbers.

A piece is one (dataset, configuration) trained under one `Settings`; its key names the record
`benchmarks/accuracy.py` writes and the report reads.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Configuration:
    """A variant and, for the combining ones, the paper's Lc (of 12 layers); `distilled`: trained
    with the `bert` piece of the same dataset and settings as its teacher (beyond the paper);
    `hidden`: the distillation also matches the teacher's hidden states before Lc;
    `keep_ratio`: p when it is not the paper's 0.9 (None: the training default); `inserted`:
    the combining module runs before layer Lc instead of replacing it (beyond the paper);
    `tokens`: m, the number of combination tokens, when it is not the paper's 8; `pooled`: the
    distillation also matches the vector the teacher's classifier reads (beyond the paper);
    `proportional`: the layers after Lc weigh each combined token by its group's size, and the
    classifier reads their size-weighted mean (beyond the paper); `skip`: the classifier also
    reads the document tokens' mean as they enter the combining module (beyond the paper);
    `epochs`: the piece's own epochs when not its settings' (its teachers keep the settings');
    `transfer`: the distillation also runs on that many times the labelled subset's size of the
    dataset's other training documents, through the teacher alone (a transfer set; a dataset
    used whole has none to give); `transfer_documents`: a transfer set of that many documents
    whatever the subset's size (at most one of the two); `teacher`: the configuration (a key of
    CONFIGS) whose piece of the same dataset and settings teaches it, when not `bert`'s."""

    variant: str
    paper_layer: int | None = None
    distilled: bool = False
    frozen: bool = False  # --prune-queries: dropped tokens stop being queries (beyond the paper)
    keep_ratio: float | None = None
    hidden: bool = False  # --distill-hidden-weight HIDDEN_WEIGHT (needs the teacher's checkpoint)
    inserted: bool = False  # --insert-combiner: every pretrained layer kept (beyond the paper)
    tokens: int | None = None  # --num-combination-tokens
    pooled: bool = False  # --distill-pooled-weight POOLED_WEIGHT (needs the teacher's checkpoint)
    proportional: bool = False  # --proportional-attention
    skip: bool = False  # --skip-pooling
    transfer: int | None = None  # --distill-transfer-samples transfer x max_train_samples
    transfer_documents: int | None = None  # --distill-transfer-samples transfer_documents
    teacher: str | None = None  # --distill-from that configuration's run (None: TEACHER_CONFIG)
    epochs: float | None = None  # --epochs for this piece alone (None: the settings')

    def __post_init__(self) -> None:
        if self.transfer is not None and self.transfer_documents is not None:
            raise ValueError("a transfer set is a multiple of the subset or a count, not both")
        if self.teacher is not None and not self.distilled:
            raise ValueError("only a distilled configuration has a teacher")

    @property
    def name(self) -> str:
        """`pfc (Lc=7)`: the name in the report's and the benchmarks' tables."""
        name = (
            self.variant if self.paper_layer is None else f"{self.variant} (Lc={self.paper_layer})"
        )
        name += "" if self.keep_ratio is None else f" (p={self.keep_ratio:g})"
        name += "" if self.tokens is None else f" (m={self.tokens})"
        name += " inserted" if self.inserted else ""
        name += " proportional" if self.proportional else ""
        name += " skip" if self.skip else ""
        name += " + KD" if self.distilled else ""
        name += "" if self.teacher is None else f" (teacher {self.teacher})"
        name += " + hidden" if self.hidden else ""
        name += " + pooled" if self.pooled else ""
        name += "" if self.transfer is None else f" + transfer x{self.transfer}"
        name += "" if self.transfer_documents is None else f" + transfer {self.transfer_documents}"
        name += "" if self.epochs is None else f" ({self.epochs:g} epochs)"
        return name + (" + frozen" if self.frozen else "")

    @property
    def teacher_config(self) -> str:
        """The key of CONFIGS whose piece teaches this one, if it is distilled."""
        return self.teacher or TEACHER_CONFIG

    @property
    def reads_teacher_weights(self) -> bool:
        """Whether its distillation runs the teacher in PyTorch (its checkpoint, not only its
        exported logits)."""
        return self.hidden or self.pooled

    @property
    def paper_row(self) -> str:
        """The paper's name for this row of its table (its baseline is `BERT`)."""
        return "BERT" if self == Configuration("bert") else self.name

    @property
    def options(self) -> tuple[str, ...]:
        """The `python -m training train` options that select it."""
        layer = () if self.paper_layer is None else ("--paper-combine-layer", str(self.paper_layer))
        frozen = ("--prune-queries",) if self.frozen else ()
        ratio = () if self.keep_ratio is None else ("--keep-ratio", f"{self.keep_ratio:g}")
        hidden = ("--distill-hidden-weight", f"{HIDDEN_WEIGHT:g}") if self.hidden else ()
        hidden += ("--distill-pooled-weight", f"{POOLED_WEIGHT:g}") if self.pooled else ()
        inserted = ("--insert-combiner",) if self.inserted else ()
        tokens = () if self.tokens is None else ("--num-combination-tokens", str(self.tokens))
        tokens += ("--proportional-attention",) if self.proportional else ()
        tokens += ("--skip-pooling",) if self.skip else ()
        return ("--variant", self.variant, *layer, *ratio, *tokens, *inserted, *frozen, *hidden)


HIDDEN_WEIGHT = 1.0  # of the hidden-state term, beside the logits' w = 0.5 and T = 2
POOLED_WEIGHT = 1.0  # of the pooled term, the same scale (a mean squared error per dimension)

# The paper's Lc (of 12 layers) is mapped onto MiniLM's 6 by ceil(Lc * 6 / 12): 11 -> 6, 9 -> 5,
# 7 -> 4, 5 -> 3. Lc = 9 is not in the paper: the point between its two on the speed/accuracy
# frontier; nor is Lc = 5, a point beyond them.
CONFIGS = {
    "bert": Configuration("bert"),
    "p": Configuration("p"),
    "pf": Configuration("pf"),
    "c-lc11": Configuration("c", 11),
    "pfc-lc11": Configuration("pfc", 11),
    "pfc-lc11-frozen": Configuration("pfc", 11, frozen=True),
    "pfc-lc9": Configuration("pfc", 9),
    "pfc-lc9-kd": Configuration("pfc", 9, distilled=True),
    "pfc-lc9-kd-frozen": Configuration("pfc", 9, distilled=True, frozen=True),
    "pfc-lc7": Configuration("pfc", 7),
    "pfc-lc7-kd": Configuration("pfc", 7, distilled=True),
    "pfc-lc7-kd-frozen": Configuration("pfc", 7, distilled=True, frozen=True),
    # Keep ratio 0.7 for the best of the Lc 7 and 9 pieces above: plain pfc (Lc=7), the one
    # Pareto-optimal on all three sets (docs/results.md, the frontier).
    "pfc-lc7-p07": Configuration("pfc", 7, keep_ratio=0.7),
    "pfc-lc7-kd-hidden": Configuration("pfc", 7, distilled=True, hidden=True),
    # On a 6-layer backbone the paper's layout drops one pretrained layer in six (layer 4 for
    # Lc = 7); inserted, the combiner keeps it for the price of one layer over m tokens.
    "pfc-lc7-inserted": Configuration("pfc", 7, inserted=True),
    # The paper found m = 8 best on bert-base; MiniLM's 384-wide tokens may need more of them to
    # carry a 20-class document past Lc, for a few more tokens in the layers after it.
    "pfc-lc7-m16": Configuration("pfc", 7, tokens=16),
    "pfc-lc7-m32": Configuration("pfc", 7, tokens=32),
    # After Lc the student's tokens have no counterpart in the teacher, but the vector its
    # classifier reads does: the teacher's pooled document.
    "pfc-lc7-kd-pooled": Configuration("pfc", 7, distilled=True, pooled=True),
    "pfc-lc7-kd-hidden-pooled": Configuration("pfc", 7, distilled=True, hidden=True, pooled=True),
    # Layers 5 and 6 were pretrained on whole sequences; weighed by group size, the 8 combined
    # tokens stand for the tokens they fold (ToMe's proportional attention).
    "pfc-lc7-prop": Configuration("pfc", 7, proportional=True),
    # `bert` classifies from the mean of every token after layer 6; after Lc the student's
    # classifier sees 8 tokens. The skip gives it the mean of every token at Lc's input too.
    "pfc-lc7-skip": Configuration("pfc", 7, skip=True),
    # The subsets leave most of IMDB's and 20 Newsgroups' training documents unused: the teacher
    # can speak for them, so the student sees 4x the documents at no labelling cost.
    "pfc-lc7-kd-transfer": Configuration("pfc", 7, distilled=True, transfer=3),
    # The control: `bert` distilled from itself on the same transfer set. Whatever it gains is
    # the documents', not the method's.
    "bert-kd-transfer": Configuration("bert", distilled=True, transfer=3),
    # One transfer set size for every dataset, near all 20 Newsgroups has left beyond its subset
    # (7,034): 3.5x the subset there, 7x on IMDB, whose gap the 3x set did not close.
    "pfc-lc7-kd-transfer7000": Configuration("pfc", 7, distilled=True, transfer_documents=7000),
    # The two levers that did most on IMDB at once: the hidden states before Lc, on the 3x set.
    "pfc-lc7-kd-hidden-transfer": Configuration("pfc", 7, distilled=True, hidden=True, transfer=3),
    # A better teacher: `bert` distilled from itself on the 3x set beats `bert` by 1.2 points on
    # IMDB, where the student trails its teacher most.
    "pfc-lc7-kd-transfer-from-kd": Configuration(
        "pfc", 7, distilled=True, transfer=3, teacher="bert-kd-transfer"
    ),
    # The same without fuzzy pruning before Lc: does dropping keys/values in layers 2-3 cost the
    # last point on IMDB, where the distilled chain stays about a point below `bert`?
    "c-lc7-kd-transfer-from-kd": Configuration(
        "c", 7, distilled=True, transfer=3, teacher="bert-kd-transfer"
    ),
    # The chain's student ended on its last checkpoint at both IMDB seeds, 1.5 points below its
    # teacher: twice the epochs for the student alone (its teachers are the same runs).
    "pfc-lc7-kd-transfer-from-kd-e4": Configuration(
        "pfc", 7, distilled=True, transfer=3, teacher="bert-kd-transfer", epochs=4.0
    ),
    # The fastest chain (no pruning before Lc) missed the margin on IMDB by 0.4 and on BBC News
    # by 0.2 with a 2-epoch student: the lever that brought pfc's chain within it.
    "c-lc7-kd-transfer-from-kd-e4": Configuration(
        "c", 7, distilled=True, transfer=3, teacher="bert-kd-transfer", epochs=4.0
    ),
    # No Lc = 7 graph reaches 2x int8 BERT (the moonshot): the pick's chain with combining one
    # pretrained layer earlier (Lc = 5 -> layer 3 of 6), where a third of the layers see every
    # token instead of half.
    "pfc-lc5-kd-transfer-from-kd-e4": Configuration(
        "pfc", 5, distilled=True, transfer=3, teacher="bert-kd-transfer", epochs=4.0
    ),
}
BASELINE_CONFIG = "bert"  # what every configuration is compared with
# A distilled piece's teacher: the baseline's piece of its dataset and settings, unless its
# configuration names another.
TEACHER_CONFIG = BASELINE_CONFIG
# The configurations some piece learns from: their runs keep their checkpoints.
TEACHER_CONFIGS = frozenset(
    config.teacher_config for config in CONFIGS.values() if config.distilled
)


def graph_of(config: Configuration) -> Configuration:
    """The configuration whose graph `config` runs: distillation (and the documents it runs
    on) changes weights, not graphs."""
    weights_only = {"distilled": False, "hidden": False, "pooled": False}
    return replace(
        config, **weights_only, transfer=None, transfer_documents=None, teacher=None, epochs=None
    )


def teacher_generations(config: Configuration) -> int:
    """How many `bert` runs teach in turn before `config` (0: it learns from the labels alone);
    what `--teacher-generations` counts when `--teacher auto` trains them."""
    if not config.distilled:
        return 0
    return 1 + teacher_generations(CONFIGS[config.teacher_config])


TARGET_CONFIGS = ("pf", "pfc-lc11", "pfc-lc7", "pfc-lc7-kd")  # must match bert within TARGET_POINTS
TARGET_POINTS = 0.5


@dataclass(frozen=True)
class Settings:
    """Everything that decides a piece's number besides the configuration."""

    max_length: int
    max_train_samples: int | None
    max_eval_samples: int | None
    max_test_samples: int | None
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    seed: int = 42
    split_seed: int = 42
    # The paper's recipe (BERT's pooler for the variants without combining, one learning rate
    # for every parameter) with the rate and epochs above: what every record was trained with.
    recipe: str = "paper"

    def identifier(self) -> str:
        encoded = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:8]

    def options(self) -> list[str]:
        pairs = [(name.replace("_", "-"), value) for name, value in asdict(self).items()]
        return [
            item for name, value in pairs if value is not None for item in (f"--{name}", str(value))
        ]


# Sized for a few hours on 2 CPU cores at MiniLM's fine-tuning speed there (about 9 documents/s
# at 128 tokens, 2 at 512; docs/benchmarks.md measures it): BBC News whole at 512 tokens (~28 min
# a configuration), IMDB and 20 Newsgroups as seeded, stratified subsets (~9 min a configuration
# each).
PLAN = {
    "bbc": Settings(max_length=512, max_train_samples=None, max_eval_samples=None,
                    max_test_samples=None),
    "imdb": Settings(max_length=256, max_train_samples=1000, max_eval_samples=250,
                     max_test_samples=500),
    "20ng": Settings(max_length=128, max_train_samples=2000, max_eval_samples=400,
                     max_test_samples=1000),
}  # fmt: skip
# The same plan with the default recipe (`bert` mean-pools instead of reading the checkpoint's
# untrained [CLS] pooler; 10x the rate for the parts the checkpoint lacks): the fair baseline.
# BBC News at 128 tokens, the default model's length, to fit the budget (~4 min a configuration
# instead of ~28 at 512).
DEFAULT_RECIPE_PLAN = {
    dataset: replace(
        settings, recipe="default", **({"max_length": 128} if dataset == "bbc" else {})
    )
    for dataset, settings in PLAN.items()
}
PLANS = {"paper-recipe": PLAN, "default-recipe": DEFAULT_RECIPE_PLAN}
DATASET_TITLES = {"bbc": "BBC News", "imdb": "IMDB", "20ng": "20 Newsgroups"}
RUN_ORDER = ("20ng", "imdb", "bbc")  # cheapest first: complete tables arrive early

# docs/method.md, "Numbers the paper reports": accuracy / macro-F1, bert-base-uncased, 512 tokens.
PAPER = {
    "BERT": {"imdb": (93.7, 92.8), "bbc": (96.2, 94.0), "20ng": (68.7, 56.1)},
    "p": {"imdb": (93.8, 92.9), "bbc": (97.2, 95.4), "20ng": (69.4, 56.8)},
    "pf": {"imdb": (94.3, 93.4), "bbc": (97.9, 96.6), "20ng": (70.7, 58.2)},
    "c (Lc=11)": {"imdb": (92.6, 91.3), "bbc": (96.8, 95.2), "20ng": (69.2, 56.5)},
    "pfc (Lc=11)": {"imdb": (93.5, 92.5), "bbc": (98.1, 97.1), "20ng": (69.9, 57.1)},
    "pfc (Lc=7)": {"imdb": (92.8, 91.5), "bbc": (97.0, 95.2), "20ng": (68.5, 55.4)},
}


@dataclass(frozen=True)
class Piece:
    dataset: str
    config: str
    settings: Settings

    @property
    def key_id(self) -> str:
        return self.settings.identifier()

    @property
    def key(self) -> str:
        return f"{self.dataset}-{self.config}-{self.key_id}"

    @property
    def planned(self) -> bool:
        return any(self.settings == plan[self.dataset] for plan in PLANS.values())

    @property
    def teacher(self) -> Piece | None:
        """The piece whose run a distilled piece learns from (`--distill-from`)."""
        config = CONFIGS[self.config]
        if not config.distilled:
            return None
        return Piece(self.dataset, config.teacher_config, self.settings)

    @property
    def transfer_samples(self) -> int:
        """The transfer set's size: the configuration's count, or its multiple of the labelled
        subset (0 where the dataset is used whole)."""
        config, labelled = CONFIGS[self.config], self.settings.max_train_samples
        if labelled is None:
            return 0
        if config.transfer_documents is not None:
            return config.transfer_documents
        return 0 if config.transfer is None else config.transfer * labelled

    @property
    def training_settings(self) -> Settings:
        """The settings its run trains with: the piece's, but for a configuration's own epochs.
        The record keeps the piece's settings, so the piece stays in its plan."""
        epochs = CONFIGS[self.config].epochs
        return self.settings if epochs is None else replace(self.settings, epochs=epochs)

    def command(self, run_dir: Path) -> list[str]:
        teacher = []
        if self.teacher is not None:  # the teacher piece's run, beside this one
            teacher = ["--distill-from", str(run_dir.parent / self.teacher.key)]
        if self.transfer_samples:
            teacher += ["--distill-transfer-samples", str(self.transfer_samples)]
        return [
            sys.executable, "-m", "training", "train",
            "--dataset", self.dataset,
            *CONFIGS[self.config].options,
            *self.training_settings.options(),
            "--output-dir", str(run_dir),
            "--artifact-name", f"{self.dataset}-{self.config}",
            # Evaluate and keep checkpoints at epoch ends only, so that every piece picks its
            # best checkpoint among the same candidates (resuming then loses at most an epoch).
            "--save-minutes", "0",
            *teacher,
        ]  # fmt: skip


def is_planned(record: dict, plan: dict[str, Settings] = PLAN) -> bool:
    """Measured with `plan`'s settings (a changed plan turns old records into extras)."""
    return record["settings"] == asdict(plan[record["dataset"]])


def is_any_seed_of(record: dict, plan: dict[str, Settings]) -> bool:
    """Measured with `plan`'s settings but perhaps another training seed (same split)."""
    planned = asdict(plan[record["dataset"]])
    return {**record["settings"], "seed": planned["seed"]} == planned


def reseeded_plan(record: dict) -> str | None:
    """The name of the plan whose settings the record has but for the training seed (same
    split): a repeat that measures how far one seed's figure can move; None for any other."""
    for name, plan in PLANS.items():
        if not is_planned(record, plan) and is_any_seed_of(record, plan):
            return name
    return None


def plan_of(record: dict) -> str | None:
    """The plan a record belongs to, as planned or as a repeat with another training seed;
    None for a run under changed settings."""
    planned = next((name for name, plan in PLANS.items() if is_planned(record, plan)), None)
    return planned or reseeded_plan(record)
