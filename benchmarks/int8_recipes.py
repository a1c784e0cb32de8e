"""How the int8 graph is made, compared on trained runs: test accuracy of int8 graphs made four
ways from the same fp32 graph, next to the fp32 graph's own.

The recipes: ONNX Runtime's `quantize_dynamic` defaults (per-tensor weight scales, every node
quantized), per-channel weight scales, per-tensor with the combined-token nodes left fp32, and
the shipped `training.precisions.write_int8` (per-channel, combined tokens fp32). Each run's own
test split is read back from its artifact's metadata, as `python -m training evaluate` does.

`--update-records` then re-makes each run's shipped int8 graph with today's `write_int8`,
scores it as training does (at each of `INT8_GATE_BATCH_SIZES`, the mean judged) and rewrites the
`int8` entry of its metadata.json and of its record (the accuracy report's or the default
model's), so the reports' int8 columns show what the shipped recipe gives. Agreement and
probability differences are then taken against the fp32 graph (which matches PyTorch to about
1e-6 by the export's parity check); the artifact keeps the graph when it loses at most
`--max-drop` points, as training does. The comparison table scores every recipe at one
`--batch-size`, the same for all.

    python benchmarks/int8_recipes.py                       # every kept run of the benchmarks
    python benchmarks/int8_recipes.py --runs benchmarks/results/accuracy/runs/20ng-bert-10876399
    python benchmarks/int8_recipes.py --update-records      # and rewrite the int8 figures
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
# Benchmarks whose runs keep their artifacts: RESULTS/NAME/runs/RUN, recorded in
# RESULTS/NAME/records/RUN.json.
RUN_FOLDERS = ("accuracy", "default_model")
DEFAULT_OUTPUT = RESULTS / "int8_recipes.json"
DEFAULT_REPORT = ROOT / "docs" / "results.md"
SECTION = "int8-recipes"
SHIPPED = "per channel, combined fp32 (shipped)"

from artifact.card import Artifact, load_artifact  # noqa: E402
from artifact.files import METADATA_FILE, PRECISION_FILES  # noqa: E402
from artifact.runtime import OnnxClassifier  # noqa: E402
from benchmarks.doc_sections import command_line, replace_section  # noqa: E402
from training.evaluate import (  # noqa: E402
    data_arguments_from_metadata,
    label_matrix,
    load_test_documents,
    reading_labels_as,
    score_with_probabilities,
)
from training.precisions import (  # noqa: E402
    INT8_GATE_BATCH_SIZES,
    INT8_RECIPE,
    over_batchings,
    too_inaccurate,
    write_int8,
)

RECIPES = {
    "per tensor (ORT default)": partial(write_int8, per_channel=False, combination_side_fp32=False),
    "per channel": partial(write_int8, combination_side_fp32=False),
    "per tensor, combined fp32": partial(write_int8, per_channel=False),
    SHIPPED: write_int8,
}


def compare_run(run_dir: Path, scratch: Path, batch_size: int, gate: bool = False) -> dict:
    """fp32 and every recipe's int8 test accuracy for one run at `batch_size`; with `gate`, the
    shipped graph's scores against the fp32 graph as training makes them, over
    INT8_GATE_BATCH_SIZES (what `--update-records` writes)."""
    artifact = load_artifact(run_dir / "artifact")
    fp32 = OnnxClassifier.from_artifact(artifact, precision="fp32")
    args = reading_labels_as(data_arguments_from_metadata(artifact.card.dataset), fp32.rule)
    documents = load_test_documents(args)
    fp32_metrics, reference = score_with_probabilities(fp32, documents, batch_size)
    result = {
        "run": run_label(run_dir),
        "documents": len(documents),
        "fp32": fp32_metrics["accuracy"],
    }
    source = as_exported_today(artifact, scratch / f"{run_dir.name}.fp32.onnx")
    for name, write in RECIPES.items():
        path = scratch / f"{run_dir.name}.{len(result)}.onnx"
        write(source, path)
        classifier = OnnxClassifier(
            path, fp32.tokenizer, fp32.labels, fp32.max_length, rule=fp32.rule
        )
        result[name] = score_with_probabilities(classifier, documents, batch_size)[0]["accuracy"]
        if name == SHIPPED and gate:
            result["_shipped_scores"] = over_batchings(
                partial(score_with_probabilities, classifier, documents),
                INT8_GATE_BATCH_SIZES,
                reference,
                fp32.rule,
                graded_against=(label_matrix(documents, fp32.labels), reference),
            )
            result["_shipped_graph"] = str(path)
    return result


def as_exported_today(artifact: Artifact, copy: Path) -> Path:
    """The artifact's fp32 graph, with Lc recorded in it as today's export records it (graphs
    exported earlier lack it, and the int8 writer finds the combined-token nodes from it)."""
    import onnx

    from model.onnx_export import COMBINE_LAYER_PROP, record_combine_layer

    fp32 = artifact.directory / PRECISION_FILES["fp32"]
    graph = onnx.load(str(fp32), load_external_data=False)
    recorded = any(entry.key == COMBINE_LAYER_PROP for entry in graph.metadata_props)
    if recorded or artifact.card.combine_layer is None:
        return fp32
    shutil.copyfile(fp32, copy)
    record_combine_layer(copy, artifact.card.combine_layer)
    return copy


def update_records(result: dict, run_dir: Path, max_drop: float) -> None:
    """Put the shipped recipe's int8 graph into the run's artifact (or leave it out, as training
    does, when it loses more than `max_drop` points) and its scores into metadata.json and the
    benchmark's record of this run."""
    target = run_dir / "artifact" / PRECISION_FILES["int8"]
    scores = result["_shipped_scores"]
    reason = too_inaccurate(
        "int8",
        scores["accuracy"],
        result["fp32"],
        max_drop / 100,
        scores["accuracy_drop_standard_error"],
    )
    entry = {"file": None if reason else target.name, **scores}
    entry |= {"recipe": INT8_RECIPE, "reference": "fp32 graph"}
    if reason:
        target.unlink(missing_ok=True)
        entry["reason"] = reason
    else:
        Path(result["_shipped_graph"]).replace(target)
    rewrite_int8(run_dir / "artifact" / METADATA_FILE, entry)
    record = run_dir.parent.parent / "records" / f"{run_dir.name}.json"
    if record.is_file():
        rewrite_int8(record, entry)


