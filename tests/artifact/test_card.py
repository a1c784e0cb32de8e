"""The loader: a complete directory becomes a typed card; anything broken is an ArtifactError
naming the file and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from artifact.card import ArtifactError, load_artifact, load_card
from artifact.files import ARTIFACT_FILES, missing_files
from tests.artifact.conftest import LABELS, METADATA, write_files


def test_load_artifact_names_the_missing_files(tiny_artifact: Path, tmp_path: Path) -> None:
    incomplete = tmp_path / "incomplete"
    shutil.copytree(tiny_artifact, incomplete)
    (incomplete / "labels.json").unlink()
    (incomplete / "model.onnx").unlink()
    with pytest.raises(ArtifactError, match=r"missing model\.onnx, labels\.json"):
        load_artifact(incomplete)


def test_a_directory_that_does_not_exist_lacks_every_file(tmp_path: Path) -> None:
    assert missing_files(tmp_path / "nowhere") == list(ARTIFACT_FILES)
    with pytest.raises(ArtifactError, match=r"nowhere' is incomplete: missing model\.onnx, "):
        load_card(tmp_path / "nowhere")


def test_load_artifact_reads_labels_and_metadata(tiny_artifact: Path) -> None:
    artifact = load_artifact(tiny_artifact)
    metadata = json.loads((tiny_artifact / "metadata.json").read_text())
    assert artifact.card.labels == tuple(json.loads((tiny_artifact / "labels.json").read_text()))
    assert artifact.card.max_length == metadata["max_length"] == 64
    assert artifact.card.combine_layer == metadata["combine_layer"]
    assert artifact.card.metrics == metadata["metrics"]


def test_the_card_types_the_fields_and_keeps_the_whole_metadata(hand_made: Path) -> None:
    artifact = load_artifact(hand_made)
    card = artifact.card
    assert (card.name, card.version, card.variant) == ("hand-made", "1.0", "pfc")
    assert (card.max_length, card.num_layers, card.combine_layer) == (64, 5, 5)
    assert card.labels == tuple(LABELS)
    assert card.metadata == METADATA
    assert card.dataset == {"name": "generated"}
    assert artifact.model_path == hand_made / "model.onnx"
    assert artifact.tokenizer.token_to_id("[PAD]") == 0


def test_optional_fields_may_be_absent(tmp_path: Path) -> None:
    required = {key: METADATA[key] for key in ("name", "version", "variant", "max_length")}
    card = load_card(write_files(tmp_path / "a", {**required, "num_layers": 5}))
    assert card.combine_layer is None and card.metrics == {} and card.dataset == {}


@pytest.mark.parametrize("name", ["metadata.json", "labels.json"])
def test_malformed_json_names_the_file(hand_made: Path, name: str) -> None:
    (hand_made / name).write_text('{"name": ')
    with pytest.raises(ArtifactError, match=rf"{name} is not valid JSON"):
        load_card(hand_made)


def test_metadata_must_be_an_object(hand_made: Path) -> None:
    (hand_made / "metadata.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match=r"metadata\.json must hold a JSON object, got list"):
        load_card(hand_made)


@pytest.mark.parametrize("labels", [[], {"0": "a"}, ["a", 3]])
def test_labels_must_be_a_non_empty_list_of_strings(hand_made: Path, labels) -> None:
    (hand_made / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(ArtifactError, match=r"labels\.json must hold a non-empty list of strings"):
        load_card(hand_made)


@pytest.mark.parametrize("missing", [("max_length",), ("name", "num_layers")])
def test_a_missing_field_is_named(tmp_path: Path, missing: tuple[str, ...]) -> None:
    metadata = {key: value for key, value in METADATA.items() if key not in missing}
    directory = write_files(tmp_path / "artifact", metadata)
    fields = ", ".join(repr(key) for key in missing)
    with pytest.raises(ArtifactError, match=rf"metadata\.json lacks the field\(s\) {fields}$"):
        load_card(directory)


ILL_TYPED = {
    "name not a string": ("name", 3),
    "empty version": ("version", ""),
    "max_length as a string": ("max_length", "64"),
    "max_length too short": ("max_length", 2),
    "num_layers a boolean": ("num_layers", True),
    "combine_layer zero": ("combine_layer", 0),
    "combine_layer past the last layer": ("combine_layer", 6),
    "metrics a list": ("metrics", [0.5]),
    "dataset a string": ("dataset", "bbc"),
}


@pytest.mark.parametrize("case", ILL_TYPED, ids=list(ILL_TYPED))
def test_an_ill_typed_field_is_named_with_its_value(tmp_path: Path, case: str) -> None:
    key, value = ILL_TYPED[case]
    directory = write_files(tmp_path / "artifact", {**METADATA, key: value})
    with pytest.raises(ArtifactError) as raised:
        load_card(directory)
    message = str(raised.value)
    assert str(directory / "metadata.json") in message
    assert f"field {key!r} must be" in message and repr(value) in message


def test_a_broken_tokenizer_file_is_named(hand_made: Path) -> None:
    (hand_made / "tokenizer.json").write_text('{"version": "1.0"}')
    with pytest.raises(ArtifactError, match=r"tokenizer\.json is not a tokenizers\.Tokenizer"):
        load_artifact(hand_made)


def test_warnings_must_be_a_list_of_strings(tmp_path):
    from artifact.card import ArtifactError, card_from_metadata

    metadata = {"name": "m", "version": "1", "variant": "pfc", "max_length": 16, "num_layers": 2}
    assert card_from_metadata({**metadata, "warnings": ["low"]}, ("a",)).warnings == ["low"]
    assert card_from_metadata(metadata, ("a",)).warnings == []
    with pytest.raises(ArtifactError, match="'warnings' must be a list of strings"):
        card_from_metadata({**metadata, "warnings": "low"}, ("a",))
