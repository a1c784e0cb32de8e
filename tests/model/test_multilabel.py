"""The multi-label head: binary cross-entropy with logits for every variant, the same graph
shape, sigmoid probabilities when read through the artifact package."""

import numpy as np
import pytest
import torch

from artifact.problem import MULTI_LABEL, LabelRule, sigmoid
from model import CoreBertConfig
from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import ALL_VARIANTS, ragged_batch

VOCAB = tiny_config_kwargs()["vocab_size"]
TARGETS = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_the_loss_is_binary_cross_entropy_with_logits(variant):
    model = make_tiny_model(variant, problem_type=MULTI_LABEL)
    input_ids, attention_mask = ragged_batch([11, 4, 7], VOCAB)
    output = model(input_ids, attention_mask, labels=TARGETS)
    assert output.logits.shape == (3, 3)  # one logit per label, as a single-label head
    probabilities = torch.sigmoid(output.logits)
    expected = -(TARGETS * probabilities.log() + (1 - TARGETS) * (1 - probabilities).log()).mean()
    torch.testing.assert_close(output.loss, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_the_loss_trains_every_label_at_once(variant):
    model = make_tiny_model(variant, problem_type=MULTI_LABEL).train()
    input_ids, attention_mask = ragged_batch([11, 4, 7], VOCAB)
    model(input_ids, attention_mask, labels=TARGETS).loss.backward()
    assert model.classifier.weight.grad is not None
    assert bool((model.classifier.weight.grad.abs().sum(dim=1) > 0).all())


def test_a_single_label_model_keeps_cross_entropy():
    model = make_tiny_model("pfc")
    input_ids, attention_mask = ragged_batch([11, 4, 7], VOCAB)
    labels = torch.tensor([0, 2, 1])
    output = model(input_ids, attention_mask, labels=labels)
    expected = torch.nn.functional.cross_entropy(output.logits, labels)
    torch.testing.assert_close(output.loss, expected)


def test_an_unknown_problem_type_is_refused():
    with pytest.raises(ValueError, match="problem_type must be one of"):
        CoreBertConfig.for_variant("pfc", **tiny_config_kwargs(problem_type="regression"))


def test_inference_reads_a_sigmoid_per_label():
    logits = np.array([[-40.0, 0.0, 3.0], [2.0, -1.0, 50.0]], dtype=np.float32)
    rule = LabelRule(MULTI_LABEL, (0.5, 0.5, 0.9))
    np.testing.assert_allclose(rule.probabilities(logits), 1 / (1 + np.exp(-logits)), atol=1e-6)
    assert rule.decide(rule.probabilities(logits)).tolist() == [
        [False, True, True],
        [True, False, True],
    ]
    assert rule.decide(sigmoid(logits), threshold=0.99).tolist() == [
        [False, False, False],
        [False, False, True],
    ]
    softmax = LabelRule().probabilities(logits)
    np.testing.assert_allclose(softmax.sum(axis=1), 1.0, atol=1e-6)
    assert LabelRule().decide(softmax).sum(axis=1).tolist() == [1, 1]
