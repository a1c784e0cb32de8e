"""benchmarks/int8_recipes.py --update-records: the shipped int8 graph kept or left out by the
gate training applies (the mean over batchings), in the artifact, its metadata and its record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from artifact.files import METADATA_FILE, PRECISION_FILES
from benchmarks.int8_recipes import SHIPPED, update_records
from training.precisions import INT8_RECIPE


def a_run(tmp_path: Path, batch_16_accuracy: float, mean_accuracy: float) -> tuple[Path, dict]:
    """A kept run (artifact with metadata, and its benchmark record) and a comparison result in
    which the shipped graph read `batch_16_accuracy` at the table's batch and `mean_accuracy`
    over the gate's batchings; fp32 read 0.9."""
    run_dir = tmp_path / "accuracy" / "runs" / "bbc-pfc-1234"
    (run_dir / "artifact").mkdir(parents=True)
    (tmp_path / "accuracy" / "records").mkdir()
    document = {"precisions": {"fp32": {"file": PRECISION_FILES["fp32"], "accuracy": 0.9}}}
    for path in (
        run_dir / "artifact" / METADATA_FILE,
        tmp_path / "accuracy" / "records" / "bbc-pfc-1234.json",
    ):
        path.write_text(json.dumps(document))
    graph = tmp_path / "remade.int8.onnx"
    graph.write_bytes(b"int8 graph")
    scores = {
        "accuracy": mean_accuracy,
        "macro_f1": mean_accuracy,
        "label_agreement": 0.98,
        "max_prob_diff": 0.3,
        "accuracy_by_batch_size": {"1": mean_accuracy, "16": batch_16_accuracy},
        "accuracy_drop_standard_error": 0.004,
    }
    result = {"fp32": 0.9, SHIPPED: batch_16_accuracy, "_shipped_scores": scores,
              "_shipped_graph": str(graph)}  # fmt: skip
    return run_dir, result


def int8_entries(run_dir: Path) -> list[dict]:
    record = run_dir.parent.parent / "records" / f"{run_dir.name}.json"
    return [
        json.loads(path.read_text())["precisions"]["int8"]
        for path in (run_dir / "artifact" / METADATA_FILE, record)
    ]


def test_a_graph_within_the_allowance_on_the_mean_is_kept_whatever_one_batching_read(tmp_path):
    run_dir, result = a_run(tmp_path, batch_16_accuracy=0.893, mean_accuracy=0.898)
    update_records(result, run_dir, max_drop=0.5)
    assert (run_dir / "artifact" / PRECISION_FILES["int8"]).read_bytes() == b"int8 graph"
    for entry in int8_entries(run_dir):
        assert entry["file"] == PRECISION_FILES["int8"] and "reason" not in entry
        assert entry["accuracy"] == pytest.approx(0.898)
        assert entry["accuracy_by_batch_size"]["16"] == pytest.approx(0.893)
        assert entry["recipe"] == INT8_RECIPE


def test_a_graph_over_the_allowance_on_the_mean_is_left_out_with_its_reason(tmp_path):
    run_dir, result = a_run(tmp_path, batch_16_accuracy=0.899, mean_accuracy=0.890)
    (run_dir / "artifact" / PRECISION_FILES["int8"]).write_bytes(b"an older int8 graph")
    update_records(result, run_dir, max_drop=0.5)
    assert not (run_dir / "artifact" / PRECISION_FILES["int8"]).exists()
    for entry in int8_entries(run_dir):
        assert entry["file"] is None
        assert "1.0 ± 0.4 points below fp32" in entry["reason"]
