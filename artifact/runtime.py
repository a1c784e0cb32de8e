"""Running an artifact with ONNX Runtime: session options, provider choice, and `OnnxClassifier`
(tokenize, pad, run), the one runner behind the service's backend and training's evaluation.

The only module of the package that imports onnxruntime, so the names, the loader and the
tokenization import without it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from artifact.card import Artifact, ArtifactError, load_artifact
from artifact.explain import CoreWord, SequenceExplanation, TokenSpans, core_words
from artifact.files import EXPLAIN_FILE, EXPLAIN_OUTPUT_NAMES, ONNX_INPUT_NAMES, ONNX_OUTPUT_NAMES
from artifact.problem import LabelRule
from artifact.problem import softmax as softmax  # its readers' import path since before problem
from artifact.tokenization import (
    TokenIds,
    as_tokenizer,
    pad_batch,
    pad_token_id,
    truncating_tokenizer,
)
from artifact.truncation import DocumentWindows, Truncation, aggregate_windows

logger = logging.getLogger(__name__)

CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def choose_providers(device: str, available: Sequence[str]) -> list[str]:
    """Execution providers to ask ONNX Runtime for, best first.

    `device="cuda"` without a CUDA provider falls back to CPU with a warning instead of failing,
    so the same configuration runs on a machine without a GPU.
    """
    if device == "cpu":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if device == "cuda":
        logger.warning(
            "device=cuda was requested but ONNX Runtime offers no %s (available: %s); "
            "falling back to %s",
            CUDA_PROVIDER,
            ", ".join(available),
            CPU_PROVIDER,
        )
    return [CPU_PROVIDER]


def session_options(
    intra_op_threads: int = 0, *, allow_spinning: bool = False, memory_arena: bool = True
) -> ort.SessionOptions:
    """Every graph optimisation, `intra_op_threads` threads (0: ONNX Runtime decides).

    Idle ONNX Runtime threads spin by default, taking the CPU the event loop and the tokenizer
    need between batches; a server is better off letting them sleep, so spinning is off unless
    asked for. `memory_arena=False` makes freed buffers visible to memory measurements.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads
    options.enable_cpu_mem_arena = memory_arena
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if allow_spinning else "0"
    )
    return options


def create_session(
    model_path: str | Path, device: str = "cpu", options: ort.SessionOptions | None = None
) -> ort.InferenceSession:
    """A session for `model_path` on the best provider `device` allows."""
    requested = choose_providers(device, ort.get_available_providers())
    session = ort.InferenceSession(
        str(model_path), sess_options=options or session_options(), providers=requested
    )
    # ONNX Runtime silently drops a provider it cannot initialise (no GPU, missing cuDNN):
    # report the provider the session really uses.
    if requested[0] != session.get_providers()[0]:
        logger.warning(
            "%s could not be initialised; running on %s", requested[0], session.get_providers()[0]
        )
    return session


