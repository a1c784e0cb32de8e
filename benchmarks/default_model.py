"""The default model against `bert` trained the same way: accuracy and int8 speed.

`deploy/build-default-model.sh` is the one place that spells the default training run; each
piece here runs that script itself into its own directory, with the configuration's options
appended (`--variant bert` for the baseline), so the comparison is the recipe a user gets from
`scripts/serve.sh`. Accuracy is read from the run's metrics (fp32 and int8, scored by ONNX
Runtime on the BBC News test split); speed is the frontier's int8 documents/s ratio against int8
BERT at batch 8 x the recipe's length (`benchmarks/frontier.py --measure-speed`).

    python benchmarks/default_model.py                         # bert and the shipped default
    python benchmarks/default_model.py --configs bert pfc-lc11 pfc-lc11-frozen
    python benchmarks/default_model.py --seed 43 --configs bert pfc-lc7   # a seed repeat
    python benchmarks/default_model.py --report-only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "default_model"
DEFAULT_REPORT = ROOT / "docs" / "results.md"
SECTION = "default-model"
TARGET_SPEED = 1.4  # the default must be at least this much faster (int8, batch 8 x 128)

from benchmarks.accuracy_plan import (  # noqa: E402
    BASELINE_CONFIG,
    CONFIGS,
    TARGET_POINTS,
    Configuration,
    teacher_generations,
)
from benchmarks.accuracy_report import misses_target  # noqa: E402
from benchmarks.default_recipe import (  # noqa: E402
    BUILD_SCRIPT,
    default_option,
    shipped_config,
)
from benchmarks.doc_sections import replace_section  # noqa: E402
from benchmarks.frontier import SPEED_FILE, int8_accuracy, load_speed, speed_of  # noqa: E402
from training.distillation import TEACHER_DIR  # noqa: E402


def piece_options(config: str) -> list[str]:
    """The options appended to the build script's: the configuration's graph, its teachers
    (`--teacher auto` with as many generations as its plan entry has, or `--teacher none`: the
    script's own may name one), and `--prune-queries false` for one without frozen tokens."""
    configuration = CONFIGS[config]
    frozen = () if configuration.frozen else ("--prune-queries", "false")
    generations = teacher_generations(configuration)
    teachers = ("--teacher", "none", "--teacher-generations", "1")
    if generations:
        teachers = ("--teacher", "auto", "--teacher-generations", str(generations))
    return [*configuration.options, *teachers, *transfer_options(configuration), *frozen]


def transfer_options(configuration: Configuration) -> tuple[str, ...]:
    """The configuration's transfer set where the script trains on a subset (a dataset used
    whole has no documents to give, as in the accuracy plan)."""
    subset = default_option("max-train-samples")
    if subset is None or not (configuration.transfer or configuration.transfer_documents):
        return ()
    documents = (configuration.transfer or 0) * int(subset) or configuration.transfer_documents
    return ("--distill-transfer-samples", str(documents))


def piece_key(config: str, seed: int | None) -> str:
    """A piece's record and run name: the configuration, and the seed when it is not the
    script's."""
    return config if seed is None else f"{config}-seed{seed}"


def run_piece(config: str, results_dir: Path, seed: int | None = None) -> dict:
    """Run the build script for `config` (with `--seed` when given) and keep what its run
    measured."""
    key = piece_key(config, seed)
    run_dir = results_dir / "runs" / key
    seeded = [] if seed is None else ["--seed", str(seed)]
    command = ["bash", str(BUILD_SCRIPT), str(run_dir), *piece_options(config), *seeded]
    print(f"\n=== {key}: {' '.join(command)}", flush=True)
    # The script runs `python` from PATH: make it this interpreter (the environment it runs in).
    search_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    built_before = (run_dir / "artifact" / "metadata.json").is_file()  # the script reuses it
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "PATH": search_path})
    wall_s = None if built_before else round(time.monotonic() - started, 1)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    run_times = chain_training_seconds(run_dir)
    record = {
        "config": config,
        "seed": seed,  # None: the script's own
        "command": " ".join(command).replace(f"{ROOT}/", ""),
        "accuracy": metrics["accuracy"],
        "precisions": metrics["precisions"],  # as the accuracy report's records keep them
        "training_time_s": sum(run_times),  # the build's: its teachers' runs included
        "run_times_s": run_times,  # the first teacher's first, the model's last
        "build_wall_s": wall_s,  # the script end to end, export and scoring included
        "device": metrics["training"].get("device", "cpu"),
    }
    path = results_dir / "records" / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def chain_training_seconds(run_dir: Path) -> list[float]:
    """The training time of each run a build trained: the teachers `--teacher auto` nests in
    OUTPUT_DIR/teacher (and their own in teacher/teacher), first to last, then the model's."""
    times = []
    while (run_dir / "metrics.json").is_file():
        times.append(json.loads((run_dir / "metrics.json").read_text())["training"]["time_s"])
        run_dir = run_dir / TEACHER_DIR
    return times[::-1]


def int8_points(record: dict, baseline: dict) -> float:
    """Points of int8 test accuracy against the baseline's int8 graph."""
    return 100 * (
        record["precisions"]["int8"]["accuracy"] - baseline["precisions"]["int8"]["accuracy"]
    )


