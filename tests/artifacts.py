"""Tiny, complete model artifacts and tiny labelled corpora for tests (seconds, no downloads).

`make_tiny_artifact` calls `training.artifact.write_artifact`, which chains the same three steps
a training run's export (`training.train.export_and_score`) calls one by one:
`staging_directory`, `export_model_files` (ONNX export, parity gate, tokenizer and labels) and
`build_metadata`. So an artifact made here has exactly the layout the service will meet in
production; what differs is that a real run scores the staged graph on its test split and
records those metrics, where the tiny artifact records the untrained model's PyTorch scores.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tests.factories import WORDS, make_tiny_model, make_tiny_tokenizer

FILLER = WORDS[:30]  # function words shared by every class
TOPICAL = WORDS[30:]


def tiny_label_names(num_labels: int) -> list[str]:
    """Readable class names: `class_0`, `class_1`, ..."""
    return [f"class_{index}" for index in range(num_labels)]


def tiny_documents(
    num_documents: int,
    num_labels: int = 3,
    seed: int = 0,
    min_words: int = 4,
    max_words: int = 80,
) -> tuple[list[str], list[int]]:
    """Generated documents whose class shows in their words, so a tiny model can learn them.

    Class k draws its topical words from the k-th slice of the vocabulary, mixed with shared
    filler words; lengths vary so that batches need padding and long ones need truncation.
    """
    if num_labels < 1 or num_labels > len(TOPICAL):
        raise ValueError(f"num_labels must be in 1..{len(TOPICAL)}, got {num_labels}")
    rng = random.Random(seed)
    pool_size = len(TOPICAL) // num_labels
    pools = [TOPICAL[k * pool_size : (k + 1) * pool_size] for k in range(num_labels)]
    texts, labels = [], []
    for index in range(num_documents):
        label = index % num_labels
        words = [
            rng.choice(pools[label]) if rng.random() < 0.5 else rng.choice(FILLER)
            for _ in range(rng.randint(min_words, max_words))
        ]
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def tiny_multilabel_documents(
    num_documents: int, num_labels: int = 3, seed: int = 0, max_words: int = 60
) -> tuple[list[str], list[list[int]]]:
    """Generated documents carrying one or two classes each (every third document two), whose
    words come from those classes' vocabulary slices and the shared filler."""
    rng = random.Random(seed)
    pool_size = len(TOPICAL) // num_labels
    pools = [TOPICAL[k * pool_size : (k + 1) * pool_size] for k in range(num_labels)]
    texts, label_sets = [], []
    for index in range(num_documents):
        labels = sorted({index % num_labels, (index + 1 + index // 3) % num_labels})
        labels = labels if index % 3 == 0 else [index % num_labels]
        words = [
            rng.choice(pools[rng.choice(labels)]) if rng.random() < 0.6 else rng.choice(FILLER)
            for _ in range(rng.randint(6, max_words))
        ]
        texts.append(" ".join(words))
        label_sets.append(labels)
    return texts, label_sets


def make_tiny_artifact(
    out_dir: str | Path,
    variant: str = "pfc",
    num_labels: int = 3,
    max_length: int = 64,
    seed: int = 0,
    lower_precisions: bool = False,
) -> Path:
    """Export a randomly initialised tiny model as a complete artifact directory at `out_dir`.

    The metrics in its metadata are the untrained model's real scores on 24 generated documents
    (expect chance level); `training_time_s` is 0 because nothing was trained. The artifact holds
    the fp32 graph only, as `write_artifact` writes it, or with `lower_precisions` the int8 and
    fp16 graphs too (`add_lower_precisions`).
    """
    import torch

    from artifact.tokenization import encode_texts, pad_batch, pad_token_id
    from training.artifact import write_artifact
    from training.metrics import classification_metrics

    model = make_tiny_model(variant, seed=seed, num_labels=num_labels)
    tokenizer = make_tiny_tokenizer()
    label_names = tiny_label_names(num_labels)
    texts, labels = tiny_documents(24, num_labels=num_labels, seed=seed)
    input_ids, attention_mask = pad_batch(
        encode_texts(tokenizer, texts, max_length), pad_token_id(tokenizer)
    )
    with torch.no_grad():
        logits = model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask)).logits
    metrics = classification_metrics(labels, logits.argmax(dim=-1).tolist(), label_names)
    metadata = {
        "name": f"tiny-{variant}",
        "version": "0.0.0",
        "base_model": "random tiny BERT (tests/factories.py)",
        "dataset": {
            "name": "tiny-generated",
            "text_column": "text",
            "label_column": "label",
            "sizes": {"test": len(texts)},
            "seed": seed,
        },
        "metrics": metrics,
        "training_time_s": 0.0,
    }
    artifact_dir = write_artifact(
        out_dir,
        model=model,
        tokenizer=tokenizer,
        labels=label_names,
        metadata=metadata,
        parity_texts=texts[:12],
        max_length=max_length,
    )
    if lower_precisions:
        add_lower_precisions(artifact_dir, texts, labels, logits.numpy())
    return artifact_dir


def make_tiny_multilabel_artifact(
    out_dir: str | Path,
    variant: str = "pfc",
    num_labels: int = 3,
    max_length: int = 64,
    seed: int = 0,
    thresholds: Sequence[float] | None = None,
) -> Path:
    """A randomly initialised tiny multi-label model (`problem_type` multi-label) exported as a
    complete artifact, with `thresholds` (default 0.5 each) and the untrained model's label-set
    metrics on 24 generated documents in its metadata."""
    import torch

    from artifact.problem import sigmoid
    from artifact.tokenization import encode_texts, pad_batch, pad_token_id
    from training.artifact import write_artifact
    from training.metrics import multilabel_metrics
    from training.thresholds import Thresholds

    model = make_tiny_model(
        variant, seed=seed, num_labels=num_labels, problem_type="multi_label_classification"
    )
    tokenizer = make_tiny_tokenizer()
    label_names = tiny_label_names(num_labels)
    texts, label_sets = tiny_multilabel_documents(24, num_labels=num_labels, seed=seed)
    truth = np.zeros((len(texts), num_labels), dtype=np.int8)
    for row, labels in enumerate(label_sets):
        truth[row, labels] = 1
    input_ids, attention_mask = pad_batch(
        encode_texts(tokenizer, texts, max_length), pad_token_id(tokenizer)
    )
    with torch.no_grad():
        logits = model(torch.from_numpy(input_ids), torch.from_numpy(attention_mask)).logits
    values = tuple(thresholds) if thresholds is not None else (0.5,) * num_labels
    predicted = sigmoid(logits.numpy()) >= np.asarray(values)
    metadata = {
        "name": f"tiny-multilabel-{variant}",
        "version": "0.0.0",
        "base_model": "random tiny BERT (tests/factories.py)",
        "dataset": {"name": "tiny-generated-multilabel", "sizes": {"test": len(texts)}},
        "metrics": multilabel_metrics(truth, predicted, label_names),
        "training_time_s": 0.0,
        **Thresholds(values, "global").metadata(label_names),
    }
    return write_artifact(
        out_dir,
        model=model,
        tokenizer=tokenizer,
        labels=label_names,
        metadata=metadata,
        parity_texts=texts[:12],
        max_length=max_length,
    )


def add_lower_precisions(
    artifact_dir: Path, texts: Sequence[str], labels: Sequence[int], reference_logits: np.ndarray
) -> None:
    """Write the int8 and fp16 graphs beside `artifact_dir`'s model.onnx with training's writers,
    score the three graphs on `texts` against the PyTorch `reference_logits` as training does,
    and record them in metadata.json's `precisions` (none left out, whatever their accuracy)."""
    import json

    from artifact.files import METADATA_FILE
    from artifact.runtime import OnnxClassifier, softmax
    from training.documents import Document
    from training.evaluate import score_with_probabilities
    from training.precisions import export_precisions

    fp32 = OnnxClassifier.from_artifact(artifact_dir)
    documents = [
        Document(text=text, labels=(fp32.labels[label],), file="generated", row=row)
        for row, (text, label) in enumerate(zip(texts, labels, strict=True), start=1)
    ]
    reference = softmax(reference_logits)
    fp32_scores = score_with_probabilities(fp32, documents)
    precisions, _ = export_precisions(
        artifact_dir, fp32, documents, reference, fp32_scores, max_accuracy_drop=1.0
    )
    path = artifact_dir / METADATA_FILE
    metadata = json.loads(path.read_text())
    path.write_text(json.dumps({**metadata, "precisions": precisions}, indent=2) + "\n")
