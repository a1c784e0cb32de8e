"""The artifact directory of docs/contracts.md: its four files, the parity gate, atomic writes."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

import model.onnx_export
from artifact.card import ArtifactError, load_artifact
from tests.artifacts import make_tiny_artifact, tiny_documents, tiny_label_names
from tests.factories import make_tiny_model, make_tiny_tokenizer
from training.artifact import ParityError, write_artifact

CONTRACT_KEYS = {
    "name", "version", "variant", "pruning", "keep_ratio", "fuzzy_quantiles", "alpha_cuts",
    "combine_layer", "num_combination_tokens", "num_layers", "max_length", "base_model",
    "dataset", "metrics", "training_time_s", "package_versions", "parity", "created_at",
}  # fmt: skip
PARITY_KEYS = {
    "max_abs_diff",
    "atol",
    "passed",
    "num_documents",
    "kept_counts_equal",
    "near_tie_documents",
}
CALLER_METADATA = {
    "name": "t",
    "version": "1",
    "base_model": "tiny",
    "dataset": {"name": "generated"},
    "metrics": {"accuracy": 0.5, "macro_f1": 0.5, "micro_f1": 0.5},
    "training_time_s": 1.0,
}


@pytest.fixture(scope="module", params=["bert", "pfc"])
def tiny_artifact(request, tmp_path_factory):
    return make_tiny_artifact(tmp_path_factory.mktemp(request.param) / "artifact", request.param)


def test_has_the_four_files_the_explain_graph_and_nothing_half_written(tiny_artifact):
    assert sorted(p.name for p in tiny_artifact.iterdir()) == [
        "labels.json", "metadata.json", "model.explain.onnx", "model.onnx", "tokenizer.json",
    ]  # fmt: skip
    assert [p.name for p in tiny_artifact.parent.iterdir()] == ["artifact"]


def test_metadata_has_every_contract_key(tiny_artifact):
    metadata = json.loads((tiny_artifact / "metadata.json").read_text())

    assert set(metadata) >= CONTRACT_KEYS
    assert metadata["num_layers"] == 5
    assert metadata["max_length"] == 64
    assert metadata["parity"]["passed"] is True
    assert metadata["parity"]["max_abs_diff"] <= metadata["parity"]["atol"] == 1e-4
    assert metadata["parity"]["num_documents"] == 12
    assert set(metadata["parity"]) == PARITY_KEYS  # as docs/contracts.md lists them
    assert {"accuracy", "macro_f1", "micro_f1"} <= set(metadata["metrics"])
    assert metadata["package_versions"]["onnxruntime"] != "not installed"
    assert datetime.fromisoformat(metadata["created_at"]).utcoffset().total_seconds() == 0
    if metadata["variant"] == "pfc":
        assert (metadata["pruning"], metadata["combine_layer"]) == ("fuzzy", 5)
    else:
        assert (metadata["pruning"], metadata["combine_layer"]) == ("none", None)


def test_the_readers_loader_accepts_what_was_written(tiny_artifact):
    card = load_artifact(tiny_artifact).card
    metadata = json.loads((tiny_artifact / "metadata.json").read_text())
    assert card.labels == tuple(tiny_label_names(3))
    assert (card.variant, card.num_layers, card.max_length) == (metadata["variant"], 5, 64)
    assert card.combine_layer == metadata["combine_layer"]


def test_tokenizer_file_loads_alone_with_truncation_and_padding_disabled(tiny_artifact):
    tokenizer = Tokenizer.from_file(str(tiny_artifact / "tokenizer.json"))
    assert tokenizer.truncation is None
    assert tokenizer.padding is None
    encoding = tokenizer.encode("the market " * 100)
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"
    assert len(encoding.ids) == 202


def test_labels_and_graph_match_the_contract(tiny_artifact):
    labels = json.loads((tiny_artifact / "labels.json").read_text())
    session = ort.InferenceSession(str(tiny_artifact / "model.onnx"))
    inputs = {i.name: i.type for i in session.get_inputs()}
    outputs = {o.name: o.type for o in session.get_outputs()}

    assert labels == tiny_label_names(3)
    assert inputs == {"input_ids": "tensor(int64)", "attention_mask": "tensor(int64)"}
    assert outputs == {"logits": "tensor(float)", "kept_kv_counts": "tensor(int64)"}
    ids = np.array([[2, 40, 41, 42, 3]], dtype=np.int64)
    logits, kept = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    assert logits.shape == (1, 3) and kept.shape == (1, 5)


def write_tiny(out_dir, **overrides):
    texts, _ = tiny_documents(6)
    kwargs = dict(
        model=make_tiny_model("pf", num_labels=3),
        tokenizer=make_tiny_tokenizer(),
        labels=tiny_label_names(3),
        metadata=dict(CALLER_METADATA),
        parity_texts=texts,
        max_length=32,
    )
    kwargs.update(overrides)
    return write_artifact(out_dir, **kwargs)


def test_broken_export_fails_loudly_and_writes_nothing(tmp_path, monkeypatch):
    real_export = model.onnx_export.export_onnx
    other_weights = make_tiny_model("pf", seed=1, num_labels=3)

    def export_other_model(_model, path, *args, **kwargs):
        return real_export(other_weights, path, *args, **kwargs)

    monkeypatch.setattr(model.onnx_export, "export_onnx", export_other_model)
    with pytest.raises(ParityError, match=r"variant 'pf' does not match PyTorch on 6 documents"):
        write_tiny(tmp_path / "artifact")
    assert list(tmp_path.iterdir()) == []


def test_one_near_tie_document_passes_and_is_counted(tmp_path, monkeypatch):
    real_check = model.onnx_export.check_onnx_parity
    seen = []

    def one_document_departs(*args, **kwargs):
        report = real_check(*args, **kwargs)
        if not seen:  # the first document checked: as if a kept token had tied
            report.document_diffs[0] = report.atol * 4.5
        seen.append(report)
        return report

    monkeypatch.setattr(model.onnx_export, "check_onnx_parity", one_document_departs)
    artifact = write_tiny(tmp_path / "artifact")
    parity = json.loads((artifact / "metadata.json").read_text())["parity"]
    assert parity["passed"] and parity["near_tie_documents"] == 1


def test_rewriting_replaces_a_finished_artifact(tmp_path):
    first = write_tiny(tmp_path / "artifact")
    created = json.loads((first / "metadata.json").read_text())
    second = write_tiny(tmp_path / "artifact", metadata={**CALLER_METADATA, "version": "2"})
    assert second == first
    assert json.loads((second / "metadata.json").read_text())["version"] == "2"
    assert created["version"] == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]


def test_failure_keeps_the_previous_artifact(tmp_path):
    write_tiny(tmp_path / "artifact")
    with pytest.raises(ValueError, match="2 label names for a model with 3 classes"):
        write_tiny(tmp_path / "artifact", labels=["a", "b"])
    assert json.loads((tmp_path / "artifact" / "metadata.json").read_text())["version"] == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["artifact"]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({k: v for k, v in CALLER_METADATA.items() if k != "dataset"}, r"missing \['dataset'\]"),
        ({**CALLER_METADATA, "variant": "bert"}, r"\['variant'\] are derived from the model"),
        ({**CALLER_METADATA, "metrics": {"accuracy": 1.0}}, r"missing 'macro_f1'"),
    ],
)
def test_metadata_is_checked(tmp_path, metadata, message):
    with pytest.raises(ValueError, match=message):
        write_tiny(tmp_path / "artifact", metadata=metadata)
    assert list(tmp_path.iterdir()) == []


def test_metadata_the_readers_would_refuse_is_never_written(tmp_path):
    with pytest.raises(ArtifactError, match=r"metadata\.json: field 'version' must be a non-empty"):
        write_tiny(tmp_path / "artifact", metadata={**CALLER_METADATA, "version": 2})
    assert list(tmp_path.iterdir()) == []


def test_max_length_beyond_the_positions_is_refused(tmp_path):
    with pytest.raises(ValueError, match="max_length 1000 exceeds the model's 520 positions"):
        write_tiny(tmp_path / "artifact", max_length=1000)
