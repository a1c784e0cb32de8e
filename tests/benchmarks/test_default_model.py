"""benchmarks/default_model.py: the build script's configuration, the table and the verdict."""

from __future__ import annotations

import json

import pytest

from benchmarks.accuracy_plan import CONFIGS
from benchmarks.default_model import piece_options, render, verdict
from benchmarks.default_recipe import shipped_config
from training.precisions import INT8_RECIPE


def record(config: str, fp32: float, int8: float, shipped: bool = True) -> dict:
    return {
        "config": config,
        "accuracy": fp32,
        "precisions": {
            "int8": {
                "accuracy": int8,
                "file": "model.int8.onnx" if shipped else None,
                "recipe": INT8_RECIPE,
            }
        },
        "training_time_s": 300.0,
        "device": "cpu",
    }


def speed(config: str, ratio: float) -> dict:
    """A speed.json with one configuration at 8 x 128, as benchmarks/frontier.py writes it."""
    from benchmarks.accuracy_plan import CONFIGS
    from benchmarks.frontier import graph_of

    graph = graph_of(CONFIGS[config]).name
    return {"configs": {config: {"graph": graph, "lengths": {"128": {"speed_ratio": ratio}}}}}


def test_the_build_script_trains_a_configuration_of_the_plan():
    assert shipped_config() in CONFIGS


def test_the_shipped_configuration_follows_the_scripts_options(monkeypatch):
    from benchmarks import default_recipe

    def script_says(*argv: str) -> None:
        monkeypatch.setattr(default_recipe, "default_training_argv", lambda _: list(argv))

    script_says("--variant", "pfc", "--paper-combine-layer", "7")
    assert shipped_config() == "pfc-lc7"
    script_says("--variant", "pfc", "--paper-combine-layer", "7", "--insert-combiner")
    assert shipped_config() == "pfc-lc7-inserted"
    script_says("--variant", "c")
    assert shipped_config() == "c-lc11"


def test_a_distilled_script_trains_the_configuration_with_as_many_teachers(monkeypatch):
    from benchmarks import default_recipe

    def script_says(*argv: str) -> None:
        monkeypatch.setattr(default_recipe, "default_training_argv", lambda _: list(argv))

    pfc7 = ("--variant", "pfc", "--paper-combine-layer", "7")
    script_says(*pfc7, "--teacher", "auto")
    assert shipped_config() == "pfc-lc7-kd"
    # On a dataset used whole a transfer set has no documents to take: the distilled teacher's
    # configuration is the one trained on the 3x set in the plan.
    script_says(*pfc7, "--teacher", "auto", "--teacher-generations", "2")
    assert shipped_config() == "pfc-lc7-kd-transfer-from-kd"
    # On a subset the transfer set must be the configuration's.
    subset = ("--max-train-samples", "1000", "--teacher", "auto")
    script_says(*pfc7, *subset, "--distill-transfer-samples", "3000")
    assert shipped_config() == "pfc-lc7-kd-transfer"
    script_says(*pfc7, *subset, "--distill-transfer-samples", "7000")
    assert shipped_config() == "pfc-lc7-kd-transfer7000"
    script_says(*pfc7, *subset, "--teacher-generations", "2")
    with pytest.raises(ValueError, match="trains no configuration"):
        shipped_config()  # the plan's distilled teacher always comes with a transfer set
    # The last of a repeated option wins, as in the CLI; `--teacher none` cancels a teacher.
    script_says(*pfc7, "--teacher", "auto", "--teacher", "none", "--prune-queries", "false")
    assert shipped_config() == "pfc-lc7"
    script_says(*pfc7, "--keep-ratio", "0.9", "--num-combination-tokens", "8")
    assert shipped_config() == "pfc-lc7"


def test_pieces_say_their_teachers_and_frozen_tokens_explicitly():
    assert piece_options("bert") == [
        *("--variant", "bert", "--teacher", "none", "--teacher-generations", "1"),
        *("--prune-queries", "false"),
    ]
    frozen = piece_options("pfc-lc11-frozen")
    assert "--prune-queries" in frozen and "false" not in frozen
    distilled = piece_options("pfc-lc7-kd-transfer-from-kd")
    assert distilled[:4] == ["--variant", "pfc", "--paper-combine-layer", "7"]
    assert distilled[4:8] == ["--teacher", "auto", "--teacher-generations", "2"]
    # BBC News, the script's dataset, is used whole: no transfer set to ask for.
    assert "--distill-transfer-samples" not in distilled


