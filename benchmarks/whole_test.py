"""The accuracy plan's artifacts re-scored on their data set's whole held-out test split, each
configuration paired with `bert` of the same seed, document by document.

The plan tests on subsets (500 IMDB reviews, 1,000 20 Newsgroups posts), where one document is
0.1-0.2 points and a difference between two runs has a standard error of about a point, twice
the 0.5 points a target allows. The held-out split the subset was drawn from is ten times larger
(IMDB: 5,000 of the 25,000 reviews, held out by split seed 42; 20 Newsgroups: its 7,528 test
posts; BBC News is tested whole already). Re-scoring the same artifacts there needs no training:
each is read with ONNX Runtime as `python -m training evaluate` reads it, and the difference to
`bert` comes with its paired standard error (the spread of the per-document difference in
correctness, over the square root of the documents).

    python benchmarks/whole_test.py --datasets imdb --configs pfc-lc7-kd-transfer-from-kd

Scores are cached per artifact and precision under benchmarks/results/whole_test/ (a rerun
scores only what is missing); the table goes to docs/results.md, section `whole-test`, and the
frontier there (benchmarks/frontier.py) is rewritten once its speed is measured, since its rule
reads the cached fp32 scores too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import DEFAULT_REPORT, DEFAULT_RESULTS, load_records  # noqa: E402
from benchmarks.accuracy_plan import (  # noqa: E402
    BASELINE_CONFIG,
    CONFIGS,
    DATASET_TITLES,
    PLANS,
    TARGET_POINTS,
    plan_of,
)
from benchmarks.doc_sections import command_line, replace_section  # noqa: E402
from benchmarks.frontier import SPEED_FILE, WHOLE_TEST_SCORES, load_speed, write_frontier  # noqa: E402
from training.metrics import paired_standard_error  # noqa: E402

SECTION = "whole-test"
SCRIPT = "benchmarks/whole_test.py"


@dataclass(frozen=True)
class Scored:
    """One artifact's answers on the whole test split: which documents it got right."""

    record: dict
    precision: str
    correct: np.ndarray  # (documents,) bool, in the split's order
    labels: list[int]  # the true class of each document, to check two runs read the same split

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())


@dataclass(frozen=True)
class Paired:
    """A configuration against `bert` of the same seed on the same documents."""

    config: Scored
    baseline: Scored

    @property
    def points(self) -> float:
        return 100 * (self.config.accuracy - self.baseline.accuracy)

    @property
    def standard_error(self) -> float:
        """In points."""
        return 100 * paired_standard_error(self.config.correct, self.baseline.correct)


def mean_over_seeds(pairs: list[Paired]) -> tuple[float, float]:
    """The mean difference over the seeds and its standard error, in points.

    Every seed reads the same documents, so the seeds' errors are not independent: a review
    the configuration gets wrong at one seed it tends to get wrong at the next. The error is
    therefore taken per document, over each document's share of seeds at which each side got
    it right (paired_standard_error on those shares), and not as the seeds' errors added in
    quadrature, which would shrink as one over sqrt(seeds) however alike the seeds are."""
    if any(p.config.labels != pairs[0].config.labels for p in pairs):
        raise ValueError("the seeds were scored on different documents")
    config_share = np.mean([p.config.correct for p in pairs], axis=0)
    baseline_share = np.mean([p.baseline.correct for p in pairs], axis=0)
    points = 100 * float(config_share.mean() - baseline_share.mean())
    return points, 100 * paired_standard_error(config_share, baseline_share)


def selected_records(records: list[dict], plan: str, datasets: list[str],
                     configs: list[str]) -> list[dict]:  # fmt: skip
    """The plan's records (every seed) of the configurations and their `bert`."""
    wanted = {*configs, BASELINE_CONFIG}
    return [
        r for r in records
        if r["dataset"] in datasets and r["config"] in wanted and plan_of(r) == plan
    ]  # fmt: skip


def score_path(scores_dir: Path, record: dict, precision: str) -> Path:
    return scores_dir / f"{Path(record['artifact']).parent.name}-{precision}.json"


