"""What `deploy/build-default-model.sh` trains, read from the script itself (the one place that
spells the default training run): its `python -m training train` options and the accuracy
plan's configuration they select."""

from __future__ import annotations

import shlex
from pathlib import Path

from benchmarks.accuracy_plan import CONFIGS

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
    argv = default_training_argv(Path("."))
    flag = f"--{name}"
    return argv[argv.index(flag) + 1] if flag in argv else None


def shipped_config() -> str:
    """The accuracy plan's configuration the build script trains (its variant, Lc,
    `--prune-queries` and `--insert-combiner`)."""
    from model import variants

    variant = default_option("variant") or variants.DEFAULT_VARIANT
    layer = default_option("paper-combine-layer")
    if layer is None and variants.VARIANTS[variant].combining:
        layer = str(variants.DEFAULT_PAPER_COMBINE_LAYER)
    argv = default_training_argv(Path("."))
    wanted = (variant, layer, "--prune-queries" in argv, "--insert-combiner" in argv)
    for key, config in CONFIGS.items():
        paper_layer = None if config.paper_layer is None else str(config.paper_layer)
        plain = not (config.distilled or config.proportional or config.skip)
        plain = plain and config.keep_ratio is None and config.tokens is None
        if plain and (config.variant, paper_layer, config.frozen, config.inserted) == wanted:
            return key
    raise ValueError(f"{BUILD_SCRIPT} trains no configuration of benchmarks/accuracy_plan.py")
