"""Writing the model artifact the service loads: `model.onnx`, `tokenizer.json`, `labels.json`,
`metadata.json` (docs/contracts.md; the names, the loader and the tokenization are the `artifact`
package's).

A directory is built under a temporary sibling name and renamed into place only once the ONNX
graph matched PyTorch and the `artifact` loader accepts the four files, so a crash, a failed
parity check or a metadata.json the readers would refuse never leaves something that looks like
a finished artifact.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from artifact.card import ArtifactError, load_card
from artifact.files import EXPLAIN_FILE, LABELS_FILE, METADATA_FILE, MODEL_FILE, TOKENIZER_FILE
from artifact.problem import SINGLE_LABEL
from artifact.tokenization import as_tokenizer, encode_texts, pad_batch, pad_token_id

# Keys of metadata.json the caller knows and the model does not.
CALLER_METADATA_KEYS = ("name", "version", "base_model", "dataset", "metrics", "training_time_s")
# Keys derived here from the model, the export and the environment.
# Keys derived from the export and the environment (the model's own come from its config).
EXPORT_METADATA_KEYS = ("package_versions", "parity", "created_at")
VERSIONED_PACKAGES = (
    "corebert",
    "torch",
    "transformers",
    "onnx",
    "onnxscript",
    "onnxruntime",
    "tokenizers",
    "numpy",
)
PARITY_BATCH_SIZE = 8


class ParityError(RuntimeError):
    """The exported ONNX graph does not reproduce the PyTorch model's logits or kept counts."""


