"""What the logits mean, as the card reads it: the problem type and a multi-label model's
thresholds, checked by the loader; the label rule's decisions and agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from artifact.card import ArtifactError, load_card
from artifact.problem import MULTI_LABEL, SINGLE_LABEL, LabelRule
from tests.artifact.conftest import LABELS, METADATA, write_files

THRESHOLDS = {"class_0": 0.4, "class_1": 0.5, "class_2": 0.75}


def multi_label(**changes) -> dict:
    return {**METADATA, "problem_type": MULTI_LABEL, "thresholds": THRESHOLDS, **changes}


def test_an_artifact_without_a_problem_type_is_single_label(hand_made: Path) -> None:
    card = load_card(hand_made)
    assert card.problem_type == SINGLE_LABEL and card.thresholds is None
    assert card.label_rule == LabelRule()


def test_a_multi_label_card_holds_its_thresholds_in_label_order(tmp_path: Path) -> None:
    card = load_card(write_files(tmp_path / "a", multi_label()))
    assert card.problem_type == MULTI_LABEL
    assert card.thresholds == tuple(THRESHOLDS[label] for label in LABELS)
    assert card.label_rule.multi_label


@pytest.mark.parametrize(
    ("metadata", "field", "expected"),
    [
        ({**METADATA, "problem_type": "regression"}, "problem_type", "one of"),
        ({**METADATA, "thresholds": THRESHOLDS}, "thresholds", "null for a single-label"),
        (multi_label(thresholds=None), "thresholds", "each label of labels.json"),
        (multi_label(thresholds={"class_0": 0.5}), "thresholds", "each label of labels.json"),
        (multi_label(thresholds={**THRESHOLDS, "extra": 0.5}), "thresholds", "each label"),
        (multi_label(thresholds={**THRESHOLDS, "class_1": 1.5}), "thresholds", r"\[0, 1\]"),
        (multi_label(thresholds={**THRESHOLDS, "class_1": True}), "thresholds", r"\[0, 1\]"),
    ],
)
def test_a_bad_problem_type_or_threshold_names_the_field(
    tmp_path: Path, metadata: dict, field: str, expected: str
) -> None:
    with pytest.raises(ArtifactError, match=rf"metadata\.json: field '{field}' .*{expected}"):
        load_card(write_files(tmp_path / "a", metadata))


def test_agreement_compares_whole_label_sets() -> None:
    rule = LabelRule(MULTI_LABEL, (0.5, 0.5))
    probabilities = np.array([[0.9, 0.6], [0.2, 0.7], [0.6, 0.1]])
    reference = np.array([[0.8, 0.9], [0.2, 0.4], [0.51, 0.49]])
    # The first document gets both labels from both (its best label differs), the second
    # loses one: two of three label sets agree.
    assert rule.agreement(probabilities, reference) == pytest.approx(2 / 3)
    assert rule.agreement(probabilities[[0, 2]], reference[[0, 2]]) == 1.0
    # Single-label: the same most probable label, which the first document lacks.
    assert LabelRule().agreement(probabilities[[0, 2]], reference[[0, 2]]) == 0.5


def test_a_rule_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="problem_type must be one of"):
        LabelRule("regression")
    with pytest.raises(ValueError, match="multi-label model only"):
        LabelRule(SINGLE_LABEL, (0.5,))
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\]"):
        LabelRule(MULTI_LABEL, (0.5, -0.1))
