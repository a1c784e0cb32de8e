"""benchmarks/default_model.py: the build script's configuration, the table and the verdict."""

from __future__ import annotations

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


def test_pieces_without_frozen_tokens_say_so_explicitly():
    assert piece_options("bert") == ["--variant", "bert", "--prune-queries", "false"]
    assert piece_options("pfc-lc11-frozen")[-1] == "--prune-queries"


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