@contextmanager
def staging_directory(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty sibling directory of `out_dir`; on success it replaces `out_dir`.

    On any exception the staged directory is removed and `out_dir` is left as it was. The final
    step reads the staged files with the readers' loader (`artifact.card.load_card`) before
    renaming: every file exists and metadata.json has the fields, of the types, readers need.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = out_dir.parent / f".{out_dir.name}.partial-{uuid.uuid4().hex[:8]}"
    staged.mkdir()
    try:
        yield staged
        try:
            load_card(staged)
        except ArtifactError as error:
            raise ArtifactError(f"artifact {out_dir} was not written: {error}") from error
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    _replace_directory(staged, out_dir)


def _replace_directory(staged: Path, out_dir: Path) -> None:
    replaced = None
    if out_dir.exists():
        replaced = out_dir.parent / f".{out_dir.name}.replaced-{uuid.uuid4().hex[:8]}"
        out_dir.rename(replaced)
    staged.rename(out_dir)
    if replaced is not None:
        shutil.rmtree(replaced)


def export_model_files(
    directory: Path,
    *,
    model: Any,
    tokenizer: Any,
    labels: Sequence[str],
    parity_texts: Sequence[str],
    max_length: int,
    atol: float = 1e-4,
) -> dict:
    """Write `model.onnx`, `tokenizer.json` and `labels.json` into `directory`, and the explain
    graph beside them, and return the parity result (`max_abs_diff`, `atol`, `passed`,
    `num_documents`).

    The model is moved to the CPU and put in eval mode. Raises `ParityError` when ONNX Runtime's
    logits differ from PyTorch's by more than `atol` on any of `parity_texts`.
    """
    from model.onnx_export import export_onnx

    _check_labels(labels, model.config.num_labels)
    if max_length > model.config.max_position_embeddings:
        raise ValueError(
            f"max_length {max_length} exceeds the model's {model.config.max_position_embeddings} "
            f"positions"
        )
    tokenizer = as_tokenizer(tokenizer)
    model = model.to("cpu").eval()
    onnx_path = directory / MODEL_FILE
    export_onnx(model, str(onnx_path))
    parity = check_parity(model, onnx_path, tokenizer, parity_texts, max_length, atol)
    export_onnx(model, str(directory / EXPLAIN_FILE), explain=True)
    check_explain(model, directory / EXPLAIN_FILE, tokenizer, parity_texts, max_length, atol)
    tokenizer.save(str(directory / TOKENIZER_FILE))
    write_json(directory / LABELS_FILE, list(labels))
    return parity


def check_parity(
    model: Any,
    onnx_path: Path,
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    atol: float,
) -> dict:
    """Compare ONNX Runtime with PyTorch on `texts`, in batches of mixed lengths. Documents beyond
    `atol` pass as near-ties when they are few and close (`model.onnx_export.near_ties_only`);
    the result counts them."""
    import numpy as np
    import torch

    from artifact.runtime import create_session
    from model.onnx_export import check_onnx_parity, near_ties_only

    if not texts:
        raise ValueError("parity needs at least one document")
    sequences = encode_texts(tokenizer, texts, max_length)
    pad_id = pad_token_id(as_tokenizer(tokenizer))
    session = create_session(onnx_path, device="cpu")
    reports = []
    for start in range(0, len(sequences), PARITY_BATCH_SIZE):
        input_ids, attention_mask = pad_batch(sequences[start : start + PARITY_BATCH_SIZE], pad_id)
        reports.append(
            check_onnx_parity(
                model,
                str(onnx_path),
                torch.from_numpy(input_ids),
                torch.from_numpy(attention_mask),
                atol=atol,
                session=session,
            )
        )
    departing = np.concatenate([r.document_diffs[r.departing()] for r in reports])
    max_abs_diff = max(float(report.max_abs_diff) for report in reports)
    kept_counts_equal = all(report.kept_counts_equal for report in reports)
    parity = {
        "max_abs_diff": max_abs_diff,
        "atol": atol,
        "passed": near_ties_only(departing, len(sequences)),
        "num_documents": len(sequences),
        "kept_counts_equal": kept_counts_equal,
        "near_tie_documents": len(departing),
    }
    if not parity["passed"]:
        raise ParityError(
            f"ONNX export of variant {model.config.variant!r} does not match PyTorch on "
            f"{len(sequences)} documents (max_length {max_length}): {len(departing)} beyond atol "
            f"{atol} or with other kept_kv_counts (more than near-ties allow), max |logit "
            f"difference| {max_abs_diff:.3g}, kept_kv_counts equal: {kept_counts_equal}; no "
            "artifact was written"
        )
    return parity


def check_explain(
    model: Any, path: Path, tokenizer: Any, texts: Sequence[str], max_length: int, atol: float
) -> None:
    """The explain graph against PyTorch on a batch of `texts` (a `ParityError` when it
    differs): importance within `atol`, kept layers and groups equal, near-ties allowed as in
    `check_parity`."""
    import torch

    from model.onnx_export import check_explain_parity, near_ties_only

    sequences = encode_texts(tokenizer, texts[:PARITY_BATCH_SIZE], max_length)
    input_ids, attention_mask = pad_batch(sequences, pad_token_id(as_tokenizer(tokenizer)))
    report = check_explain_parity(
        model, path, torch.from_numpy(input_ids), torch.from_numpy(attention_mask), atol
    )
    if not near_ties_only(report.document_diffs[report.departing()], len(sequences)):
        raise ParityError(
            f"the explain graph of variant {model.config.variant!r} does not match PyTorch: "
            f"{report}; no artifact was written"
        )


def load_tokenizer(name_or_path: str | Path) -> Tokenizer:
    """The tokenizer of a base model, which the artifact ships: its `tokenizer.json` when the
    directory has one, otherwise whatever `transformers.AutoTokenizer` builds (a hub id, or a
    directory with `vocab.txt`); truncation and padding disabled either way."""
    local = Path(name_or_path) / TOKENIZER_FILE
    if local.is_file():
        return as_tokenizer(Tokenizer.from_file(str(local)))
    from transformers import AutoTokenizer

    return as_tokenizer(AutoTokenizer.from_pretrained(str(name_or_path)))


def model_metadata(config: Any, max_length: int) -> dict:
    """The metadata keys that describe the network: the method's options as the config holds
    them (`CoreBertConfig.method_options`), depth, sequence length and what the logits mean
    (`problem_type`: single- or multi-label)."""
    return {
        **config.method_options(),
        "num_layers": config.num_hidden_layers,
        "max_length": max_length,
        "problem_type": config.problem_type or SINGLE_LABEL,
    }


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shaped the artifact."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def check_caller_metadata(caller: dict, config: Any) -> None:
    """The caller's keys (name, version, base_model, dataset, metrics, training_time_s, and any
    extra) are all there and override none of the keys derived from `config` and the export."""
    missing = [key for key in CALLER_METADATA_KEYS if key not in caller]
    if missing:
        raise ValueError(f"metadata is missing {missing}")
    derived = {*model_metadata(config, max_length=0), *EXPORT_METADATA_KEYS}
    overridden = sorted(set(caller) & derived)
    if overridden:
        raise ValueError(f"metadata keys {overridden} are derived from the model; do not pass them")
    for key in ("accuracy", "macro_f1", "micro_f1"):
        if key not in caller["metrics"]:
            raise ValueError(f"metadata['metrics'] is missing {key!r}")


def build_metadata(caller: dict, *, config: Any, max_length: int, parity: dict) -> dict:
    """Caller keys merged with the keys derived from the model, the export and the environment."""
    check_caller_metadata(caller, config)
    return {
        **caller,
        **model_metadata(config, max_length),
        "package_versions": package_versions(),
        "parity": parity,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_artifact(
    out_dir: str | Path,
    *,
    model: Any,
    tokenizer: Any,
    labels: Sequence[str],
    metadata: dict,
    parity_texts: Sequence[str],
    max_length: int,
    atol: float = 1e-4,
) -> Path:
    """Export `model` as a complete artifact directory at `out_dir` and return its path.

    `metadata` holds the caller's keys (see `build_metadata`); the rest is derived here. Raises
    `ParityError` (nothing written) when ONNX and PyTorch disagree on `parity_texts`.
    """
    out_dir = Path(out_dir)
    check_caller_metadata(metadata, model.config)
    with staging_directory(out_dir) as staged:
        parity = export_model_files(
            staged,
            model=model,
            tokenizer=tokenizer,
            labels=labels,
            parity_texts=parity_texts,
            max_length=max_length,
            atol=atol,
        )
        full = build_metadata(metadata, config=model.config, max_length=max_length, parity=parity)
        write_json(staged / METADATA_FILE, full)
    return out_dir


def _check_labels(labels: Sequence[str], num_labels: int) -> None:
    if len(labels) != num_labels:
        raise ValueError(f"{len(labels)} label names for a model with {num_labels} classes")
    if not all(isinstance(label, str) and label for label in labels):
        raise ValueError(f"label names must be non-empty strings, got {list(labels)}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"label names must be unique, got {list(labels)}")


def write_json(path: Path, value: Any) -> None:
    """`value` as indented UTF-8 JSON at `path` (parent directories created): every JSON file a
    run writes, in the artifact and beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
