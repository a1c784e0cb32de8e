import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from artifact.files import ONNX_OUTPUT_NAMES
from model import VARIANTS
from tests.factories import tiny_config_kwargs

ALL_VARIANTS = list(VARIANTS)
# A ragged batch from one token to the longest position, in no order.
RAGGED_LENGTHS = [200, 7, 512, 1, 64, 33]


def ragged_batch(lengths: list[int], vocab_size: int, seed: int = 0):
    """Right-padded [CLS] ... [SEP] documents of the given real lengths (ids 2 and 3)."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    input_ids = torch.randint(5, vocab_size, (len(lengths), width), generator=generator)
    attention_mask = torch.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        attention_mask[row, :length] = 1
        input_ids[row, 0] = 2
        input_ids[row, length - 1] = 3
        input_ids[row, length:] = 0
    return input_ids, attention_mask


@pytest.fixture(scope="module")
def bert_checkpoint(tmp_path_factory):
    """A tiny random BertModel saved like a hub checkpoint."""
    torch.manual_seed(1)
    kwargs = {k: v for k, v in tiny_config_kwargs().items() if k != "num_combination_tokens"}
    path = tmp_path_factory.mktemp("bert")
    BertModel(BertConfig(**kwargs)).save_pretrained(path)
    return path


def assert_batch_invariant(session, lengths: list[int], vocab_size: int, seed: int) -> None:
    """Each document of a ragged batch gets, alone in ONNX Runtime, the logits (to 1e-4) and the
    kept key/value counts (exactly) it gets in the batch."""
    input_ids, attention_mask = ragged_batch(lengths, vocab_size, seed=seed)
    feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
    logits, kept = session.run(list(ONNX_OUTPUT_NAMES), feeds)
    for row, length in enumerate(lengths):
        alone = {name: value[row : row + 1, :length] for name, value in feeds.items()}
        alone_logits, alone_kept = session.run(list(ONNX_OUTPUT_NAMES), alone)
        np.testing.assert_allclose(alone_logits[0], logits[row], rtol=0, atol=1e-4)
        np.testing.assert_array_equal(alone_kept[0], kept[row])


def export_and_open(model, folder):
    """(model, path, session): `model` exported into `folder` and opened in ONNX Runtime."""
    import onnxruntime as ort

    from model.onnx_export import export_onnx

    path = export_onnx(model, folder / "model.onnx")
    return model, path, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def assert_onnx_parity(exported, lengths: list[int], vocab_size: int, seed: int) -> None:
    """The exported graph's logits and kept counts match PyTorch's on a ragged batch."""
    from model.onnx_export import check_onnx_parity

    model, path, session = exported
    input_ids, attention_mask = ragged_batch(lengths, vocab_size, seed=seed)
    report = check_onnx_parity(model, path, input_ids, attention_mask, session=session)
    assert report.passed, report


def assert_lower_precision_labels_batch_invariant(model, precision: str, folder, vocab_size: int):
    """The `precision` (int8, fp16) graph of `model` gives each document of a ragged batch, alone,
    its batched label, budgets and probabilities to 1e-2. int8 quantizes activations per batch,
    so logits may move a little with the batch (as for every variant,
    tests/training/test_precisions.py); the label and the budgets may not."""
    import onnxruntime as ort

    from artifact.runtime import softmax
    from training.precisions import WRITERS

    _, fp32, _ = export_and_open(model, folder)
    lower = folder / f"model.{precision}.onnx"
    WRITERS[precision](fp32, lower)
    session = ort.InferenceSession(str(lower), providers=["CPUExecutionProvider"])
    lengths = [60, 2, 33, 9]
    input_ids, attention_mask = ragged_batch(lengths, vocab_size, seed=7)
    feeds = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
    logits, kept = session.run(list(ONNX_OUTPUT_NAMES), feeds)
    for row, length in enumerate(lengths):
        alone = {name: value[row : row + 1, :length] for name, value in feeds.items()}
        alone_logits, alone_kept = session.run(list(ONNX_OUTPUT_NAMES), alone)
        assert alone_logits[0].argmax() == logits[row].argmax()
        np.testing.assert_allclose(softmax(alone_logits[0]), softmax(logits[row]), atol=1e-2)
        np.testing.assert_array_equal(alone_kept[0], kept[row])
