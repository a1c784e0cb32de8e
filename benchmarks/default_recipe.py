"""What `deploy/build-default-model.sh` trains, read from the script itself (the one place that
spells the default training run): its `python -m training train` options and the accuracy
plan's configuration they select."""

from __future__ import annotations

import shlex
from pathlib import Path

from benchmarks.accuracy_plan import CONFIGS, Configuration, graph_of, teacher_generations

BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "build-default-model.sh"


def default_training_argv(output_dir: Path) -> list[str]:
    """The `python -m training train` options the build script runs, for `output_dir`, without
    the options a caller appends."""
    command = BUILD_SCRIPT.read_text().split("exec ", 1)[1].replace("\\\n", " ")
    words = shlex.split(command.replace('"${output_dir}"', str(output_dir)))
    if words[:4] != ["python", "-m", "training", "train"]:
        raise ValueError(f"{BUILD_SCRIPT} does not exec `python -m training train`: {words}")
    return [word for word in words[4:] if word != "${@:2}"]


def default_option(name: str) -> str | None:
    """The value the build script gives `--name` (None when it gives none)."""
    return option_value(default_training_argv(Path(".")), name)


def option_value(argv: list[str], name: str) -> str | None:
    """The value of `--name` in a command line: the last one given wins, as in the CLI."""
    flag = f"--{name}"
    if flag not in argv:
        return None
    position = len(argv) - 1 - argv[::-1].index(flag)
    return argv[position + 1] if position + 1 < len(argv) else None


def shipped_config() -> str:
    """The accuracy plan's configuration the build script trains: its graph (variant, Lc and
    the options that change what is computed), its distillation (how many `bert` runs
    `--teacher auto` trains in turn; the hidden-state and pooled terms) and its transfer set.
    On a dataset used whole (no `--max-train-samples`) a configuration's transfer set has no
    documents to take, as in the accuracy plan, and does not count."""
    argv = default_training_argv(Path("."))
    wanted = script_key(argv)
    matches = [
        key
        for key, config in CONFIGS.items()
        if config_key(config) == wanted and transfer_matches(config, argv)
    ]
    if not matches:
        raise ValueError(f"{BUILD_SCRIPT} trains no configuration of benchmarks/accuracy_plan.py")
    matches.sort(key=lambda key: CONFIGS[key].transfer is not None)  # exact ones first
    return matches[0]


def config_key(config: Configuration) -> tuple:
    """What a configuration changes in a run of the build script's recipe, its transfer set
    aside."""
    from model import variants

    graph = graph_of(config)
    return (
        graph.variant,
        None if graph.paper_layer is None else str(graph.paper_layer),
        graph.keep_ratio or variants.DEFAULT_KEEP_RATIO,
        graph.tokens or variants.DEFAULT_NUM_COMBINATION_TOKENS,
        graph.frozen,
        graph.inserted,
        graph.proportional,
        graph.skip,
        teacher_generations(config),
        config.hidden,
        config.pooled,
    )


def script_key(argv: list[str]) -> tuple:
    """`config_key` of what a `python -m training train` command line trains."""
    from model import variants

    def value(name: str) -> str | None:
        return option_value(argv, name)

    def switched_on(flag: str) -> bool:  # a bool option: alone, or followed by its value
        return flag in argv and value(flag[2:]) not in ("false", "False")

    variant = value("variant") or variants.DEFAULT_VARIANT
    layer = value("paper-combine-layer")
    if layer is None and variants.VARIANTS[variant].combining:
        layer = str(variants.DEFAULT_PAPER_COMBINE_LAYER)
    distilled = value("teacher") == "auto" or value("distill-from") is not None
    return (
        variant,
        layer,
        float(value("keep-ratio") or variants.DEFAULT_KEEP_RATIO),
        int(value("num-combination-tokens") or variants.DEFAULT_NUM_COMBINATION_TOKENS),
        switched_on("--prune-queries"),
        switched_on("--insert-combiner"),
        switched_on("--proportional-attention"),
        switched_on("--skip-pooling"),
        int(value("teacher-generations") or 1) if distilled else 0,
        float(value("distill-hidden-weight") or 0) > 0,
        float(value("distill-pooled-weight") or 0) > 0,
    )


def transfer_matches(config: Configuration, argv: list[str]) -> bool:
    """Whether the command line's transfer set is the configuration's: any, on a dataset used
    whole; else as many documents (a file of documents matches none)."""
    if option_value(argv, "distill-transfer-file") is not None:
        return False
    subset = option_value(argv, "max-train-samples")
    if subset is None:
        return True
    expected = (config.transfer or 0) * int(subset) or (config.transfer_documents or 0)
    return int(option_value(argv, "distill-transfer-samples") or 0) == expected
