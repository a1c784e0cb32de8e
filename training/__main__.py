"""`python -m training train|evaluate ...`; `python -m training COMMAND --help` lists the options.

python -m training train --dataset bbc --variant pfc --output-dir runs/bbc-pfc
python -m training train --config run.yaml --epochs 1      # the command line wins
torchrun --nproc-per-node 2 -m training train ...          # several processes / GPUs
python -m training evaluate runs/bbc-pfc/artifact           # re-score with ONNX Runtime
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from transformers import HfArgumentParser
from transformers.hf_argparser import DataClassType

from artifact.card import ArtifactError
from training.args import DataArguments, EvaluateArguments, ModelArguments, RecipeArguments
from training.artifact import ParityError
from training.distillation import DistillationArguments
from training.documents import DataError

DEGENERATE_EXIT_CODE = 3  # --fail-on-degenerate: the artifact is written, the pipeline stops
TRAIN_GROUPS = (ModelArguments, DataArguments, RecipeArguments, DistillationArguments)
EVALUATE_GROUPS = (DataArguments, EvaluateArguments)
COMMANDS = {
    "train": "fine-tune a variant, export the artifact to OUTPUT_DIR/artifact, score it",
    "evaluate": "re-score an exported artifact on a test split with ONNX Runtime alone",
}


def load_config_file(path: str, groups: Sequence[type]) -> dict:
    """Options from a YAML or JSON file (keys as on the command line, dashes or underscores)."""
    import yaml

    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(f"error: cannot read config file {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise SystemExit(f"error: config file {path} must hold a mapping of options")
    known = {field.name for group in groups for field in fields(group)}
    options = {str(key).replace("-", "_"): value for key, value in loaded.items()}
    unknown = sorted(set(options) - known)
    if unknown:
        raise SystemExit(f"error: config file {path}: unknown options {unknown}")
    return options


def parse(groups: Sequence[type], argv: Sequence[str], prog: str, description: str, **extra):
    """Parse `argv` into one instance per dataclass group, `--config` file first."""
    dataclass_types = [DataClassType(group) for group in groups]
    parser = HfArgumentParser(dataclass_types, prog=prog, description=description)
    parser.add_argument("--config", help="YAML or JSON file of options; the command line wins")
    for name, options in extra.items():
        parser.add_argument(name, **options)
    known, _ = parser.parse_known_args(argv)
    if known.config:
        parser.set_defaults(**load_config_file(known.config, groups))
    try:
        *parsed, namespace = parser.parse_args_into_dataclasses(argv)
    except ValueError as error:  # a dataclass __post_init__ check
        parser.error(str(error))
    return parser, parsed, namespace


def train_command(argv: Sequence[str]) -> int:
    parser, (model_args, data_args, recipe, distillation), _ = parse(
        TRAIN_GROUPS, argv, "python -m training train", COMMANDS["train"]
    )
    if not recipe.output_dir:
        parser.error("--output-dir is required")
    if not data_args.has_source:
        parser.error("give --dataset NAME or --train-file FILE")
    if recipe.threshold is not None and not data_args.multi_label:
        parser.error("--threshold applies to --multi-label data only")
    try:
        data_args.truncation_policy().check(recipe.max_length)
    except ValueError as error:  # e.g. a --chunk-stride longer than a window
        parser.error(str(error))
    from training.train import train

    result = train(model_args, data_args, recipe, distillation=distillation)
    if result is None:
        return 0
    print(f"artifact: {result.artifact_dir}")
    print(summary_line(result.metrics))
    for warning in result.metrics["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if result.metrics["warnings"] and recipe.fail_on_degenerate:
        return DEGENERATE_EXIT_CODE
    return 0


def summary_line(metrics: dict) -> str:
    """The test scores a finished run prints."""
    if "samples_f1" in metrics:  # a multi-label model
        return (
            f"test micro-F1 {metrics['micro_f1']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
            f"samples-F1 {metrics['samples_f1']:.4f}, subset accuracy "
            f"{metrics['subset_accuracy']:.4f}, Hamming loss {metrics['hamming_loss']:.4f}"
        )
    return (
        f"test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
        f"micro-F1 {metrics['micro_f1']:.4f}"
    )


def evaluate_command(argv: Sequence[str]) -> int:
    import json

    from training.evaluate import evaluate_artifact

    _, (data_args, evaluate_args), namespace = parse(
        EVALUATE_GROUPS,
        argv,
        "python -m training evaluate",
        COMMANDS["evaluate"] + " (default: the split recorded in its metadata.json)",
        artifact_dir={"help": "directory with model.onnx, tokenizer.json, labels.json, metadata"},
    )
    metrics = evaluate_artifact(
        namespace.artifact_dir, data_args, evaluate_args.batch_size, evaluate_args.precision
    )
    text = json.dumps(metrics, indent=2)
    if evaluate_args.output:
        Path(evaluate_args.output).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        usage = "\n".join(f"  {name:<9} {about}" for name, about in COMMANDS.items())
        print(
            f"usage: python -m training COMMAND [options]\n\ncommands:\n{usage}\n\n"
            f"`python -m training COMMAND --help` lists a command's options."
        )
        return 0 if argv[:1] in ([], ["-h"], ["--help"]) else 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    command = train_command if argv[0] == "train" else evaluate_command
    try:
        return command(argv[1:])
    except (DataError, ParityError, ArtifactError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
