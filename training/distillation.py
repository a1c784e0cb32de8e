"""Knowledge distillation: the student learns from a fine-tuned teacher's logits as well as from
the labels.

    loss = (1 - w) * CE(student, label) + w * T^2 * KL(softmax(teacher / T) || softmax(student / T))

(Hinton et al., "Distilling the Knowledge in a Neural Network": the T^2 keeps the soft term's
gradient scale independent of T). With `--distill-hidden-weight` b > 0 the loss adds
b x the mean squared error between the student's and the teacher's hidden states after each layer
before Lc, over the real tokens (the intermediate-layer term of TinyBERT, Jiao et al.): the
layers that prune learn to keep BERT's token representations. That term needs the teacher in
PyTorch, run on every training batch. With `--distill-pooled-weight` a > 0 it adds a x the mean
squared error between the vectors the two classifiers read (the student's mean of its combined
tokens, the teacher's pooled document; beyond the paper, docs/design.md), from the same teacher
pass. With `--distill-transfer-samples` N the student also trains on N more documents of the
training split, outside the labelled subset, through the teacher's terms alone: their labels
are never read (a transfer set, as Hinton et al. distil on; the hard term is the mean over the
labelled examples of a batch). For a multi-label model the soft term is the binary
cross-entropy against the teacher's sigmoid(teacher / T). The teacher is a run directory, an
exported artifact or a checkpoint with the same labels and tokenizer; `--teacher auto` trains the
`bert` variant first, in OUTPUT_DIR/teacher. Teacher logits are computed once per training
example (each window, under chunked truncation), written to OUTPUT_DIR, and reused by every
epoch, every resumed sitting and every process of a `torchrun` launch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch.nn import functional

logger = logging.getLogger(__name__)

TEACHER_DIR = "teacher"  # OUTPUT_DIR/teacher: the run `--teacher auto` trains
LOGITS_FILE = "teacher_logits.npy"
LOGITS_KEY_FILE = "teacher_logits.json"  # what the cached logits were computed from
AUTO = "auto"
NO_TEACHER = "none"  # `--teacher none`: cancels an earlier `--teacher auto` on the command line
# The class id of a transfer-set example: cross-entropy's own `ignore_index`, so the hard term
# skips it.
UNLABELLED = -100


@dataclass
class DistillationArguments:
    """`python -m training train` options of distillation (off unless a teacher is named)."""

    distill_from: str | None = field(
        default=None,
        metadata={
            "help": "Teacher to distil from: a run directory, an exported artifact, or a "
            "checkpoint of a sequence classifier with the same labels and tokenizer."
        },
    )
    teacher: str | None = field(
        default=None,
        metadata={
            "help": "`auto`: train the bert variant as the teacher first, in "
            "OUTPUT_DIR/teacher (resumable), then distil from it; `none`: no teacher (the last "
            "--teacher given wins, so options appended to a command can turn one off).",
            "choices": [AUTO, NO_TEACHER],
        },
    )
    teacher_generations: int = field(
        default=1,
        metadata={
            "help": "With --teacher auto: how many bert runs teach in turn. 1: the teacher "
            "learns from the labels alone; 2: it is itself distilled (logits alone, on the "
            "same transfer set) from a bert trained first in OUTPUT_DIR/teacher/teacher; and "
            "so on (born-again networks)."
        },
    )
    distill_weight: float = field(
        default=0.5, metadata={"help": "Weight w of the teacher term (1 - w for the labels)."}
    )
    distill_temperature: float = field(
        default=2.0, metadata={"help": "Temperature T of the teacher and student softmax."}
    )
    distill_hidden_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of matching the teacher's hidden states after each layer before Lc "
            "(mean squared error over the real tokens, added to the loss); 0: off. Needs the "
            "teacher's PyTorch weights: a checkpoint, or a run directory that kept its "
            "checkpoints/ (as --teacher auto does)."
        },
    )

    distill_pooled_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of matching the teacher's pooled vector, the one its classifier "
            "reads (mean squared error, added to the loss); 0: off. Needs a corebert teacher's "
            "PyTorch weights, as --distill-hidden-weight does."
        },
    )

    distill_transfer_samples: int = field(
        default=0,
        metadata={
            "help": "Also train on this many more documents of the training split, beyond the "
            "--max-train-samples subset, through the teacher alone: their labels are never "
            "read (a transfer set). 0: off. Single-label data only."
        },
    )

    distill_transfer_file: str | None = field(
        default=None,
        metadata={
            "help": "Also train on the documents of this file (CSV/TSV, JSON Lines or Parquet; "
            "only --text-column is read) through the teacher alone: a transfer set of unlabelled "
            "documents, beside --distill-transfer-samples' or instead of it. A document whose "
            "text is also in the validation or test split is an error. Single-label data only."
        },
    )

    def __post_init__(self):
        if self.teacher == NO_TEACHER:
            self.teacher = None
        if self.distill_from and self.teacher:
            raise ValueError("give --distill-from or --teacher auto, not both")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"--distill-weight must be in [0, 1], got {self.distill_weight}")
        if self.distill_temperature <= 0:
            raise ValueError(f"--distill-temperature must be > 0, got {self.distill_temperature}")
        if self.distill_hidden_weight < 0:
            raise ValueError(
                f"--distill-hidden-weight must be >= 0, got {self.distill_hidden_weight}"
            )
        if self.distill_pooled_weight < 0:
            raise ValueError(
                f"--distill-pooled-weight must be >= 0, got {self.distill_pooled_weight}"
            )
        if self.teacher_generations < 1:
            raise ValueError(f"--teacher-generations must be >= 1, got {self.teacher_generations}")
        if self.teacher_generations > 1 and self.teacher != AUTO:
            raise ValueError("--teacher-generations needs --teacher auto: it trains the teachers")
        if self.distill_transfer_samples < 0:
            raise ValueError(
                f"--distill-transfer-samples must be >= 0, got {self.distill_transfer_samples}"
            )
        for option, value in (
            ("--distill-transfer-samples", self.distill_transfer_samples),
            ("--distill-transfer-file", self.distill_transfer_file),
        ):
            if value and not self.enabled:
                raise ValueError(f"{option} needs a teacher (--distill-from or --teacher auto)")

    @property
    def enabled(self) -> bool:
        return bool(self.distill_from or self.teacher)

    @property
    def runs_teacher(self) -> bool:
        """Whether a term needs the teacher's PyTorch pass on every batch (cached logits do
        not)."""
        return self.distill_hidden_weight > 0 or self.distill_pooled_weight > 0

    def teacher_run(self) -> DistillationArguments | None:
        """The distillation of the run `--teacher auto` trains as the teacher: none for the
        first generation, else the previous generation's (logits alone, same weight,
        temperature and transfer set), whose own teacher is trained first."""
        if self.teacher_generations == 1:
            return None
        return replace(
            self,
            teacher_generations=self.teacher_generations - 1,
            distill_hidden_weight=0.0,
            distill_pooled_weight=0.0,
        )

    def record(self) -> dict:
        return {
            "teacher": self.distill_from or self.teacher,
            "teacher_generations": self.teacher_generations if self.teacher == AUTO else None,
            "weight": self.distill_weight,
            "temperature": self.distill_temperature,
            "hidden_weight": self.distill_hidden_weight,
            "pooled_weight": self.distill_pooled_weight,
            "transfer_samples": self.distill_transfer_samples,
            "transfer_file": self.distill_transfer_file,
        }


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    weight: float,
    temperature: float,
    multi_label: bool = False,
) -> torch.Tensor:
    """(1 - w) x the hard-label loss + w x T^2 x the soft loss; logits (B, C), labels (B,) class
    ids or (B, C) 0/1 targets. A batch mean, like the model's own loss; the hard term's mean is
    over the labelled examples (a transfer-set example's class id is `UNLABELLED`)."""
    scaled_student, scaled_teacher = student / temperature, teacher / temperature
    if multi_label:
        hard = functional.binary_cross_entropy_with_logits(student, labels.to(student.dtype))
        soft = functional.binary_cross_entropy_with_logits(
            scaled_student, torch.sigmoid(scaled_teacher)
        ) - functional.binary_cross_entropy_with_logits(
            scaled_teacher, torch.sigmoid(scaled_teacher)
        )  # minus the teacher's own entropy: a KL, 0 when the student matches
    else:
        labelled = (labels != UNLABELLED).sum().clamp(min=1)
        hard = functional.cross_entropy(
            student, labels, ignore_index=UNLABELLED, reduction="sum"
        ) / labelled.to(student.dtype)
        soft = functional.kl_div(
            functional.log_softmax(scaled_student, dim=-1),
            functional.log_softmax(scaled_teacher, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
    return (1.0 - weight) * hard + weight * temperature**2 * soft


def matched_layers(student_layers: int, teacher_layers: int, before: int) -> list[tuple[int, int]]:
    """(student, teacher) hidden-state indices to match: each student layer 1..`before` with the
    teacher layer at the same share of depth (round(l x teacher_layers / student_layers); the
    same layer when both have as many). Index 0 is the embeddings, as BERT counts hidden_states."""
    return [
        (layer, max(1, round(layer * teacher_layers / student_layers)))
        for layer in range(1, before + 1)
    ]


def hidden_state_loss(
    student: Sequence[torch.Tensor],
    teacher: Sequence[torch.Tensor],
    token_mask: torch.Tensor,
    layers: Sequence[tuple[int, int]],
) -> torch.Tensor:
    """Mean over `layers` of the mean squared error between student and teacher states (B, N, D)
    over the real tokens of `token_mask` (B, N); 0 when there is no layer to match."""
    weights = token_mask.unsqueeze(-1).to(student[0].dtype)
    denominator = weights.sum().clamp(min=1.0) * student[0].shape[-1]
    errors = [
        ((student[s] - teacher[t].to(student[s].dtype)) ** 2 * weights).sum() / denominator
        for s, t in layers
    ]
    return torch.stack(errors).mean() if errors else student[0].new_zeros(())


def pooled_state_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the pooled vectors (B, D) the two classifiers read."""
    return functional.mse_loss(student, teacher.to(student.dtype))


@dataclass(frozen=True)
class TeacherStates:
    """What one teacher pass gives the state terms: its hidden states (embeddings, then each
    layer) and the vector its classifier reads (None for a classifier that does not say)."""

    hidden_states: tuple[torch.Tensor, ...]
    pooled_output: torch.Tensor | None


class HiddenStateTeacher:
    """The teacher in PyTorch (eval, no gradient), for the state terms: its states on the
    student's batch, on the student's device."""

    def __init__(self, network: torch.nn.Module):
        self.network = network.eval().requires_grad_(False)
        config: Any = network.config  # a PreTrainedModel's; nn.Module does not declare it
        self.num_layers, self.hidden_size = config.num_hidden_layers, config.hidden_size
        # A corebert classifier returns the vector its classifier reads (`pooled_output`).
        self.gives_pooled = getattr(config, "model_type", None) == "corebert"

    def states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TeacherStates:
        device = input_ids.device
        if next(self.network.parameters()).device != device:
            self.network.to(device)
        with torch.no_grad():
            output = self.network(
                input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
            )
        return TeacherStates(tuple(output.hidden_states), output.get("pooled_output"))


def load_hidden_teacher(path: Path) -> HiddenStateTeacher:
    """The teacher's PyTorch weights: a checkpoint directory (config.json), or a run directory's
    best checkpoint (the one its Trainer kept as best in checkpoints/)."""
    from transformers import AutoModelForSequenceClassification

    import model  # noqa: F401  (registers corebert with the Auto classes)

    checkpoint = path if (path / "config.json").is_file() else best_checkpoint(path)
    logger.info("hidden-state teacher: %s", checkpoint)
    return HiddenStateTeacher(AutoModelForSequenceClassification.from_pretrained(checkpoint))


def best_checkpoint(run_dir: Path) -> Path:
    """The checkpoint a finished run's Trainer kept as best (its last checkpoint's state says)."""
    from training.checkpointing import last_complete_checkpoint

    checkpoints = run_dir / "checkpoints"
    last = last_complete_checkpoint(checkpoints) if checkpoints.is_dir() else None
    if last is None:
        raise FileNotFoundError(
            f"teacher {run_dir}: hidden-state matching needs the teacher's PyTorch weights, a "
            "checkpoint (config.json) or a run directory with checkpoints/; this has neither"
        )
    state = json.loads((Path(last) / "trainer_state.json").read_text())
    best = state.get("best_model_checkpoint")
    return checkpoints / Path(best).name if best else Path(last)


# --- the teacher's logits, computed once ----------------------------------------------------


def examples_key(sequences: Sequence[Sequence[int]], teacher: Path) -> str:
    """Fingerprint of the training examples (their token ids) and of the teacher's location."""
    digest = hashlib.sha256(str(teacher.resolve()).encode())
    for sequence in sequences:
        digest.update(np.asarray(sequence, dtype=np.int64).tobytes() + b"|")
    return digest.hexdigest()


def cached_teacher_logits(
    output_dir: Path,
    teacher: Path,
    sequences: Sequence[Sequence[int]],
    labels: Sequence[str],
    batch_size: int,
) -> np.ndarray:
    """(N, C) teacher logits for the N training examples: read from OUTPUT_DIR when they were
    computed for the same examples and teacher, else computed now and written there."""
    key = examples_key(sequences, teacher)
    logits_path, key_path = output_dir / LOGITS_FILE, output_dir / LOGITS_KEY_FILE
    cached = json.loads(key_path.read_text()) if key_path.is_file() else {}
    if cached.get("key") == key and logits_path.is_file():
        logger.info("teacher logits reused from %s", logits_path)
        return np.load(logits_path)
    logits = teacher_logits(teacher, sequences, labels, batch_size)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(logits_path, lambda file: np.save(file, logits))
    record = {"key": key, "teacher": str(teacher), "examples": len(logits)}
    write_atomically(key_path, lambda file: file.write(json.dumps(record).encode()))
    return logits


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write PATH through a uniquely named file beside it, then rename that into place.

    Every process of a torchrun launch computes the same teacher logits and writes them: with
    one shared staging name, a process would rename a file another had already moved. A reader
    never sees a half-written file either way."""
    descriptor, staged = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
        Path(staged).replace(path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def teacher_logits(
    teacher: Path, sequences: Sequence[Sequence[int]], labels: Sequence[str], batch_size: int
) -> np.ndarray:
    """The teacher's logits on the same token ids the student reads, batched by length."""
    run = _teacher_runner(teacher, labels)
    order = sorted(range(len(sequences)), key=lambda index: len(sequences[index]))
    result = np.zeros((len(sequences), len(labels)), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        result[batch] = run([sequences[index] for index in batch])
    logger.info("teacher logits computed for %d examples from %s", len(sequences), teacher)
    return result


def resolve_teacher(path: Path) -> Path:
    """A run directory stands for its artifact; an artifact or a checkpoint is used as is."""
    if (path / "artifact" / "metadata.json").is_file():
        return path / "artifact"
    if (path / "metadata.json").is_file() or (path / "config.json").is_file():
        return path
    raise FileNotFoundError(
        f"teacher {path}: neither a run directory (artifact/metadata.json), an artifact "
        "(metadata.json) nor a checkpoint (config.json)"
    )


def _teacher_runner(teacher: Path, labels: Sequence[str]):
    """A function (list of token-id sequences) -> (B, C) logits, for an artifact (ONNX Runtime)
    or a checkpoint (PyTorch); the teacher's labels must be the student's, in the same order."""
    if (teacher / "metadata.json").is_file():
        from artifact.runtime import OnnxClassifier

        classifier = OnnxClassifier.from_artifact(teacher)
        check_labels(list(classifier.labels), labels, teacher)
        return lambda batch: classifier.run(batch)[0]
    from transformers import AutoModelForSequenceClassification

    import model  # noqa: F401  (registers corebert with the Auto classes)
    from artifact.tokenization import pad_batch

    network = AutoModelForSequenceClassification.from_pretrained(teacher).eval()
    id2label = network.config.id2label
    check_labels([id2label[index] for index in range(len(id2label))], labels, teacher)

    def run(batch):
        input_ids, attention_mask = pad_batch(batch, network.config.pad_token_id or 0)
        with torch.no_grad():
            output = network(
                input_ids=torch.from_numpy(input_ids),
                attention_mask=torch.from_numpy(attention_mask),
            )
        return output.logits.float().numpy()

    return run


def check_labels(teacher_labels: Sequence[str], labels: Sequence[str], teacher: Path) -> None:
    if list(teacher_labels) != list(labels):
        raise ValueError(
            f"teacher {teacher} has labels {list(teacher_labels)}; the student's training data "
            f"has {list(labels)}: a teacher must classify into the same labels, in the same order"
        )
