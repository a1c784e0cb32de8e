"""The artifact at fp32, int8 and fp16: written, scored against PyTorch, dropped when worse."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import onnx
import pytest

from artifact.card import ArtifactError, load_artifact
from artifact.files import PRECISION_FILES
from artifact.runtime import OnnxClassifier, softmax
from model.onnx_export import COMBINE_LAYER_PROP, combined_token_nodes, export_onnx
from tests.artifacts import tiny_documents
from tests.factories import make_tiny_model
from tests.training.conftest import train_argv
from training.__main__ import main
from training.documents import Document
from training.evaluate import score_with_probabilities
from training.precisions import (
    INT8_GATE_BATCH_SIZES,
    INT8_RECIPE,
    export_precisions,
    over_batchings,
    scoring_nodes,
    too_inaccurate,
    write_int8,
)


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
        scores = {"file", "accuracy", "macro_f1", "label_agreement", "max_prob_diff"}
        if precision != "fp32":
            scores |= {"accuracy_by_batch_size", "accuracy_drop_standard_error"}
            assert 0 <= entry["accuracy_drop_standard_error"] < 1
        assert set(entry) == scores | ({"recipe"} if precision == "int8" else set())
    assert precisions["int8"]["recipe"] == INT8_RECIPE
    # int8 is judged over batchings (its activations are quantized per batch), fp16 at one.
    by_batch = precisions["int8"]["accuracy_by_batch_size"]
    assert list(by_batch) == [str(size) for size in INT8_GATE_BATCH_SIZES]
    assert precisions["int8"]["accuracy"] == pytest.approx(np.mean(list(by_batch.values())))
    assert list(precisions["fp16"]["accuracy_by_batch_size"]) == ["8"]  # the run's --batch-size
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
    # evaluate's default batch of 16 is one of the batchings int8 was judged over; fp16 was
    # scored at the run's batch of 8 and holds the same label in any batch (test below).
    batch = "16" if precision == "int8" else "8"
    assert rescored["accuracy"] == pytest.approx(recorded["accuracy_by_batch_size"][batch])


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_a_document_gets_the_same_label_alone_or_batched(run, precision):
    classifier = OnnxClassifier.from_artifact(run / "artifact", precision=precision)
    texts, _ = tiny_documents(9, seed=21)
    batched, _ = classifier.predict(texts, batch_size=9)
    for row, text in enumerate(texts):
        alone, _ = classifier.predict([text])
        assert alone.argmax() == batched[row].argmax()
        np.testing.assert_allclose(softmax(alone[0]), softmax(batched[row]), atol=1e-2)


def test_int8_is_judged_by_its_mean_over_batchings_not_one_draw():
    """Hand-made scorings: two classes, ten documents; at batch 16 the graph gets two fewer
    right than fp32's nine, at every other batching one fewer."""
    reference = np.tile([[0.9, 0.1]], (10, 1))  # fp32 says class 0 everywhere

    def score_at(batch_size: int) -> tuple[dict, np.ndarray]:
        flipped = 2 if batch_size == 16 else 1
        probabilities = reference.copy()
        probabilities[:flipped] = [0.4, 0.6]
        accuracy = (9 - flipped) / 10
        return {"accuracy": accuracy, "macro_f1": accuracy / 2}, probabilities

    true_labels = np.tile([[1, 0]], (10, 1))
    true_labels[9] = [0, 1]  # fp32 gets documents 0-8 right
    scores = over_batchings(
        score_at, (1, 8, 16, 32), reference, graded_against=(true_labels, reference)
    )
    assert scores["accuracy_by_batch_size"] == {"1": 0.8, "8": 0.8, "16": 0.7, "32": 0.8}
    assert scores["accuracy"] == pytest.approx(0.775)
    assert scores["macro_f1"] == pytest.approx(0.3875)
    assert scores["label_agreement"] == pytest.approx(0.8)  # the worst batching's
    assert scores["max_prob_diff"] == pytest.approx(0.5)
    # Allowed 15 points: the batch-16 draw alone (20 below fp32) would leave the graph out.
    assert too_inaccurate("int8", 0.7, 0.9, 0.15) is not None
    assert too_inaccurate("int8", scores["accuracy"], 0.9, 0.15) is None
    # Right shares against fp32, document by document: 0 - 1 on document 0 (flipped at every
    # batching), 0.75 - 1 on document 1 (flipped at batch 16 only), 0 elsewhere: mean -0.125.
    squared_deviations = 0.875**2 + 0.125**2 + 8 * 0.125**2
    expected = math.sqrt(squared_deviations / 9 / 10)
    assert scores["accuracy_drop_standard_error"] == pytest.approx(expected)
    reason = too_inaccurate("int8", 0.7, 0.9, 0.15, scores["accuracy_drop_standard_error"])
    assert reason is not None and "20.0 ± 10.0 points below fp32" in reason


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
        assert "±" in precisions[precision]["reason"]
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