def render(records: dict[str, dict], speed: dict | None) -> str:
    length = int(default_option("max-length") or 512)
    shipped = shipped_config()
    lines = [
        "## The default model against `bert` trained the same way",
        "",
        f"`deploy/build-default-model.sh` trains `{CONFIGS[shipped].name}`; each row ran that "
        "script with the configuration's options appended (`python benchmarks/default_model.py`"
        "). Test accuracy in % on BBC News (fp32 and int8 as ONNX Runtime scores them), points "
        f"vs `bert` at int8, and int8 documents/s vs int8 BERT at batch 8 x {length} "
        "(`benchmarks/frontier.py --measure-speed`, random weights of the MiniLM shape; the "
        "median over its timing runs).",
        "",
        "| configuration | fp32 | int8 | int8 vs bert | speed vs int8 BERT |",
        "|---|---|---|---|---|",
    ]
    for record in records.values():
        baseline = records.get(piece_key(BASELINE_CONFIG, record.get("seed")))
        lines.append(table_row(record, baseline, speed, length, shipped))
    lines += ["", verdict(records, speed, shipped, length), *over_seeds(records, shipped)]
    lines += build_time(records.get(shipped))
    return "\n".join(lines)


def over_seeds(records: dict[str, dict], config: str) -> list[str]:
    """`config`'s int8 points vs `bert` at each seed measured for both, and their mean: one
    seed on 445 articles moves by about a point."""
    points = {}
    for record in records.values():
        seed = record.get("seed")
        baseline = records.get(piece_key(BASELINE_CONFIG, seed))
        if record["config"] == config and baseline is not None:
            points[seed] = int8_points(record, baseline)
    if len(points) < 2:
        return []
    each = ", ".join(f"{value:+.1f}" for value in points.values())
    mean = sum(points.values()) / len(points)
    outcome = "met" if not misses_target(mean) else "missed"
    return [
        "",
        f"Over the {len(points)} seeds measured ({each}): {mean:+.1f} points at int8, the "
        f"accuracy target {outcome} on the mean.",
    ]


def table_row(
    record: dict, baseline: dict | None, speed: dict | None, length: int, shipped: str
) -> str:
    config, seed = record["config"], record.get("seed")
    delta = ""
    if baseline is not None and config != BASELINE_CONFIG:
        delta = f"{int8_points(record, baseline):+.1f}"
    ratio = None if config == BASELINE_CONFIG else speed_of(speed, config, length)
    speed_cell = "1.00x" if config == BASELINE_CONFIG else "not measured"
    if ratio is not None:
        speed_cell = f"{ratio['speed_ratio']:.2f}x"
    name = CONFIGS[config].name + (" (shipped)" if config == shipped and seed is None else "")
    name += "" if seed is None else f", seed {seed}"
    return (
        f"| {name} | {100 * record['accuracy']:.1f} | {int8_accuracy(record)} | {delta} "
        f"| {speed_cell} |"
    )


def build_time(record: dict | None) -> list[str]:
    """How long the shipped default trained, its teachers included (the build's main cost on a
    fresh machine)."""
    if record is None:
        return []
    minutes = record["training_time_s"] / 60
    runs = record.get("run_times_s", [record["training_time_s"]])
    teachers = ""
    if len(runs) > 1:
        each = " + ".join(f"{seconds / 60:.1f}" for seconds in runs)
        teachers = f" ({len(runs) - 1} teacher runs and the model: {each} min)"
    wall = ""
    if record.get("build_wall_s") is not None:
        wall = f"; the script ran {record['build_wall_s'] / 60:.1f} min end to end"
    return [
        "",
        f"The shipped default trained in {minutes:.1f} min{teachers} on {record['device']}{wall}.",
    ]


def verdict(records: dict[str, dict], speed: dict | None, shipped: str, length: int) -> str:
    record, baseline = records.get(shipped), records.get(BASELINE_CONFIG)
    if record is None or baseline is None:
        missing = [c for c in (BASELINE_CONFIG, shipped) if c not in records]
        return f"Not measured yet: {', '.join(missing)}."
    delta = int8_points(record, baseline)
    ratio = speed_of(speed, shipped, length)
    accurate = not misses_target(delta)
    fast = ratio is not None and ratio["speed_ratio"] >= TARGET_SPEED
    speed_text = "speed not measured" if ratio is None else f"{ratio['speed_ratio']:.2f}x"
    return (
        f"Targets (within {TARGET_POINTS} points of `bert`, at least {TARGET_SPEED}x): accuracy "
        f"{'met' if accurate else 'missed'} ({delta:+.1f} points), speed "
        f"{'met' if fast else 'missed'} ({speed_text})."
    )


def load_records(results_dir: Path) -> dict[str, dict]:
    """The records by piece, the script's seed first, `bert` first within a seed."""
    paths = (results_dir / "records").glob("*.json")
    loaded = {path.stem: json.loads(path.read_text()) for path in paths}

    def order(key: str) -> tuple:
        seed = loaded[key].get("seed")
        return (seed is not None, seed or 0, loaded[key]["config"] != BASELINE_CONFIG, key)

    return {key: loaded[key] for key in sorted(loaded, key=order)}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS))
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--output", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--speed-file", type=Path, default=SPEED_FILE)
    parser.add_argument(
        "--seed", type=int, help="train with this --seed instead of the script's (a repeat)"
    )
    parser.add_argument("--report-only", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    configs = args.configs or [BASELINE_CONFIG, shipped_config()]
    for config in [] if args.report_only else configs:
        key = piece_key(config, args.seed)
        if (args.results_dir / "records" / f"{key}.json").exists():
            print(f"=== {key}: done, skipped", flush=True)
            continue
        run_piece(config, args.results_dir, args.seed)
    report = render(load_records(args.results_dir), load_speed(args.speed_file))
    replace_section(args.output, SECTION, report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