def run_session(
    session: ort.InferenceSession, input_ids: np.ndarray, attention_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`(logits (B, C) float32, kept_kv_counts (B, L) int64)` of one padded batch."""
    feeds = dict(zip(ONNX_INPUT_NAMES, (input_ids, attention_mask), strict=True))
    logits, kept_kv_counts = session.run(list(ONNX_OUTPUT_NAMES), feeds)
    return logits, kept_kv_counts


def run_explain_session(
    session: ort.InferenceSession, input_ids: np.ndarray, attention_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The explain graph's `(kept_layers, importance, combination_group)`, each (B, T), of one
    padded batch."""
    feeds = dict(zip(ONNX_INPUT_NAMES, (input_ids, attention_mask), strict=True))
    kept_layers, importance, groups = session.run(list(EXPLAIN_OUTPUT_NAMES), feeds)
    return kept_layers, importance, groups


Progress = Callable[[Sequence[int]], Iterable[int]]


@dataclass(frozen=True)
class DocumentScores:
    """Per document, what its windows scored (`artifact.truncation`): each row the weighted mean
    of its windows' rows, or the document's own row when it is read in one sequence."""

    probabilities: np.ndarray  # (N, C) float64: the mean of the windows' probabilities
    logits: np.ndarray  # (N, C) float64: the mean of the windows' logits
    kept_kv_counts: np.ndarray  # (N, L) float64
    num_windows: np.ndarray  # (N,) int64
    truncated: np.ndarray  # (N,) bool: some of the document was read by no window


class OnnxClassifier:
    """An exported graph, its tokenizer and its class names: texts in, logits out; `rule` says
    how they become probabilities and labels (softmax, or sigmoid and thresholds).

    `encode` and `run` are thread-safe; the service calls them from worker threads.
    """

    def __init__(
        self,
        model_path: str | Path,
        tokenizer: Tokenizer,
        labels: Sequence[str],
        max_length: int,
        *,
        device: str = "cpu",
        intra_op_threads: int = 0,
        rule: LabelRule | None = None,
        explain_path: str | Path | None = None,
    ) -> None:
        self.labels = tuple(labels)
        self.rule = rule if rule is not None else LabelRule()
        self.max_length = max_length
        self.tokenizer = tokenizer  # as given: a copy truncates to `max_length` below
        self._tokenizer = truncating_tokenizer(tokenizer, max_length)
        self._whole_tokenizer = as_tokenizer(tokenizer)  # a truncation strategy cuts the ids
        self._pad_id = pad_token_id(self._tokenizer)
        self._session = create_session(model_path, device, session_options(intra_op_threads))
        self.provider: str = self._session.get_providers()[0]
        # The explain graph, when the artifact has one: run only for documents asked about.
        self._explain_session = (
            None
            if explain_path is None
            else create_session(explain_path, device, session_options(intra_op_threads))
        )

    @classmethod
    def from_artifact(
        cls,
        artifact: Artifact | str | Path,
        *,
        max_length: int | None = None,
        device: str = "cpu",
        intra_op_threads: int = 0,
        precision: str = "fp32",
    ) -> OnnxClassifier:
        """The classifier of an artifact (a directory is loaded and checked first) at
        `precision` (an `ArtifactError` when the artifact lacks it); `max_length` can only
        shorten the card's."""
        if not isinstance(artifact, Artifact):
            artifact = load_artifact(artifact)
        card = artifact.card
        return cls(
            artifact.model_path_for(precision),
            artifact.tokenizer,
            card.labels,
            min(max_length or card.max_length, card.max_length),
            device=device,
            intra_op_threads=intra_op_threads,
            rule=card.label_rule,
            explain_path=artifact.explain_path,
        )

    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        """One encoding per text, `[CLS] ... [SEP]`, cut to `max_length` (`overflowing` is
        non-empty when something was cut)."""
        return self._tokenizer.encode_batch(list(texts))

    def encode_windows(self, texts: Sequence[str], truncation: Truncation) -> list[DocumentWindows]:
        """What the model reads of each text under `truncation`: the text tokenized whole, then
        cut, or split into windows, to `max_length` tokens."""
        encodings = self._whole_tokenizer.encode_batch(list(texts))
        return [truncation.split(encoding.ids, self.max_length) for encoding in encodings]

    def run(self, sequences: Sequence[TokenIds]) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad the sequences into one batch and run it: `(logits, kept_kv_counts)`."""
        return run_session(self._session, *pad_batch(sequences, self._pad_id))

    @property
    def can_explain(self) -> bool:
        """Whether the artifact has an explain graph (artifacts written before it do not)."""
        return self._explain_session is not None

    def explain(self, sequences: Sequence[TokenIds]) -> list[SequenceExplanation]:
        """Run the explain graph over the sequences as one right-padded batch: per sequence, its
        tokens' kept layers, importance and group (`artifact.explain`)."""
        if self._explain_session is None:
            raise ArtifactError(
                f"this artifact has no explain graph ({EXPLAIN_FILE}); export it again with "
                "the current training code to add one"
            )
        kept_layers, importance, groups = run_explain_session(
            self._explain_session, *pad_batch(sequences, self._pad_id)
        )
        return [
            SequenceExplanation(kept_layers[row, :n], importance[row, :n], groups[row, :n])
            for row, n in enumerate(len(ids) for ids in sequences)
        ]

    def token_spans(self, texts: Sequence[str]) -> list[TokenSpans]:
        """Each text tokenized whole: its tokens' character offsets and word ids."""
        encodings = self._whole_tokenizer.encode_batch(list(texts))
        return [TokenSpans.from_encoding(encoding) for encoding in encodings]

    def core_words(
        self, texts: Sequence[str], truncation: Truncation, top_k: int, batch_size: int = 16
    ) -> list[list[CoreWord]]:
        """Per text, its `top_k` core words (`artifact.explain.core_words`) as the service
        explains them, each text's sequences read under `truncation`."""
        spans = self.token_spans(texts)
        reads = [truncation.read_positions(len(s.word_ids), self.max_length) for s in spans]
        windows = [
            ids for document in self.encode_windows(texts, truncation) for ids in document.windows
        ]
        explained: list[SequenceExplanation] = []
        for start in range(0, len(windows), batch_size):
            explained.extend(self.explain(windows[start : start + batch_size]))
        words, first = [], 0
        for text, span, read in zip(texts, spans, reads, strict=True):
            count = len(read.positions)
            words.append(
                core_words(text, span, read.positions, explained[first : first + count], top_k)
            )
            first += count
        return words

    def predict(
        self,
        texts: Sequence[str],
        batch_size: int = 16,
        progress: Progress = lambda starts: starts,
    ) -> tuple[np.ndarray, np.ndarray]:
        """`(logits (N, C), kept_kv_counts (N, L))` in the order of `texts`, each cut to
        `max_length` from the right.

        Documents are batched by length (less padding); a document's logits do not depend on
        its batch (docs/contracts.md), so the order of batching does not change the result.
        `progress` wraps the batch start offsets (a progress bar, for instance).
        """
        sequences = [encoding.ids for encoding in self.encode(texts)]
        return self._run_by_length(sequences, batch_size, progress)

    def score_documents(
        self,
        texts: Sequence[str],
        truncation: Truncation,
        batch_size: int = 16,
        progress: Progress = lambda starts: starts,
    ) -> DocumentScores:
        """Each text read under `truncation` (its windows batched by length like documents), its
        scores aggregated over its windows as the service aggregates them."""
        documents = self.encode_windows(texts, truncation)
        windows = [window for document in documents for window in document.windows]
        logits, kept = self._run_by_length(windows, batch_size, progress)
        return DocumentScores(
            probabilities=aggregate_windows(self.rule.probabilities(logits), documents),
            logits=aggregate_windows(logits, documents),
            kept_kv_counts=aggregate_windows(kept, documents),
            num_windows=np.array([document.num_windows for document in documents], np.int64),
            truncated=np.array([document.truncated for document in documents], dtype=bool),
        )

    def _run_by_length(
        self, sequences: Sequence[TokenIds], batch_size: int, progress: Progress
    ) -> tuple[np.ndarray, np.ndarray]:
        """`(logits, kept_kv_counts)` of the sequences in their order, run in batches of
        similar length."""
        order = np.argsort([len(ids) for ids in sequences], kind="stable")
        logits: list[np.ndarray] = []  # per batch, in `order`
        kept: list[np.ndarray] = []
        for start in progress(range(0, len(order), batch_size)):
            batch = order[start : start + batch_size]
            batch_logits, batch_kept = self.run([sequences[i] for i in batch])
            logits.append(batch_logits)
            kept.append(batch_kept)
        in_given_order = np.argsort(order)  # the inverse permutation of `order`
        return np.concatenate(logits)[in_given_order], np.concatenate(kept)[in_given_order]