def score_artifact(record: dict, precision: str, batch_size: int) -> dict:
    """Score the record's artifact on its data set's whole held-out test split."""
    from artifact.card import load_artifact
    from artifact.runtime import OnnxClassifier
    from training.evaluate import (
        data_arguments_from_metadata,
        label_matrix,
        load_test_documents,
        score_with_probabilities,
    )

    artifact = load_artifact(record["artifact"])
    classifier = OnnxClassifier.from_artifact(artifact, precision=precision)
    if classifier.rule.multi_label:
        raise ValueError(f"{record['artifact']}: a multi-label model has no accuracy to pair")
    data_args = replace(data_arguments_from_metadata(artifact.card.dataset), max_test_samples=None)
    documents = load_test_documents(data_args)
    started = time.perf_counter()
    metrics, probabilities = score_with_probabilities(classifier, documents, batch_size)
    return {
        "artifact": record["artifact"],
        "precision": precision,
        "documents": len(documents),
        "accuracy": metrics["accuracy"],
        "labels": label_matrix(documents, classifier.labels).argmax(axis=1).tolist(),
        "predicted": probabilities.argmax(axis=1).tolist(),
        "seconds": round(time.perf_counter() - started, 1),
    }


def scored(record: dict, precision: str, scores_dir: Path, batch_size: int) -> Scored | None:
    """The record's whole-split scores, from the cache or computed and cached now; None when
    its artifact was not kept."""
    path = score_path(scores_dir, record, precision)
    if not path.exists():
        if not (Path(record["artifact"]) / "model.onnx").exists():
            print(f"--- {record['artifact']}: no artifact, skipped", flush=True)
            return None
        if not holds_graph(record, precision):
            print(
                f"--- {record['artifact']}: its {precision} graph was left out, skipped", flush=True
            )
            return None
        print(f"=== scoring {record['artifact']} at {precision}", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(score_artifact(record, precision, batch_size), separators=(",", ":")) + "\n"
        )
    return cached_score(record, precision, scores_dir)


def holds_graph(record: dict, precision: str) -> bool:
    """The record's artifact holds its `precision` graph, by its own card: training leaves out
    one that loses more than `--int8-max-drop` against fp32, and there is nothing to score."""
    from artifact.card import load_card

    return precision in load_card(record["artifact"]).available_precisions()


def cached_score(record: dict, precision: str, scores_dir: Path) -> Scored | None:
    """The record's whole-split scores if they were cached; scores nothing."""
    if not record.get("artifact"):
        return None
    path = score_path(scores_dir, record, precision)
    if not path.exists():
        return None
    cached = json.loads(path.read_text())
    labels, predicted = np.array(cached["labels"]), np.array(cached["predicted"])
    return Scored(record, precision, predicted == labels, cached["labels"])


def cached_pairs(records: list[dict], scores_dir: Path, precision: str) -> list[Paired]:
    """The records' configurations against their `bert`, from cached scores alone: what the
    frontier reads (it times and scores nothing)."""
    scores = [cached_score(record, precision, scores_dir) for record in records]
    return pair_up([score for score in scores if score is not None])


def pair_up(scores: list[Scored]) -> list[Paired]:
    """Each configuration's scores with `bert`'s of the same data set, seed and precision."""

    def key(s: Scored) -> tuple:
        return s.record["dataset"], s.record["settings"]["seed"], s.precision

    baselines = {key(s): s for s in scores if s.record["config"] == BASELINE_CONFIG}
    pairs = []
    for score in (s for s in scores if s.record["config"] != BASELINE_CONFIG):
        baseline = baselines.get(key(score))
        if baseline is None:
            continue
        if baseline.labels != score.labels:
            raise ValueError(f"{score.record['artifact']} and {baseline.record['artifact']} "
                             "were scored on different documents")  # fmt: skip
        pairs.append(Paired(score, baseline))
    return pairs


def subset_points(pair: Paired) -> float:
    """The same two runs' difference on the plan's test subset, from their records."""
    precision = pair.config.precision
    config, baseline = pair.config.record, pair.baseline.record
    if precision == "fp32":
        return 100 * (config["accuracy"] - baseline["accuracy"])
    return 100 * (config["precisions"][precision]["accuracy"]
                  - baseline["precisions"][precision]["accuracy"])  # fmt: skip


