"""The accuracy-vs-speed frontier: each configuration's test accuracy beside its measured speed.

Accuracy comes from the accuracy report's planned records (benchmarks/accuracy.py). Speed comes
from `--measure-speed`: on the MiniLM shape, int8 on the CPU, batch 8 x each planned dataset's
max length, the ORT-optimized int8 BERT and every distinct graph among the plan's configurations
are timed side by side by benchmarks/model_speed.py's own models and timing; the ratios go to
benchmarks/results/frontier/speed.json. A distilled configuration runs its non-distilled twin's
graph, so the twin's ratio is its ratio.

The report (the default) times nothing: it joins speed.json with the records, marks the
Pareto-optimal configurations of each dataset, checks the target (within TARGET_POINTS of bert
and at least SPEED_TARGET times its int8 speed) and rewrites docs/results.md's `frontier` section
and docs/img/frontier.png. benchmarks/accuracy.py rewrites both after every piece once
speed.json exists. Each plan's rule (the default model's) is applied to the test subsets, and
again with the whole-split differences benchmarks/whole_test.py cached, where they exist.

    python benchmarks/frontier.py --measure-speed     # quiet CPU: a few minutes of timing
    python benchmarks/frontier.py                     # the report and the plot
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import model_speed  # noqa: E402
from benchmarks.accuracy_plan import (  # noqa: E402
    BASELINE_CONFIG,
    CONFIGS,
    DATASET_TITLES,
    DEFAULT_RECIPE_PLAN,
    PLAN,
    PLANS,
    TARGET_POINTS,
    Configuration,
    Settings,
    graph_of,
    is_any_seed_of,
)
from benchmarks.accuracy_report import (  # noqa: E402
    misses_target,
    planned_records,
    points_vs,
    variant_label,
)
from benchmarks.doc_sections import command_line, replace_section  # noqa: E402
from benchmarks.speed_runs import runs_of, with_run  # noqa: E402
from training.precisions import INT8_RECIPE  # noqa: E402

if TYPE_CHECKING:
    from benchmarks.whole_test import Paired

SHAPE, PRECISION, BATCH = "minilm", "int8", 8
SPEED_TARGET = 1.5  # docs/s vs int8 BERT, at the dataset's length
SPEED_FILE = ROOT / "benchmarks" / "results" / "frontier" / "speed.json"
# benchmarks/whole_test.py's cache of whole-split scores, which the rule reads where it exists.
WHOLE_TEST_SCORES = ROOT / "benchmarks" / "results" / "whole_test"
DEFAULT_REPORT = ROOT / "docs" / "results.md"
SECTION = "frontier"
README_SPEED_SECTION = "speed-table"  # the README's table of every graph's measured speed
PLOT = Path("img") / "frontier.png"  # beside the report: docs/img/frontier.png
DEFAULT_RECIPE_PLOT = Path("img") / "frontier-default-recipe.png"


# --- speed ----------------------------------------------------------------------------------


def distinct_graphs() -> tuple[Configuration, ...]:
    return tuple(dict.fromkeys(graph_of(config) for config in CONFIGS.values()))


def planned_lengths() -> list[int]:
    return sorted({settings.max_length for plan in PLANS.values() for settings in plan.values()})


def case_label(length: int) -> str:
    return model_speed.Case(BATCH, length).label


def measure_speed(args) -> dict:
    """Time the baseline and every distinct graph side by side; speed.json's content."""
    workdir = args.workdir / SHAPE
    models = model_speed.build_models(workdir, SHAPE, (PRECISION,), distinct_graphs())
    cases = [model_speed.Case(BATCH, length) for length in planned_lengths()]
    rows = model_speed.measure(SHAPE, PRECISION, models, cases, args)
    return speed_document(rows, args)


