"""benchmarks/whole_test.py: the paired difference, its standard error, and its pairing."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace

import numpy as np
import pytest

from benchmarks.accuracy_plan import DEFAULT_RECIPE_PLAN
from benchmarks.whole_test import (
    Paired,
    Scored,
    cached_pairs,
    holds_graph,
    mean_over_seeds,
    pair_up,
    render,
    score_path,
    selected_records,
    verdict,
)
from benchmarks.whole_test import scored as scored_or_cached
from tests.artifact.conftest import METADATA, write_files

CONFIG = "pfc-lc7-kd-transfer-from-kd"


def record(config: str, seed: int, dataset: str = "imdb", accuracy: float = 0.86) -> dict:
    settings = asdict(replace(DEFAULT_RECIPE_PLAN[dataset], seed=seed))
    return {
        "dataset": dataset,
        "config": config,
        "paper_row": f"row of {config}",
        "settings": settings,
        "accuracy": accuracy,
        "precisions": {"int8": {"accuracy": accuracy + 0.004}},
        "artifact": f"/runs/{dataset}-{config}-{seed}/artifact",
    }


def scored(config: str, seed: int, correct: list[int], labels: list[int] | None = None) -> Scored:
    labels = labels if labels is not None else [0] * len(correct)
    return Scored(record(config, seed), "int8", np.array(correct, dtype=bool), labels)


def test_seeds_average_and_their_error_is_taken_per_document():
    first = Paired(scored(CONFIG, 42, [1, 1, 0, 0]), scored("bert", 42, [1, 1, 1, 0]))  # -25
    second = Paired(scored(CONFIG, 43, [1, 1, 1, 1]), scored("bert", 43, [1, 1, 1, 1]))  # 0
    points, error = mean_over_seeds([first, second])
    assert points == pytest.approx(-12.5)
    # per-document differences of the seeds' shares: 0, 0, -0.5, 0 (sample std 0.25, over 2)
    assert error == pytest.approx(100 * 0.25 / 2)


def test_seeds_that_err_on_the_same_documents_do_not_shrink_the_error():
    """Two seeds that miss the same documents know no more than one: independent errors added
    in quadrature would claim 1/sqrt(2) of it."""
    one = Paired(scored(CONFIG, 42, [1, 0, 1, 0, 1, 1]), scored("bert", 42, [1, 1, 1, 1, 1, 1]))
    again = Paired(scored(CONFIG, 43, [1, 0, 1, 0, 1, 1]), scored("bert", 43, [1, 1, 1, 1, 1, 1]))
    points, error = mean_over_seeds([one, again])
    assert points == pytest.approx(one.points)
    assert error == pytest.approx(one.standard_error)
    assert error > math.hypot(one.standard_error, again.standard_error) / 2


def test_seeds_scored_on_other_documents_are_not_averaged_per_document():
    first = Paired(scored(CONFIG, 42, [1, 0]), scored("bert", 42, [1, 1]))
    other = Paired(scored(CONFIG, 43, [1, 0], [0, 1]), scored("bert", 43, [1, 1], [0, 1]))
    with pytest.raises(ValueError, match="different documents"):
        mean_over_seeds([first, other])


@pytest.mark.parametrize(
    ("points", "error", "expected"),
    [(-0.2, 0.1, "within"), (-0.4, 0.5, "undecided"), (-1.6, 0.5, "beyond"), (0.3, 0.4, "within")],
)
def test_the_verdict_reads_the_target_at_two_standard_errors(points, error, expected):
    assert verdict(points, error) == expected


def test_each_configuration_is_paired_with_bert_of_its_own_seed():
    scores = [
        scored("bert", 42, [1, 0]),
        scored("bert", 43, [1, 1]),
        scored(CONFIG, 43, [0, 1]),
        scored(CONFIG, 44, [1, 1]),  # no `bert` of seed 44: left out
    ]
    [pair] = pair_up(scores)
    assert pair.config.record["settings"]["seed"] == 43
    assert pair.baseline.record["settings"]["seed"] == 43
    assert pair.points == pytest.approx(-50.0)


def test_runs_scored_on_different_documents_are_refused():
    scores = [scored("bert", 42, [1, 0], labels=[0, 1]), scored(CONFIG, 42, [1, 0], labels=[1, 1])]
    with pytest.raises(ValueError, match="different documents"):
        pair_up(scores)


def test_only_the_plans_records_of_the_configurations_and_bert_are_read():
    changed = record(CONFIG, 42)
    changed["settings"] = {**changed["settings"], "epochs": 3.0}  # another plan: not a repeat
    records = [
        record("bert", 42),
        record(CONFIG, 43),
        record("p", 42),
        record(CONFIG, 42, dataset="20ng"),
        changed,
    ]
    chosen = selected_records(records, "default-recipe", ["imdb"], [CONFIG])
    assert [(r["config"], r["settings"]["seed"]) for r in chosen] == [("bert", 42), (CONFIG, 43)]


def test_the_table_has_a_row_per_seed_and_their_mean():
    pairs = [
        Paired(scored(CONFIG, 42, [1, 1, 0, 0]), scored("bert", 42, [1, 1, 1, 0])),
        Paired(scored(CONFIG, 43, [1, 1, 1, 1]), scored("bert", 43, [1, 1, 1, 1])),
    ]
    table = render(pairs, "python benchmarks/whole_test.py")
    rows = [line for line in table.splitlines() if line.startswith("| IMDB")]
    assert len(rows) == 3
    assert "| 42 | 4 | 75.0 | 50.0 | -25.0 ± 25.0 | +0.0 |" in rows[0]
    assert "mean of 42, 43" in rows[2] and "**-12.5 ± 12.5**" in rows[2]


def test_cached_pairs_read_the_cache_alone(tmp_path):
    """A record without cached scores is left out, never scored: the frontier reads this."""
    config, bert, unscored = record(CONFIG, 42), record("bert", 42), record("p", 42)
    for item, predicted in ((config, [1, 0, 0]), (bert, [1, 1, 0])):
        cache = {"labels": [1, 1, 0], "predicted": predicted}
        score_path(tmp_path, item, "fp32").write_text(json.dumps(cache))
    pairs = cached_pairs([config, bert, unscored], tmp_path, "fp32")
    assert [pair.config.record["config"] for pair in pairs] == [CONFIG]
    assert pairs[0].points == pytest.approx(-100 / 3)
    assert cached_pairs([config, bert], tmp_path, "int8") == []


def test_a_graph_left_out_of_its_artifact_is_skipped_not_scored(tmp_path):
    precisions = {"fp32": {"file": "model.onnx"}, "int8": {"file": None, "reason": "lost 0.9"}}
    artifact = write_files(tmp_path / "run" / "artifact", {**METADATA, "precisions": precisions})
    kept = {**record(CONFIG, 42), "artifact": str(artifact)}  # its model.onnx is a placeholder
    assert not holds_graph(kept, "int8") and holds_graph(kept, "fp32")
    assert scored_or_cached(kept, "int8", tmp_path / "scores", batch_size=8) is None
    assert not (tmp_path / "scores").exists()