def verdict(points: float, error: float) -> str:
    allowed = -TARGET_POINTS
    if points - 2 * error >= allowed:
        return "within"
    if points + 2 * error < allowed:
        return "beyond"
    return "undecided"


def row_order(pair: Paired) -> tuple:
    record = pair.config.record
    return record["dataset"], record["config"], pair.config.precision, record["settings"]["seed"]


def render(pairs: list[Paired], command: str) -> str:
    """The section: per seed and over seeds, whole split beside the plan's subset."""
    lines = [
        "## On the whole test split: configurations against `bert`, document by document",
        "",
        "Command:",
        "",
        f"    {command}",
        "",
        "The plan's artifacts re-scored with ONNX Runtime on their data set's whole held-out test "
        "split (IMDB: the 5,000 reviews held out by split seed 42, of which the plan tests 500; "
        "20 Newsgroups: its 7,528 test posts, of which the plan tests 1,000; BBC News: its 445 "
        "test articles, tested whole by the plan too, so there the two columns agree and the "
        "rows add the standard error and the seeds' mean), each configuration "
        "against `bert` trained with the same seed. Points vs `bert` ± the paired standard error "
        "(the spread of the per-document difference in correctness over sqrt(documents)); for "
        "the mean over seeds, the same over each document's share of seeds right, since every "
        "seed reads the same documents and their errors are not independent. "
        f"Verdict on the target (at most {TARGET_POINTS} points below `bert`) at two standard "
        "errors: within, beyond, or undecided.",
        "",
        "| data set | configuration | precision | seed | documents | `bert` | configuration "
        "| points vs `bert` | on the plan's subset | verdict |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    groups: dict[tuple, list[Paired]] = {}
    for pair in sorted(pairs, key=row_order):
        record = pair.config.record
        groups.setdefault(row_order(pair)[:3], []).append(pair)
        lines.append(
            f"| {DATASET_TITLES[record['dataset']]} | {record['paper_row']} "
            f"| {pair.config.precision} | {record['settings']['seed']} "
            f"| {len(pair.config.correct):,} | {100 * pair.baseline.accuracy:.1f} "
            f"| {100 * pair.config.accuracy:.1f} | {pair.points:+.1f} ± {pair.standard_error:.1f} "
            f"| {subset_points(pair):+.1f} | {verdict(pair.points, pair.standard_error)} |"
        )
    for (dataset, config, precision), group in groups.items():
        if len(group) < 2:
            continue
        points, error = mean_over_seeds(group)
        seeds = ", ".join(str(p.config.record["settings"]["seed"]) for p in group)
        lines.append(
            f"| {DATASET_TITLES[dataset]} | {CONFIGS[config].paper_row} | {precision} "
            f"| mean of {seeds} | | | | **{points:+.1f} ± {error:.1f}** "
            f"| {sum(subset_points(p) for p in group) / len(group):+.1f} "
            f"| {verdict(points, error)} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", choices=list(PLANS), default="default-recipe")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASET_TITLES),
                        default=["imdb", "20ng"])  # fmt: skip
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS),
                        default=["pfc-lc7-kd-transfer-from-kd"])  # fmt: skip
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "int8"], default=["int8"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--scores-dir", type=Path, default=WHOLE_TEST_SCORES)
    parser.add_argument("--output", type=Path, default=DEFAULT_REPORT)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    every_record = load_records(args.results_dir)
    records = selected_records(every_record, args.plan, args.datasets, args.configs)
    scores = [
        scored(record, precision, args.scores_dir, args.batch_size)
        for precision in args.precisions
        for record in records
    ]
    section = render(pair_up([s for s in scores if s is not None]), command_line(SCRIPT))
    replace_section(args.output, SECTION, section)
    print(section)
    speed = load_speed(SPEED_FILE)
    if speed is not None:  # the frontier's rule reads these scores too; as accuracy.py writes it
        write_frontier(every_record, speed, args.output, scores_dir=args.scores_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