def nodes_holding(weight: np.ndarray, graph: onnx.ModelProto) -> set[str]:
    """Names of the MatMul/Gemm nodes whose weight initializer holds `weight` (out, in) of an
    `nn.Linear`: as W.T or as a column block of a fused W.T (query/key/value in one), or as W."""
    initializers = {init.name: onnx.numpy_helper.to_array(init) for init in graph.graph.initializer}
    out_features = weight.shape[0]
    holders = set()
    for node in (n for n in graph.graph.node if n.op_type in {"MatMul", "Gemm"}):
        for array in (initializers.get(name) for name in node.input):
            if array is None or array.ndim != 2:
                continue
            blocks = [
                array[:, k : k + out_features] for k in range(0, array.shape[1], out_features)
            ]
            if any(b.shape == weight.T.shape and np.array_equal(b, weight.T) for b in blocks) or (
                array.shape == weight.shape and np.array_equal(array, weight)
            ):
                holders.add(node.name)
    return holders


@pytest.mark.parametrize("combine_layer", [2, 3])
def test_the_combined_token_nodes_are_the_combiners_and_later_layers_linears(
    tmp_path, combine_layer
):
    """Independent reference: the torch modules' weights. Each linear of the token combiner
    (layer Lc) that reads the combination tokens (query, value, output) and each linear of the
    layers after it is held by combined-token nodes only; the combiner's key, which reads the
    document tokens, and each linear before Lc by other nodes only."""
    from torch import nn

    model = make_tiny_model("pfc", combine_layer=combine_layer)
    graph = onnx.load(str(export_onnx(model, tmp_path / "model.onnx")))
    combined = set(combined_token_nodes(graph))
    for number, layer in enumerate(model.bert.encoder.layer, start=1):
        for name, linear in layer.named_modules():
            if not isinstance(linear, nn.Linear):
                continue
            holders = nodes_holding(linear.weight.detach().numpy(), graph)
            assert holders, f"layer {number}'s {name} weight is in the graph"
            on_combined = number > combine_layer or (number == combine_layer and name != "key")
            assert (holders <= combined) if on_combined else not (holders & combined), name


def test_a_graph_without_combining_has_no_combined_token_nodes(tmp_path):
    graph = onnx.load(str(export_onnx(make_tiny_model("pf"), tmp_path / "model.onnx")))
    assert combined_token_nodes(graph) == []


def test_a_recorded_combining_layer_without_its_nodes_is_refused(tmp_path):
    """An exporter naming nodes otherwise would quantize the combined tokens silently."""
    model = make_tiny_model("pfc", combine_layer=3)
    graph = onnx.load(str(export_onnx(model, tmp_path / "model.onnx")))
    assert {entry.key: entry.value for entry in graph.metadata_props} == {COMBINE_LAYER_PROP: "3"}
    for number, node in enumerate(graph.graph.node):
        node.name = f"node_{number}"
    with pytest.raises(ValueError, match="no node"):
        combined_token_nodes(graph)


def weighted_matmuls(graph: onnx.ModelProto, op_type: str = "MatMul") -> set[str]:
    """Names of the `op_type` nodes with an initializer among their inputs."""
    weights = {init.name for init in graph.graph.initializer}
    return {
        node.name
        for node in graph.graph.node
        if node.op_type == op_type and any(name in weights for name in node.input)
    }


