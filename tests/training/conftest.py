"""Fixtures of the training tests: a tiny BERT checkpoint on disk and tiny labelled files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.artifacts import tiny_documents
from tests.factories import make_tiny_tokenizer, tiny_config_kwargs

CLASS_NAMES = ["politics", "sport", "tech"]


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def labelled_rows(count: int, seed: int = 0, names: list[str] | None = None) -> list[dict]:
    """`count` generated documents as {"text", "label"} rows, labels as class names."""
    names = names or CLASS_NAMES
    texts, labels = tiny_documents(count, num_labels=len(names), seed=seed)
    return [
        {"text": text, "label": names[label]} for text, label in zip(texts, labels, strict=True)
    ]


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory) -> Path:
    """A randomly initialised tiny `BertModel` checkpoint with its `tokenizer.json`, laid out
    like a hub checkpoint (the MiniLM package holds the same files)."""
    import torch
    from transformers import BertConfig, BertModel

    directory = tmp_path_factory.mktemp("tiny-bert")
    kwargs = tiny_config_kwargs()
    for key in ("num_combination_tokens", "num_labels"):
        kwargs.pop(key)
    torch.manual_seed(0)
    BertModel(BertConfig(**kwargs)).save_pretrained(directory)
    make_tiny_tokenizer().save(str(directory / "tokenizer.json"))
    return directory


@pytest.fixture(scope="session")
def tiny_train_csv(tmp_path_factory) -> Path:
    """60 generated documents over three classes (train; validation and test are held out)."""
    return write_csv(tmp_path_factory.mktemp("data") / "train.csv", labelled_rows(60, seed=1))


def train_argv(base_model: Path, train_file: Path, output_dir: Path, *extra: str) -> list[str]:
    """`python -m training train` options for a fast run on the tiny model."""
    return [
        "train",
        "--base-model", str(base_model),
        "--train-file", str(train_file),
        "--output-dir", str(output_dir),
        "--max-length", "48",
        "--batch-size", "8",
        "--learning-rate", "3e-3",
        "--warmup-ratio", "0",
        "--parity-documents", "8",
        *extra,
    ]  # fmt: skip


# Errors of the launcher's rendezvous on 127.0.0.1 (a port taken between its choice and its
# bind), not of the run: such a launch is tried once more.
RENDEZVOUS_ERRORS = ("DistNetworkError", "Address already in use", "EADDRINUSE")


def run_torchrun(argv: list[str], processes: int = 2) -> None:
    """`python -m training ARGV` as a `torchrun` launch of CPU processes (gloo), one thread
    each; fails the test with the launch's error lines when it exits non-zero."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(processes), "-m", "training", *argv]  # fmt: skip
    for _ in range(2):
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).parents[2],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        if result.returncode == 0 or not any(e in result.stderr for e in RENDEZVOUS_ERRORS):
            break
    errors = [line for line in result.stderr.splitlines() if "rror" in line]
    assert result.returncode == 0, "\n".join(errors)[-4000:] or result.stderr[-3000:]