def speed_document(rows: list[dict], args) -> dict:
    """The ratios per configuration and length, with how and where they were measured."""
    import onnxruntime as ort

    by_model_case = {(row["model"], row["case"]): row for row in rows}
    configs = {}
    for key, config in CONFIGS.items():
        graph = graph_of(config).name
        lengths = {}
        for length in planned_lengths():
            row = by_model_case[(graph, case_label(length))]
            lengths[str(length)] = {
                "speed_ratio": round(row["speedup"], 4),
                "mac_ratio": round(row["mac_ratio"], 4),
                "docs_per_s": round(row["docs_per_s"], 2),
                "median_ms": round(row["median_ms"], 2),
            }
        configs[key] = {"graph": graph, "lengths": lengths}
    baseline = {
        str(length): round(by_model_case[(model_speed.BASELINE, case_label(length))]
                           ["docs_per_s"], 2)
        for length in planned_lengths()
    }  # fmt: skip
    return {
        "command": args.command,
        "machine": args.machine,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "onnxruntime": ort.__version__,
        "shape": SHAPE,
        "precision": PRECISION,
        "batch": BATCH,
        "threads": args.threads,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "baseline": model_speed.BASELINE,
        "graphs": model_speed.graph_fingerprint(),
        "baseline_docs_per_s": baseline,
        "configs": configs,
    }


