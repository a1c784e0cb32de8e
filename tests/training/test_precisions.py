"""The artifact at fp32, int8 and fp16: written, scored against PyTorch, dropped when worse."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from artifact.card import ArtifactError, load_artifact
from artifact.files import PRECISION_FILES
from artifact.runtime import OnnxClassifier, softmax
from tests.artifacts import tiny_documents
from tests.training.conftest import train_argv
from training.__main__ import main
from training.documents import Document
from training.evaluate import score_with_probabilities
from training.precisions import export_precisions, scoring_nodes


@pytest.fixture(scope="module")
def run(tiny_base_model, tiny_train_csv, tmp_path_factory):
    """A tiny pfc run whose lower precisions are all kept (any accuracy drop allowed)."""
    output_dir = tmp_path_factory.mktemp("precisions")
    argv = train_argv(tiny_base_model, tiny_train_csv, output_dir, "--epochs", "1")
    assert main([*argv, "--int8-max-drop", "100"]) == 0
    return output_dir


def test_every_precision_is_written_and_scored_against_pytorch(run):
    metadata = json.loads((run / "artifact" / "metadata.json").read_text())
    precisions = metadata["precisions"]
    assert set(precisions) == set(PRECISION_FILES)
    for precision, entry in precisions.items():
        assert entry["file"] == PRECISION_FILES[precision]
        assert (run / "artifact" / entry["file"]).is_file()
        assert set(entry) == {"file", "accuracy", "macro_f1", "label_agreement", "max_prob_diff"}
    assert precisions["fp32"]["accuracy"] == metadata["metrics"]["accuracy"]
    assert precisions["fp32"]["label_agreement"] == 1.0
    assert precisions["fp32"]["max_prob_diff"] < 1e-4  # ONNX fp32 vs PyTorch fp32
    assert load_artifact(run / "artifact").card.available_precisions() == ["fp32", "int8", "fp16"]


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_evaluate_scores_the_chosen_precision_as_training_did(run, precision, capsys):
    artifact = run / "artifact"
    assert main(["evaluate", str(artifact), "--precision", precision]) == 0
    rescored = json.loads(capsys.readouterr().out)
    recorded = json.loads((artifact / "metadata.json").read_text())["precisions"][precision]
    assert rescored["precision"] == precision
    assert rescored["accuracy"] == pytest.approx(recorded["accuracy"])


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_a_document_gets_the_same_label_alone_or_batched(run, precision):
    classifier = OnnxClassifier.from_artifact(run / "artifact", precision=precision)
    texts, _ = tiny_documents(9, seed=21)
    batched, _ = classifier.predict(texts, batch_size=9)
    for row, text in enumerate(texts):
        alone, _ = classifier.predict([text])
        assert alone.argmax() == batched[row].argmax()
        np.testing.assert_allclose(softmax(alone[0]), softmax(batched[row]), atol=1e-2)


def test_fp16_keeps_the_same_keys_and_values_as_fp32(run):
    texts, _ = tiny_documents(12, seed=22)
    _, kept32 = OnnxClassifier.from_artifact(run / "artifact").predict(texts)
    _, kept16 = OnnxClassifier.from_artifact(run / "artifact", precision="fp16").predict(texts)
    assert np.array_equal(kept32, kept16)


def test_the_scoring_path_stays_fp32(run):
    fp32 = onnx.load(str(run / "artifact" / PRECISION_FILES["fp32"]))
    blocked = scoring_nodes(fp32)
    kinds = {node.op_type for node in fp32.graph.node if node.name in blocked}
    assert {"Softmax", "TopK", "ReduceMean"} <= kinds and "MatMul" not in kinds
    topks = [node.name for node in fp32.graph.node if node.op_type == "TopK"]
    assert topks and set(topks) <= set(blocked)


def test_a_precision_that_loses_accuracy_is_left_out_with_its_reason(run, tmp_path):
    artifact = load_artifact(run / "artifact")
    for name in ("model.onnx", "tokenizer.json", "labels.json"):
        (tmp_path / name).write_bytes((run / "artifact" / name).read_bytes())
    classifier = OnnxClassifier.from_artifact(artifact)
    texts, labels = tiny_documents(8, seed=23)
    documents = [
        Document(text=t, labels=(artifact.card.labels[y],), file="generated", row=i)
        for i, (t, y) in enumerate(zip(texts, labels, strict=True))
    ]
    logits, _ = classifier.predict(texts)
    reference = softmax(logits)
    # A negative allowance drops any precision that is not strictly more accurate than fp32.
    fp32_scores = score_with_probabilities(classifier, documents)
    precisions, warnings = export_precisions(
        tmp_path, classifier, documents, reference, fp32_scores, max_accuracy_drop=-0.01
    )
    for precision in ("int8", "fp16"):
        assert precisions[precision]["file"] is None
        assert "points below fp32" in precisions[precision]["reason"]
        assert not (tmp_path / PRECISION_FILES[precision]).exists()
    assert len(warnings) == 2 and warnings[0].startswith("int8 graph left out")


def test_asking_for_a_precision_the_artifact_lacks_names_what_it_has(run, tmp_path):
    artifact = run / "artifact"
    copy = tmp_path / "artifact"
    copy.mkdir()
    for path in artifact.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    metadata = json.loads((copy / "metadata.json").read_text())
    metadata["precisions"]["int8"] = {"file": None, "reason": "too inaccurate"}
    (copy / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=r"no int8 graph \(too inaccurate\); it has fp32, fp16"):
        OnnxClassifier.from_artifact(copy, precision="int8")


def test_precisions_are_scored_under_the_runs_truncation(tiny_base_model, tiny_train_csv, tmp_path):
    """With chunks, every precision reads windows and aggregates them, like the main metrics."""
    argv = train_argv(tiny_base_model, tiny_train_csv, tmp_path, "--epochs", "1")
    chunked = [*argv, "--truncation", "chunks", "--max-length", "16", "--int8-max-drop", "100"]
    assert main(chunked) == 0
    metadata = json.loads((tmp_path / "artifact" / "metadata.json").read_text())
    assert metadata["metrics"]["truncation"]["strategy"] == "chunks"
    assert metadata["precisions"]["fp32"]["accuracy"] == metadata["metrics"]["accuracy"]
    assert metadata["precisions"]["fp32"]["max_prob_diff"] < 1e-4