def test_int8_keeps_the_combined_tokens_fp32_and_scales_each_output_channel(tmp_path):
    fp32 = export_onnx(make_tiny_model("pfc", combine_layer=2), tmp_path / "model.onnx")
    write_int8(fp32, tmp_path / "model.int8.onnx")
    before, int8 = onnx.load(str(fp32)), onnx.load(str(tmp_path / "model.int8.onnx"))
    combined = set(combined_token_nodes(before))
    still_float = weighted_matmuls(before) & combined
    assert still_float and weighted_matmuls(int8) == still_float
    integer = [node for node in int8.graph.node if node.op_type == "MatMulInteger"]
    assert integer, "the layers before combining are quantized"
    shapes = {init.name: list(init.dims) for init in int8.graph.initializer}
    for node in integer:
        columns = shapes[node.input[1]][-1]
        scale = node.input[1].removesuffix("_quantized") + "_scale"
        assert shapes[scale] == [columns], f"{node.name}: one weight scale per output channel"


def copied_run(run, tmp_path, name: str):
    """A copy of the tiny run laid out as a benchmark's (runs/NAME, records/NAME.json)."""
    run_dir = tmp_path / "accuracy" / "runs" / name
    shutil.copytree(run, run_dir)
    record = tmp_path / "accuracy" / "records" / f"{name}.json"
    record.parent.mkdir(exist_ok=True)
    record.write_text(json.dumps({"precisions": {"int8": {"accuracy": 0.0, "file": None}}}))
    return run_dir, record


def test_int8_recipes_rewrite_a_runs_int8_entry_as_evaluate_scores_it(run, tmp_path):
    from benchmarks import int8_recipes

    run_dir, record = copied_run(run, tmp_path, "kept")
    result = int8_recipes.compare_run(run_dir, tmp_path, batch_size=8, gate=True)
    assert result["run"] == "accuracy/kept"
    assert set(int8_recipes.RECIPES) <= set(result)
    int8_recipes.update_records(result, run_dir, max_drop=100)
    entry = json.loads((run_dir / "artifact" / "metadata.json").read_text())["precisions"]["int8"]
    assert entry["recipe"] == INT8_RECIPE and entry["file"] == PRECISION_FILES["int8"]
    # Scored as training scores it: at each gate batching, the table's batch of 8 among them.
    assert list(entry["accuracy_by_batch_size"]) == [str(size) for size in INT8_GATE_BATCH_SIZES]
    assert entry["accuracy_by_batch_size"]["8"] == result[int8_recipes.SHIPPED]
    assert json.loads(record.read_text())["precisions"]["int8"] == entry
    assert main(["evaluate", str(run_dir / "artifact"), "--precision", "int8"]) == 0


def test_int8_recipes_leave_out_a_graph_that_loses_too_much(run, tmp_path):
    from benchmarks import int8_recipes

    run_dir, record = copied_run(run, tmp_path, "dropped")
    result = int8_recipes.compare_run(run_dir, tmp_path, batch_size=8, gate=True)
    int8_recipes.update_records(result, run_dir, max_drop=-100)  # any accuracy is too little
    entry = json.loads(record.read_text())["precisions"]["int8"]
    assert entry["file"] is None and "points below fp32" in entry["reason"]
    assert not (run_dir / "artifact" / PRECISION_FILES["int8"]).exists()
    assert load_artifact(run_dir / "artifact").card.available_precisions() == ["fp32", "fp16"]


def test_int8_recipes_keep_earlier_runs_not_measured_again(tmp_path):
    from benchmarks.int8_recipes import merged

    output = tmp_path / "int8_recipes.json"
    output.write_text(json.dumps([{"run": "a/1", "fp32": 0.5}, {"run": "a/2", "fp32": 0.6}]))
    assert merged([{"run": "a/2", "fp32": 0.7}], output) == [
        {"run": "a/1", "fp32": 0.5},
        {"run": "a/2", "fp32": 0.7},
    ]


def test_int8_recipes_record_lc_in_a_graph_exported_before_it_was_recorded(run, tmp_path):
    from benchmarks.int8_recipes import as_exported_today

    run_dir, _ = copied_run(run, tmp_path, "earlier")
    fp32 = run_dir / "artifact" / PRECISION_FILES["fp32"]
    graph = onnx.load(str(fp32))
    combined = combined_token_nodes(graph)
    del graph.metadata_props[:]
    onnx.save(graph, str(fp32))
    assert combined_token_nodes(onnx.load(str(fp32))) == []
    today = as_exported_today(load_artifact(run_dir / "artifact"), tmp_path / "copy.onnx")
    assert today != fp32 and combined_token_nodes(onnx.load(str(today))) == combined