def run_label(run_dir: Path) -> str:
    """The benchmark and the run: `accuracy/20ng-bert-10876399`, `default_model/pfc-lc11`."""
    return f"{run_dir.parent.parent.name}/{run_dir.name}"


def kept_runs() -> list[Path]:
    """Every run of RUN_FOLDERS whose artifact is still there."""
    return sorted(
        path.parent.parent
        for folder in RUN_FOLDERS
        for path in (RESULTS / folder / "runs").glob("*/artifact/model.onnx")
    )


def merged(results: list[dict], output: Path) -> list[dict]:
    """The runs measured now, and the ones measured earlier that were not measured again."""
    earlier = json.loads(output.read_text()) if output.is_file() else []
    fresh = {result["run"] for result in results}
    return sorted([r for r in earlier if r["run"] not in fresh] + results, key=lambda r: r["run"])


def rewrite_int8(path: Path, entry: dict) -> None:
    document = json.loads(path.read_text())
    document["precisions"] = {**(document.get("precisions") or {}), "int8": entry}
    path.write_text(json.dumps(document, indent=2) + "\n")


def render(results: list[dict]) -> str:
    names = list(RECIPES)
    lines = [
        "## int8 recipes",
        "",
        f"`{command_line('benchmarks/int8_recipes.py')}`",
        "",
        "Test accuracy (%) of each run's fp32 graph and of int8 graphs made from it four ways "
        '(dynamic quantization; docs/design.md, "Precisions"). One seed per run; 0.1 point is '
        "one document in 1,000.",
        "",
        "| run | test documents | fp32 | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for result in results:
        cells = [f"{100 * result[name]:.1f}" for name in ("fp32", *names)]
        lines.append(f"| {result['run']} | {result['documents']} | " + " | ".join(cells) + " |")
    drops = {name: [100 * (r["fp32"] - r[name]) for r in results] for name in names}
    lines += [
        "",
        "Median points below fp32: "
        + ", ".join(f"{name} {np.median(values):.1f}" for name, values in drops.items())
        + ".",
    ]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs",
        nargs="+",
        type=Path,
        help="run directories (default: every kept run of the accuracy report and the default "
        "model)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--update-records", action="store_true")
    parser.add_argument("--max-drop", type=float, default=0.5, help="points, as --int8-max-drop")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    runs = args.runs or kept_runs()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for run_dir in runs:
            result = compare_run(run_dir, Path(scratch), args.batch_size, args.update_records)
            if args.update_records:
                update_records(result, run_dir, args.max_drop)
            measured = {key: value for key, value in result.items() if not key.startswith("_")}
            print(json.dumps(measured), flush=True)
            results.append(measured)
    results = merged(results, args.output)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    replace_section(args.report, SECTION, render(results))
    print(f"wrote {args.output} and the {SECTION} section of {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
