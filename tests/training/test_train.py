"""End to end on a tiny BERT: train -> export -> evaluate, repeatability, resume, the CLI."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from transformers import TrainerCallback

from artifact.files import EXPLAIN_FILE, PRECISION_FILES
from artifact.runtime import OnnxClassifier
from tests.artifacts import tiny_documents
from tests.training.conftest import labelled_rows, run_torchrun, train_argv, write_csv
from training.__main__ import TRAIN_GROUPS, main, parse
from training.args import DataArguments
from training.data import load_splits
from training.train import train

EPOCHS = ("--epochs", "2")


def predictions(artifact_dir):
    texts, _ = tiny_documents(10, seed=11)
    return OnnxClassifier.from_artifact(artifact_dir).predict(texts)[0]


def validation_loss(run_dir: Path, train_file: Path) -> float:
    """Mean cross-entropy of the exported model on the run's validation split."""
    splits = load_splits(DataArguments(train_file=str(train_file)))
    logits, _ = OnnxClassifier.from_artifact(run_dir / "artifact").predict(
        [d.text for d in splits.validation]
    )
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(logits)), splits.label_ids(splits.validation)].mean())


@pytest.fixture(scope="module")
def finished_run(tiny_base_model, tiny_train_csv, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("run")
    assert main(train_argv(tiny_base_model, tiny_train_csv, output_dir, *EPOCHS)) == 0
    return output_dir


def test_run_writes_artifact_metrics_split_and_config(finished_run, tiny_train_csv):
    artifact = finished_run / "artifact"
    metadata = json.loads((artifact / "metadata.json").read_text())
    metrics = json.loads((finished_run / "metrics.json").read_text())
    split = json.loads((finished_run / "split.json").read_text())

    lower = [PRECISION_FILES[p] for p in ("int8", "fp16") if metadata["precisions"][p]["file"]]
    assert sorted(p.name for p in artifact.iterdir()) == sorted([
        "labels.json", "metadata.json", "model.onnx", EXPLAIN_FILE, "tokenizer.json", *lower,
    ])  # fmt: skip
    assert json.loads((artifact / "labels.json").read_text()) == ["politics", "sport", "tech"]
    assert metadata["variant"] == "pfc" and metadata["max_length"] == 48
    assert metadata["metrics"]["accuracy"] == metrics["accuracy"]
    assert metrics["confusion_matrix"] == metadata["metrics"]["confusion_matrix"]
    assert metrics["num_documents"] == split["sizes"]["test"] == 12
    sizes = {"train": 38, "validation": 10, "test": 12}
    assert split["sizes"] == metadata["dataset"]["sizes"] == sizes
    assert metadata["dataset"]["split_fingerprint"] == split["split_fingerprint"]
    assert len(split["documents"]["train"]) == 38
    assert metadata["parity"] == metrics["parity"]
    assert metadata["parity"]["passed"] and metadata["parity"]["num_documents"] == 8
    assert metrics["training"]["steps"] == 10 and metrics["training"]["resumed_from"] is None
    assert metrics["training"]["device"] == "cpu"  # records say which hardware trained them
    assert metrics["validation"]["loss"] == pytest.approx(
        validation_loss(finished_run, tiny_train_csv), abs=1e-3
    )
    assert metadata["training_time_s"] > 0
    assert not [p.name for p in finished_run.iterdir() if p.name.startswith(".")]


def test_evaluate_reproduces_the_reported_metrics(finished_run, capsys):
    assert main(["evaluate", str(finished_run / "artifact")]) == 0
    rescored = json.loads(capsys.readouterr().out)
    reported = json.loads((finished_run / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "micro_f1", "confusion_matrix", "mean_kept_kv_counts"):
        assert rescored[key] == reported[key]


def test_run_config_repeats_the_run_exactly(finished_run, tmp_path):
    config = finished_run / "run_config.json"
    assert main(["train", "--config", str(config), "--output-dir", str(tmp_path)]) == 0

    again = json.loads((tmp_path / "split.json").read_text())
    assert again == json.loads((finished_run / "split.json").read_text())
    np.testing.assert_allclose(
        predictions(tmp_path / "artifact"), predictions(finished_run / "artifact"), atol=1e-5
    )


class Interrupt(Exception):
    pass


class InterruptAfterFirstCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise Interrupt(f"stopped after step {state.global_step}")


def test_resumes_after_an_interruption_and_ends_where_an_uninterrupted_run_does(
    finished_run, tiny_base_model, tiny_train_csv, tmp_path
):
    argv = train_argv(tiny_base_model, tiny_train_csv, tmp_path, *EPOCHS)[1:]
    _, groups, _ = parse(TRAIN_GROUPS, argv, "test", "")

    with pytest.raises(Interrupt, match="after step 5"):
        train(*groups, callbacks=[InterruptAfterFirstCheckpoint()])
    assert not (tmp_path / "artifact").exists()
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["checkpoint-5"]
    clock = json.loads(
        (tmp_path / "checkpoints" / "checkpoint-5" / "training_time.json").read_text()
    )

    result = train(*groups)
    assert result.training_time_s > clock["seconds"] > 0
    assert result.metrics["training"]["resumed_from"] == "checkpoint-5"
    assert result.metrics["training"]["steps"] == 10
    np.testing.assert_allclose(
        predictions(result.artifact_dir), predictions(finished_run / "artifact"), atol=1e-5
    )


def test_config_file_sets_options_and_the_command_line_wins(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("dataset: bbc\nvariant: pf\nepochs: 4\nkeep-ratio: 0.8\n", encoding="utf-8")
    argv = ["--config", str(config), "--epochs", "1", "--output-dir", str(tmp_path)]
    _, (model_args, data_args, recipe, _), _ = parse(TRAIN_GROUPS, argv, "test", "")

    assert (model_args.variant, model_args.keep_ratio) == ("pf", 0.8)
    assert data_args.dataset == "bbc"
    assert recipe.epochs == 1.0


def test_config_file_with_an_unknown_option(tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"dataset": "bbc", "epoch": 3}), encoding="utf-8")
    with pytest.raises(SystemExit, match=r"unknown options \['epoch'\]"):
        parse(TRAIN_GROUPS, ["--config", str(config)], "test", "")


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    text = capsys.readouterr().out

    assert exit_info.value.code == 0
    for group in TRAIN_GROUPS:
        for field in fields(group):
            assert field.metadata.get("help"), field.name
            assert f"--{field.name.replace('_', '-')}" in text
    assert "--config" in text


def test_bad_data_exits_with_the_file_and_row(tiny_base_model, tmp_path, capsys):
    rows = labelled_rows(30)
    rows[16]["text"] = ""
    path = write_csv(tmp_path / "bad.csv", rows)
    code = main(train_argv(tiny_base_model, path, tmp_path / "run"))

    assert code == 1
    assert f"error: {path}: row 17: empty text in column 'text'" in capsys.readouterr().err
    assert not (tmp_path / "run" / "artifact").exists()


def test_missing_output_dir_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", "bbc"])
    assert exit_info.value.code == 2
    assert "--output-dir is required" in capsys.readouterr().err


def graph_signature(artifact_dir: Path) -> dict:
    session = ort.InferenceSession(str(artifact_dir / "model.onnx"))
    return {
        "inputs": [(i.name, i.type) for i in session.get_inputs()],
        "outputs": [(o.name, o.type) for o in session.get_outputs()],
    }


@pytest.mark.slow
def test_two_cpu_processes_with_torchrun_give_the_same_artifact_format(
    finished_run, tiny_base_model, tiny_train_csv, tmp_path
):
    # One validation document per process and step: no shard is padded with repeated documents,
    # which would shift the gathered mean loss away from the true one.
    argv = train_argv(tiny_base_model, tiny_train_csv, tmp_path, *EPOCHS, "--eval-batch-size", "1")
    run_torchrun(argv)

    one, two = finished_run / "artifact", tmp_path / "artifact"
    one_metadata = json.loads((one / "metadata.json").read_text())
    two_metadata = json.loads((two / "metadata.json").read_text())
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert set(two_metadata) == set(one_metadata)
    assert (two / "labels.json").read_text() == (one / "labels.json").read_text()
    assert graph_signature(two) == graph_signature(one)
    assert two_metadata["parity"]["passed"]
    assert two_metadata["dataset"] == one_metadata["dataset"]
    assert two_metadata["training"]["world_size"] == 2
    assert two_metadata["training"]["steps"] == 6  # 38 documents, 2 x 8 a step, 2 epochs
    reported = json.loads((tmp_path / "metrics.json").read_text())["validation"]["loss"]
    assert reported == pytest.approx(validation_loss(tmp_path, tiny_train_csv), abs=1e-3)