def load_speed(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def speed_of(speed: dict | None, config: str, length: int) -> dict | None:
    """The measured ratios of `config` at `length` tokens: those of the graph it runs now, if
    that graph was measured (under any configuration's key: one added to the plan later runs a
    measured graph when only its training differs; one redefined under its key does not)."""
    graph = graph_of(CONFIGS[config]).name
    measured = (entry for entry in (speed or {}).get("configs", {}).values())
    entry = next((entry for entry in measured if entry["graph"] == graph), None)
    return None if entry is None else entry["lengths"].get(str(length))


# --- the frontier ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One configuration on one dataset: accuracy and delta vs bert, int8 speed vs int8 BERT."""

    config: str
    accuracy: float
    delta: float  # points vs bert
    speed_ratio: float
    mac_ratio: float

    @property
    def meets_target(self) -> bool:
        return not misses_target(self.delta) and self.speed_ratio >= SPEED_TARGET


def dataset_points(
    dataset: str, planned: dict, speed: dict | None, plan: dict[str, Settings] = PLAN
) -> dict[str, Point]:
    """The configurations of `dataset` with an accuracy, a bert to compare with, and a speed
    (at `plan`'s length for the dataset)."""
    baseline = planned.get((dataset, BASELINE_CONFIG))
    points = {}
    for config in CONFIGS:
        record = planned.get((dataset, config))
        measured = speed_of(speed, config, plan[dataset].max_length)
        if baseline is None or record is None or measured is None:
            continue
        points[config] = Point(config, record["accuracy"], points_vs(record, baseline),
                               measured["speed_ratio"], measured["mac_ratio"])  # fmt: skip
    return points


def dominates(a: Point, b: Point) -> bool:
    """At least as accurate and at least as fast, and strictly better in one."""
    at_least = a.accuracy >= b.accuracy and a.speed_ratio >= b.speed_ratio
    return at_least and (a.accuracy > b.accuracy or a.speed_ratio > b.speed_ratio)


def pareto_optimal(points: dict[str, Point]) -> set[str]:
    """The configurations no other measured one dominates (equal points all stay)."""
    return {
        key
        for key, point in points.items()
        if not any(dominates(other, point) for other in points.values())
    }


# --- report ---------------------------------------------------------------------------------


def yes(flag: bool) -> str:
    return "**yes**" if flag else "no"


def table_row(dataset: str, config: str, planned: dict, speed: dict | None, points, optimal,
              length: int):  # fmt: skip
    """One configuration's cells; what is not measured says so, the verdicts need both."""
    record, baseline = planned.get((dataset, config)), planned.get((dataset, BASELINE_CONFIG))
    measured = speed_of(speed, config, length)
    accuracy = "not measured yet" if record is None else f"{100 * record['accuracy']:.1f}"
    delta = "–" if record is None or baseline is None else f"{points_vs(record, baseline):+.1f}"
    ratios = ["not measured yet", "–"]
    if measured is not None:
        ratios = [f"{measured['speed_ratio']:.2f}x", f"{measured['mac_ratio']:.2f}"]
    verdicts = ["–", "–"]
    if config in points:
        verdicts = [yes(config in optimal), yes(points[config].meets_target)]
    cells = [CONFIGS[config].name, accuracy, int8_accuracy(record), delta, *ratios, *verdicts]
    return "| " + " | ".join(cells) + " |"


def int8_accuracy(record: dict | None) -> str:
    """The int8 graph's test accuracy, when the record has it, whether training left the graph
    out of the artifact for losing more than `--int8-max-drop` against fp32, and "per tensor"
    for a graph made before today's recipe (per-tensor weights, every node quantized)."""
    int8 = ((record or {}).get("precisions") or {}).get("int8")
    if int8 is None:
        return "–"
    notes = [] if int8.get("recipe") == INT8_RECIPE else ["per tensor"]
    notes += ["left out"] if int8["file"] is None else []
    return f"{100 * int8['accuracy']:.1f}" + (f" ({', '.join(notes)})" if notes else "")


def dataset_table(
    dataset: str, planned: dict, speed: dict | None, plan: dict[str, Settings] = PLAN
) -> list[str]:
    points = dataset_points(dataset, planned, speed, plan)
    optimal = pareto_optimal(points)
    length = plan[dataset].max_length
    lines = [
        f"### {DATASET_TITLES[dataset]} ({BATCH} x {length} tokens)",
        "",
        "| configuration | accuracy | int8 accuracy | Δ vs bert (points) "
        "| int8 docs/s vs int8 BERT | MAC ratio | Pareto-optimal | meets the target |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for config in CONFIGS:
        lines.append(table_row(dataset, config, planned, speed, points, optimal, length))
    return [*lines, ""]


def summary(
    planned: dict,
    speed: dict | None,
    plan: dict[str, Settings] = PLAN,
    whole: dict[tuple[str, str], list[Paired]] | None = None,
) -> list[str]:
    """Per configuration measured on every dataset: its worst delta and lowest ratio; with
    `whole` (whole_split_differences), the rule read there too."""
    points = {dataset: dataset_points(dataset, planned, speed, plan) for dataset in plan}
    lines, everywhere, unmeasured = [], [], []
    accurate: dict[str, float] = {}  # within TARGET_POINTS everywhere: its lowest speed ratio
    candidates: dict[str, dict[str, Point]] = {}  # the rule's: its points on every dataset
    for config in CONFIGS:
        name = CONFIGS[config].name
        lacking = [DATASET_TITLES[d] for d in plan if config not in points[d]]
        if lacking:
            unmeasured.append(f"{name} (on {', '.join(lacking)})")
            continue
        own = {dataset: points[dataset][config] for dataset in plan}
        worst = min(own, key=lambda d: own[d].delta)
        slowest = min(own, key=lambda d: own[d].speed_ratio)
        missed = [DATASET_TITLES[d] for d, point in own.items() if not point.meets_target]
        if not missed:
            everywhere.append(name)
        # `bert` itself, distilled or not, is the baseline, not a configuration of the method.
        if CONFIGS[config].variant != "bert":
            candidates[config] = own
            if not misses_target(own[worst].delta):
                accurate[name] = own[slowest].speed_ratio
        verdict = f"target missed on {', '.join(missed)}" if missed else "target met on all three"
        lines.append(
            f"- {name}: worst {own[worst].delta:+.1f} points ({DATASET_TITLES[worst]}), "
            f"lowest {own[slowest].speed_ratio:.2f}x ({DATASET_TITLES[slowest]}): {verdict}."
        )
    lines += [
        "",
        f"Meeting the target on every dataset: {', '.join(everywhere) or 'none'}.",
        "",
        rule_pick(accurate),
    ]
    if whole:
        lines += ["", whole_split_pick(candidates, plan, whole)]
    if unmeasured:
        lines += ["", f"Not measured yet on every dataset: {'; '.join(unmeasured)}."]
    return lines


def rule_pick(accurate: dict[str, float]) -> str:
    """The default model's rule (docs/design.md, "The default model") applied to one plan: the
    fastest configuration of the method (by its lowest ratio) within TARGET_POINTS of `bert`
    on every dataset, among those measured on all of them."""
    rule = (f"The default model's rule (the fastest configuration within {TARGET_POINTS} points "
            "of `bert` on every dataset, by its lowest speed ratio)")  # fmt: skip
    if not accurate:
        return f"{rule}: no configuration measured on every dataset qualifies."
    ranked = sorted(accurate.items(), key=lambda item: -item[1])
    listed = ", ".join(f"{name} {ratio:.2f}x" for name, ratio in ranked)
    return f"{rule} picks {ranked[0][0]} (qualifying: {listed}). {SUBSET_CAVEAT}"


# The rule reads the plans' test subsets, where one document is 0.1-0.2 points.
SUBSET_CAVEAT = (
    'That reads the plan\'s test subsets; section "On the whole test split" '
    "(`benchmarks/whole_test.py`) re-scores a pick on the whole held-out splits."
)


def whole_split_pick(candidates: dict[str, dict[str, Point]], plan: dict[str, Settings],
                     whole: dict[tuple[str, str], list[Paired]]) -> str:  # fmt: skip
    """The rule again, each delta read on the whole held-out split and averaged over the seeds
    scored there (ten times the documents of a subset: a run's difference to `bert` has a
    standard error of 0.3-0.4 points there, about a point on the subset). A dataset the plan
    tests whole reads its planned record where nothing was re-scored; a configuration not
    scored on a subsetted dataset is counted, not ranked. `candidates`: the configurations the
    subset reading ranks, each with its points by dataset."""
    subsetted = [dataset for dataset in plan if plan[dataset].max_test_samples is not None]
    accurate: dict[str, tuple[float, str]] = {}  # name: lowest ratio, worst delta
    beyond_margin: dict[str, tuple[float, str]] = {}  # the same, for those that miss it
    unscored: dict[str, tuple[float, str]] = {}  # name: lowest ratio, worst subset delta
    for config, own in candidates.items():
        ratio = min(point.speed_ratio for point in own.values())
        if any((dataset, config) not in whole for dataset in subsetted):
            unscored[CONFIGS[config].name] = (
                ratio,
                f"{min(point.delta for point in own.values()):+.1f}",
            )
            continue
        deltas = {dataset: whole_split_delta(point, whole.get((dataset, config)))
                  for dataset, point in own.items()}  # fmt: skip
        worst = min(deltas, key=lambda dataset: deltas[dataset])
        verdicts = beyond_margin if misses_target(deltas[worst]) else accurate
        verdicts[CONFIGS[config].name] = (ratio, f"{deltas[worst]:+.1f} on {DATASET_TITLES[worst]}")
    titles = " and ".join(DATASET_TITLES[dataset] for dataset in subsetted)
    reading = (f"Read on the whole test splits instead ({titles} re-scored whole, fp32: "
               'section "On the whole test split", the mean over the seeds scored there; point '
               "estimates, as on the subsets)")  # fmt: skip
    picked_ratio = 0.0
    if ranked := faster_than(accurate, picked_ratio):
        verdict = f"{reading}, the rule picks {ranked[0][0]} (qualifying: {listing(ranked)})."
        picked_ratio = ranked[0][1]
    else:
        verdict = f"{reading}, no configuration scored there qualifies."
    if missed := faster_than(beyond_margin, picked_ratio):
        verdict += f" Scored there and faster than the pick, beyond the margin: {listing(missed)}."
    if unscored:
        verdict += (f" Not scored there yet: {len(unscored)} configuration(s) measured on every "
                    f"dataset{unscored_faster(unscored, picked_ratio)}.")  # fmt: skip
    return verdict


def faster_than(
    entries: dict[str, tuple[float, str]], picked_ratio: float
) -> list[tuple[str, float, str]]:
    """The configurations above `picked_ratio` (each with its lowest ratio and worst delta),
    fastest first."""
    faster = [
        (name, ratio, worst) for name, (ratio, worst) in entries.items() if ratio > picked_ratio
    ]
    return sorted(faster, key=lambda item: -item[1])


def listing(ranked: list[tuple[str, float, str]]) -> str:
    return ", ".join(f"{name} {ratio:.2f}x (worst {worst})" for name, ratio, worst in ranked)


def unscored_faster(unscored: dict[str, tuple[float, str]], picked_ratio: float) -> str:
    """The unscored configurations that would outrank the whole-split pick if they qualified,
    with their worst subset delta. On a subset a difference to `bert` has a standard error of
    about a point, so one more than two points beyond the allowed margin there is more than two
    standard errors from qualifying: the listing says whether the unscored ones could still
    change the pick."""
    faster = faster_than(unscored, picked_ratio)
    if not faster:
        return "; none of them is faster than the pick"
    return f"; faster than the pick, with their worst delta on the subsets: {listing(faster)}"


def whole_split_delta(point: Point, pairs: list[Paired] | None) -> float:
    """The mean whole-split difference over the seeds scored, else the planned record's (for a
    dataset the plan tests whole)."""
    return point.delta if not pairs else sum(pair.points for pair in pairs) / len(pairs)


def speed_source(speed: dict | None) -> str:
    if speed is None:
        return ("No speed measured yet: `python benchmarks/frontier.py --measure-speed` writes "
                "benchmarks/results/frontier/speed.json.")  # fmt: skip
    return (
        f"Speed: `{speed['command']}` on {speed['machine']}, ONNX Runtime "
        f"{speed['onnxruntime']}, {speed['threads']} intra-op threads; random weights on the "
        f"{speed['shape']} shape (speed does not depend on them), full-length documents, "
        f"{timing_summary(speed)}, "
        f"documents/s relative to {speed['baseline']} at {speed['precision']}, batch "
        f"{speed['batch']} x the dataset's length (benchmarks/results/frontier/speed.json). The "
        "MAC ratio is BERT's multiply-accumulates / the configuration's, from the keys/values its "
        "graph kept on those inputs."
    )


def timing_summary(speed: dict) -> str:
    """How many runs stand behind each ratio, when, and how each run timed (speed_runs)."""
    runs = runs_of(speed)
    dates = ", ".join(run["date"][:10] for run in runs)
    each = (
        f"median of {speed['rounds']} interleaved rounds after {speed['warmup']} warm-up round(s)"
    )
    if len(runs) == 1:
        return f"{dates}, {each}"
    return f"the median over {len(runs)} runs ({dates}), each the {each}"


def render_frontier(records: list[dict], speed: dict | None, scores_dir: Path | None = None) -> str:
    """The section; with `scores_dir`, each plan's rule is read on the whole held-out splits too,
    from benchmarks/whole_test.py's cached scores."""
    lines = [
        "## Accuracy vs speed: the frontier",
        "",
        "Written by `python benchmarks/frontier.py` (and by `python benchmarks/accuracy.py` after "
        "every piece) from the accuracy report's records and the measured int8 speed. Accuracy: "
        "test accuracy in percent of the fp32 graph (the int8 graph's beside it where the record "
        "has it), Δ in points vs `bert` of the same dataset. Speed: documents/s "
        "of the configuration's int8 graph vs the ORT-optimized int8 BERT, at batch "
        f"{BATCH} x the dataset's length; a distilled configuration runs its twin's graph, so it "
        "shares its twin's speed. Pareto-optimal: no other measured configuration is at least "
        "as accurate and at least as fast, and better in one. Target: within "
        f"{TARGET_POINTS} points of `bert` and at least {SPEED_TARGET}x its speed.",
        "",
        "The accuracy is the plan's, trained with the paper's recipe, under which `bert` reads "
        "BERT's untrained [CLS] pooler: against `bert` trained with the default recipe the "
        "combining configurations stand lower on IMDB and 20 Newsgroups ('The frontier with the "
        "default recipe' below).",
        "",
        speed_source(speed),
        "",
        f"![accuracy vs int8 speed per dataset]({PLOT.as_posix()})",
        "",
    ]
    lines += [*plan_frontier(records, speed, PLAN, scores_dir), ""]
    return "\n".join([*lines, *default_recipe_frontier(records, speed, scores_dir)]) + "\n"


def default_recipe_frontier(
    records: list[dict], speed: dict | None, scores_dir: Path | None = None
) -> list[str]:
    """The same frontier over the plan with the default recipe (the accuracy report's
    `accuracy_plan.DEFAULT_RECIPE_PLAN`): against a `bert` that mean-pools."""
    lines = [
        "## The frontier with the default recipe",
        "",
        "The same join over the plan trained with `--recipe default` (the accuracy report, 'The "
        "plan with the default recipe'): `bert` mean-pools there, the fair baseline. BBC News "
        "is read at 128 tokens in that plan, so its speed is the 8 x 128 one.",
        "",
        f"![accuracy vs int8 speed per dataset, default recipe]({DEFAULT_RECIPE_PLOT.as_posix()})",
        "",
    ]
    return [*lines, *plan_frontier(records, speed, DEFAULT_RECIPE_PLAN, scores_dir)]


def plan_frontier(records: list[dict], speed: dict | None, plan: dict[str, Settings],
                  scores_dir: Path | None = None) -> list[str]:  # fmt: skip
    """One plan's tables, one per dataset, and its summary over all three."""
    planned = planned_records(records, plan)
    whole = whole_split_differences(records, plan, scores_dir)
    lines = [line for dataset in plan for line in dataset_table(dataset, planned, speed, plan)]
    return [*lines, "### Over all three datasets", "", *summary(planned, speed, plan, whole)]


def whole_split_differences(
    records: list[dict], plan: dict[str, Settings], scores_dir: Path | None
) -> dict[tuple[str, str], list[Paired]]:
    """Each configuration's fp32 differences to `bert` of the same seed on the whole held-out
    split, one per training seed of `plan` (planned or repeated), by dataset and configuration,
    as benchmarks/whole_test.py cached them under `scores_dir` (none without)."""
    if scores_dir is None:
        return {}
    from benchmarks.whole_test import cached_pairs  # it imports accuracy.py, which imports this

    seeded = [record for record in records if is_any_seed_of(record, plan)]
    differences: dict[tuple[str, str], list[Paired]] = {}
    for pair in cached_pairs(seeded, scores_dir, "fp32"):
        key = pair.config.record["dataset"], pair.config.record["config"]
        differences.setdefault(key, []).append(pair)
    return differences


def readme_speed_table(speed: dict) -> str:
    """Every distinct graph's int8 documents/s vs int8 BERT at each planned length, and its
    multiply-accumulate ratios: the median over the speed runs, with their range (the README's
    table)."""
    from benchmarks.default_recipe import shipped_config

    lengths = planned_lengths()
    shipped = shipped_config()
    lines = [
        f"| configuration | {' | '.join(f'{BATCH} x {length}' for length in lengths)} "
        "| multiply-accumulates saved (BERT / configuration) |",
        "|---|" + "---:|" * len(lengths) + "---|",
    ]
    shares = []  # speed ratio / MAC ratio, per configuration and length
    for graph in distinct_graphs():
        key = next(key for key, config in CONFIGS.items() if graph_of(config) == graph)
        measured = [speed_of(speed, key, length) for length in lengths]
        if any(cell is None for cell in measured):
            continue
        ratios = [cell["speed_ratio"] for cell in measured if cell is not None]
        macs = [cell["mac_ratio"] for cell in measured if cell is not None]
        shares += [ratio / mac for ratio, mac in zip(ratios, macs, strict=True)]
        cells = [ratio_cell(cell) for cell in measured if cell is not None]
        label = variant_label(graph)
        label += " (our export)" if key == BASELINE_CONFIG else ""
        label += " (the default model)" if graph == graph_of(CONFIGS[shipped]) else ""
        saved = f"{min(macs):.2f}" + ("" if min(macs) == max(macs) else f" - {max(macs):.2f}")
        lines.append(f"| {label} | {' | '.join(cells)} | {saved} |")
    ranges = len(runs_of(speed)) > 1
    source = (
        f"`{speed['command']}`, {speed['machine']}: int8 on both sides, the baseline is "
        f"{speed['baseline']}, {timing_summary(speed)}"
        + ("; in brackets the lowest and highest run" if ranges else "")
        + f"; bold: at least {SPEED_TARGET}x (benchmarks/results/frontier/speed.json). The speed "
        "ratios follow the multiply-accumulate ratios, at "
        f"{min(shares, default=0):.2f}-{max(shares, default=0):.2f} of them."
    )
    return "\n".join([*lines, "", source]) + "\n"


def ratio_cell(cell: dict) -> str:
    """A ratio for the README's table: bold from SPEED_TARGET up, with the runs' range."""
    ratio = cell["speed_ratio"]
    text = f"**{ratio:.2f}x**" if ratio >= SPEED_TARGET else f"{ratio:.2f}x"
    low, high = cell.get("speed_ratio_range", (ratio, ratio))
    return text if low == high else f"{text} ({low:.2f}-{high:.2f})"


def write_frontier(
    records: list[dict],
    speed: dict | None,
    report: Path,
    readme: Path | None = None,
    scores_dir: Path | None = None,
) -> list[Path]:
    """Rewrite the report's `frontier` section and the plots beside it, and with a `readme`
    and a measured speed its speed table; the plots' paths. `scores_dir`: render_frontier's."""
    from benchmarks.frontier_plot import plot_frontier  # matplotlib only where a plot is drawn

    replace_section(report, SECTION, render_frontier(records, speed, scores_dir))
    if readme is not None and speed is not None:
        replace_section(readme, README_SPEED_SECTION, readme_speed_table(speed))
    plots = {PLOT: PLAN, DEFAULT_RECIPE_PLOT: DEFAULT_RECIPE_PLAN}
    for plot, plan in plots.items():
        plot_frontier(records, speed, report.parent / plot, plan)
    return [report.parent / plot for plot in plots]


# --- main -----------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--measure-speed", action="store_true", help="time the graphs, write speed.json (only)"
    )
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per length")
    parser.add_argument("--warmup", type=int, default=2, help="discarded rounds per length")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--workdir", type=Path, default=SPEED_FILE.parent, help="exported graphs (cached by name)"
    )
    parser.add_argument("--speed-file", type=Path, default=SPEED_FILE)
    parser.add_argument(
        "--results-dir", type=Path, default=ROOT / "benchmarks/results/accuracy",
        help="the accuracy report's results (its records/)",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=DEFAULT_REPORT, help="report to write")
    parser.add_argument(
        "--readme", type=Path, default=ROOT / "README.md", help="README whose speed table to write"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.measure_speed:
        args.device, args.memory_case = "cpu", None  # model_speed.measure's settings
        args.machine = model_speed.machine_description("cpu")
        args.command = command_line("benchmarks/frontier.py")
        speed, set_aside = with_run(load_speed(args.speed_file), measure_speed(args))
        args.speed_file.parent.mkdir(parents=True, exist_ok=True)
        args.speed_file.write_text(json.dumps(speed, indent=2) + "\n")
        print(f"wrote {args.speed_file}: the median of {len(speed['runs'])} run(s)"
              + (f", {set_aside} earlier run(s) of other graphs or settings set aside"
                 if set_aside else ""))  # fmt: skip
        return 0
    from benchmarks.accuracy import load_records

    records, speed = load_records(args.results_dir), load_speed(args.speed_file)
    plots = write_frontier(records, speed, args.output, args.readme, WHOLE_TEST_SCORES)
    print(f"wrote the {SECTION} section of {args.output}, the speed table of {args.readme} and "
          f"{', '.join(map(str, plots))}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