def test_the_build_time_counts_every_teacher_run(tmp_path):
    from benchmarks.default_model import build_time, chain_training_seconds

    run = tmp_path / "run"
    for directory, seconds in (
        (run, 180.0),
        (run / "teacher", 240.0),
        (run / "teacher" / "teacher", 120.0),
    ):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "metrics.json").write_text(json.dumps({"training": {"time_s": seconds}}))
    assert chain_training_seconds(run) == [120.0, 240.0, 180.0]
    shipped = record("p", 0.98, 0.98) | {
        "training_time_s": 540.0,
        "run_times_s": [120.0, 240.0, 180.0],
    }
    assert build_time(shipped)[-1] == (
        "The shipped default trained in 9.0 min (2 teacher runs and the model: 2.0 + 4.0 + 3.0 "
        "min) on cpu."
    )
    shipped["build_wall_s"] = 630.0
    assert build_time(shipped)[-1].endswith("on cpu; the script ran 10.5 min end to end.")


def test_verdict_reports_both_targets_with_their_margins():
    shipped = shipped_config()
    records = {"bert": record("bert", 0.98, 0.98), shipped: record(shipped, 0.977, 0.974)}
    text = verdict(records, None, shipped, 128)
    assert "accuracy missed (-0.6 points)" in text and "speed not measured" in text
    records[shipped] = record(shipped, 0.98, 0.977)
    assert "accuracy met (-0.3 points)" in verdict(records, None, shipped, 128)
    assert "speed met (1.45x)" in verdict(records, speed(shipped, 1.45), shipped, 128)
    assert "speed missed (1.16x)" in verdict(records, speed(shipped, 1.16), shipped, 128)
    assert "Not measured yet: bert" in verdict({shipped: records[shipped]}, None, shipped, 128)


def test_table_marks_the_shipped_configuration_and_left_out_int8():
    shipped = shipped_config()
    table = render(
        {"bert": record("bert", 0.98, 0.98), shipped: record(shipped, 0.9, 0.8, False)}, None
    )
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert rows[0] == "| bert | 98.0 | 98.0 |  | 1.00x |"
    assert "(shipped)" in rows[1] and rows[1].endswith("80.0 (left out) | -18.0 | not measured |")
    assert "The shipped default trained in 5.0 min on cpu." in table


def test_a_seed_repeat_is_its_own_row_against_bert_of_the_same_seed():
    shipped = shipped_config()
    records = {
        "bert": record("bert", 0.98, 0.98),
        shipped: record(shipped, 0.98, 0.978),
        "bert-seed43": record("bert", 0.98, 0.984) | {"seed": 43},
        f"{shipped}-seed43": record(shipped, 0.977, 0.975) | {"seed": 43},
    }
    rows = [line for line in render(records, None).splitlines() if line.startswith("| ")][1:]
    name = CONFIGS[shipped].name
    assert rows[1].startswith(f"| {name} (shipped) |") and "| -0.2 |" in rows[1]
    assert rows[3].startswith(f"| {name}, seed 43 |") and "| -0.9 |" in rows[3]
    # The verdict reads the script's own seed.
    assert "accuracy met (-0.2 points)" in verdict(records, None, shipped, 128)


def test_the_shipped_configuration_is_averaged_over_the_seeds_measured_with_bert():
    shipped = shipped_config()
    records = {
        "bert": record("bert", 0.971, 0.971),
        shipped: record(shipped, 0.982, 0.982),  # +1.1
        "bert-seed43": record("bert", 0.982, 0.984) | {"seed": 43},
        f"{shipped}-seed43": record(shipped, 0.978, 0.975) | {"seed": 43},  # -0.9
        "bert-seed44": record("bert", 0.978, 0.978) | {"seed": 44},
        f"{shipped}-seed44": record(shipped, 0.982, 0.984) | {"seed": 44},  # +0.6
        f"{shipped}-seed45": record(shipped, 0.9, 0.9) | {"seed": 45},  # no bert: left out
    }
    table = render(records, None)
    assert "Over the 3 seeds measured (+1.1, -0.9, +0.6): +0.3 points at int8, the accuracy " \
           "target met on the mean." in table  # fmt: skip


def test_one_seed_has_no_mean_line():
    shipped = shipped_config()
    records = {"bert": record("bert", 0.97, 0.97), shipped: record(shipped, 0.98, 0.98)}
    assert "Over the" not in render(records, None)
