"""Fine-tune a corebert variant with the HF Trainer, then export and score the artifact.

One command for CPU, one GPU and several processes (`torchrun`): the Trainer owns devices, mixed
precision, distributed sampling, progress bars, checkpoints and resuming. Only the main process
writes the run's files.

Run directory layout:

    OUTPUT_DIR/run_config.json   every option of the run (usable again with --config)
    OUTPUT_DIR/split.json        the document ids of each split, to check or repeat the split
    OUTPUT_DIR/checkpoints/      Trainer checkpoints (resumed from automatically)
    OUTPUT_DIR/artifact/         model.onnx, tokenizer.json, labels.json, metadata.json
    OUTPUT_DIR/metrics.json      test metrics of the exported ONNX model, best validation scores
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

from artifact.card import read_tokenizer
from artifact.files import METADATA_FILE, MODEL_FILE, TOKENIZER_FILE
from artifact.problem import MULTI_LABEL, LabelRule
from artifact.runtime import OnnxClassifier
from artifact.tokenization import encode_windows, pad_batch, pad_token_id
from artifact.truncation import Truncation
from model import variants
from training.args import DataArguments, ModelArguments, RecipeArguments
from training.artifact import (
    build_metadata,
    export_model_files,
    load_tokenizer,
    staging_directory,
    write_json,
)
from training.backbone import load_classifier, resolve_base_model
from training.checkpointing import CheckpointTimer, TrainingClock, last_complete_checkpoint
from training.data import load_splits
from training.distillation import (
    TEACHER_DIR,
    UNLABELLED,
    DistillationArguments,
    HiddenStateTeacher,
    cached_teacher_logits,
    load_hidden_teacher,
    resolve_teacher,
)
from training.documents import Document
from training.evaluate import score_with_probabilities
from training.files import read_unlabelled_documents
from training.optimizer import CoreBertTrainer
from training.precisions import export_precisions, pytorch_probabilities
from training.quality import quality_metrics
from training.splits import DataSplits, with_transfer_documents
from training.thresholds import Thresholds, run_thresholds

logger = logging.getLogger(__name__)


class EncodedDocuments(torch.utils.data.Dataset):
    """Token ids and targets of one split (class ids, or rows of 0/1 floats for multi-label);
    padding happens per batch in `PaddingCollator`."""

    def __init__(self, sequences: list[list[int]], labels: list):
        self.sequences, self.labels = sequences, labels
        self.teacher_logits: np.ndarray | None = None  # (N, C) when the run distils

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict:
        example = {"input_ids": self.sequences[index], "labels": self.labels[index]}
        if self.teacher_logits is not None:
            example["teacher_logits"] = self.teacher_logits[index]
        return example


@dataclass
class PaddingCollator:
    """Right-pads a batch to its longest document (the layout the ONNX graph expects)."""

    pad_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        input_ids, attention_mask = pad_batch([f["input_ids"] for f in features], self.pad_id)
        return {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
            # int64 class ids, or float32 (batch, labels) multi-label targets
            "labels": torch.tensor([f["labels"] for f in features]),
            **teacher_batch(features),
        }


def teacher_batch(features: list[dict]) -> dict[str, torch.Tensor]:
    """The teacher's logits of a distilling run's training batch; nothing otherwise."""
    if "teacher_logits" not in features[0]:
        return {}
    return {"teacher_logits": torch.from_numpy(np.stack([f["teacher_logits"] for f in features]))}


@dataclass
class RunResult:
    """What a finished run wrote (main process only)."""

    output_dir: Path
    artifact_dir: Path
    metrics: dict
    training_time_s: float


def trainer_arguments(recipe: RecipeArguments, checkpoints_dir: Path) -> TrainingArguments:
    """The recipe as Trainer options: AdamW, linear warm-up and decay, evaluation and a
    checkpoint every epoch (or every `--save-steps`), and the checkpoint with the lowest
    validation loss kept at the end."""
    interval = "epoch" if recipe.save_steps is None else "steps"
    return TrainingArguments(
        output_dir=str(checkpoints_dir),
        num_train_epochs=recipe.epochs,
        per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=recipe.eval_batch_size or recipe.batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        warmup_steps=recipe.warmup_ratio,  # a float in [0, 1) is a share of all steps
        lr_scheduler_type="linear",
        optim="adamw_torch",
        eval_strategy=interval,
        save_strategy=interval,
        eval_steps=recipe.save_steps,
        # None (epoch checkpoints) is never read; transformers annotates a number only.
        save_steps=recipe.save_steps,  # type: ignore[arg-type]
        logging_strategy="steps",
        logging_steps=recipe.logging_steps,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        save_total_limit=recipe.save_total_limit,
        seed=recipe.seed,
        data_seed=recipe.seed,
        fp16=recipe.precision == "fp16",
        bf16=recipe.precision == "bf16",
        dataloader_num_workers=recipe.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Without a GPU, say so: only then does a `torchrun` launch become gloo data parallelism
        # (Accelerate's MULTI_CPU) instead of independent copies of the same run.
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,
        # One label per document: the loss is a mean over the batch's documents, never a sum over
        # tokens to be re-normalised across processes (which would scale it by the world size).
        average_tokens_across_devices=False,
        report_to="none",
        disable_tqdm=False,
    )


def validation_metrics(prediction) -> dict[str, float]:
    """Accuracy on the validation split, logged every epoch next to the loss; for multi-label
    targets (N, C) the micro-F1 of the labels at a logit of 0 (probability 0.5)."""
    logits = prediction.predictions
    if isinstance(logits, tuple):  # (logits, kept_kv_counts)
        logits = logits[0]
    targets = prediction.label_ids
    if targets.ndim == 2:
        given, carried = logits >= 0, targets > 0.5
        both = 2 * (given & carried).sum()
        return {"micro_f1_at_half": float(both / max(given.sum() + carried.sum(), 1))}
    return {"accuracy": float((np.argmax(logits, axis=-1) == targets).mean())}


def encode_split(
    tokenizer,
    documents: Sequence[Document],
    splits: DataSplits,
    max_length: int,
    truncation: Truncation,
    labelled: bool = True,
) -> EncodedDocuments:
    """The split's documents as the model reads them under `truncation`: one sequence each, or
    with chunks one example per window, each with its document's label (so the model learns to
    classify any window the service will average over, not only the first). Not `labelled` (a
    transfer set): every example's class id is `UNLABELLED`."""
    texts = [document.text for document in documents]
    sequences: list[list[int]] = []
    labels: list = []
    read = encode_windows(tokenizer, texts, truncation, max_length)
    targets = splits.targets(documents) if labelled else [UNLABELLED] * len(documents)
    for windows, label in zip(read, targets, strict=True):
        sequences.extend(window.tolist() for window in windows.windows)
        labels.extend([label] * windows.num_windows)
    return EncodedDocuments(sequences, labels)


def train(
    model_args: ModelArguments,
    data_args: DataArguments,
    recipe: RecipeArguments,
    distillation: DistillationArguments | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> RunResult | None:
    """Train, keep the best checkpoint, export the artifact and score it on the test split.

    Returns the run's result in the main process and None in the others.
    """
    output_dir = run_directory(recipe)
    truncation = data_args.truncation_policy()
    truncation.check(recipe.max_length)
    set_seed(recipe.seed)
    splits = training_splits(data_args, distillation)
    logger.info("documents per split: %s, %d classes", splits.sizes(), len(splits.label_names))
    tokenizer = load_tokenizer(resolve_base_model(model_args))
    model, new_parameter_names = load_classifier(
        model_args, splits.label_names, recipe.pooling, splits.multi_label
    )
    checkpoints_dir = output_dir / "checkpoints"
    resume_from = None
    if recipe.resume and checkpoints_dir.is_dir():
        resume_from = last_complete_checkpoint(checkpoints_dir)
    clock = TrainingClock(resume_from)
    timed = recipe.save_steps is None and recipe.save_minutes > 0
    timer = [CheckpointTimer(recipe.save_minutes)] if timed else []
    train_examples = encode_split(tokenizer, splits.train, splits, recipe.max_length, truncation)
    if splits.transfer:
        transfer = encode_split(
            tokenizer, splits.transfer, splits, recipe.max_length, truncation, labelled=False
        )
        train_examples = EncodedDocuments(
            train_examples.sequences + transfer.sequences, train_examples.labels + transfer.labels
        )
    hidden_teacher = None
    if distillation is not None and distillation.enabled:
        teacher = teacher_for(distillation, model_args, data_args, recipe, callbacks)
        train_examples.teacher_logits = cached_teacher_logits(
            output_dir, teacher, train_examples.sequences, splits.label_names, recipe.batch_size
        )
        if distillation.runs_teacher:
            hidden_teacher = hidden_state_teacher(distillation, recipe, model.config.hidden_size)
    trainer = CoreBertTrainer(
        model=model,
        distillation=distillation if distillation is not None and distillation.enabled else None,
        hidden_teacher=hidden_teacher,
        new_parameter_names=new_parameter_names,
        new_parameters_lr_scale=recipe.new_parameters_lr_scale,
        args=trainer_arguments(recipe, checkpoints_dir),
        train_dataset=train_examples,
        eval_dataset=encode_split(
            tokenizer, splits.validation, splits, recipe.max_length, truncation
        ),
        data_collator=PaddingCollator(pad_token_id(tokenizer)),
        compute_metrics=validation_metrics,
        callbacks=[clock, *timer, *callbacks],
    )
    if trainer.is_world_process_zero():
        if not recipe.resume:
            shutil.rmtree(checkpoints_dir, ignore_errors=True)
        write_json(output_dir / "run_config.json", run_config(model_args, data_args, recipe))
        write_json(output_dir / "split.json", splits.record())
    if resume_from:
        logger.info("resuming from %s", resume_from)
    clock.started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    training_time_s = clock.elapsed()
    if not trainer.is_world_process_zero():
        return None
    return export_and_score(
        trainer, tokenizer, splits, model_args, data_args, recipe, training_time_s, resume_from
    )


def training_splits(
    data_args: DataArguments, distillation: DistillationArguments | None
) -> DataSplits:
    """The run's splits, with the transfer set a distilling run asks for (from the training
    split, from a file, or both)."""
    splits = load_splits(data_args, transfer_samples(distillation, data_args))
    path = distillation.distill_transfer_file if distillation and distillation.enabled else None
    if path:
        documents = read_unlabelled_documents(path, data_args.text_column)
        splits = with_transfer_documents(splits, documents, path)
    return splits


def transfer_samples(distillation: DistillationArguments | None, data_args: DataArguments) -> int:
    """The transfer set's size a distilling run asks for (0 for any other run); an error when
    a multi-label run asks for a transfer set at all."""
    if distillation is None or not distillation.enabled:
        return 0
    for option, value in (
        ("--distill-transfer-samples", distillation.distill_transfer_samples),
        ("--distill-transfer-file", distillation.distill_transfer_file),
    ):
        if value and data_args.multi_label:
            raise ValueError(f"{option} is for single-label data, not --multi-label")
    return distillation.distill_transfer_samples


def run_directory(recipe: RecipeArguments) -> Path:
    """`recipe.output_dir`, which a training run cannot do without."""
    if recipe.output_dir is None:
        raise ValueError("a training run needs an output directory (--output-dir)")
    return Path(recipe.output_dir)


def export_and_score(
    trainer: CoreBertTrainer,
    tokenizer,
    splits: DataSplits,
    model_args: ModelArguments,
    data_args: DataArguments,
    recipe: RecipeArguments,
    training_time_s: float,
    resumed_from: str | None,
) -> RunResult:
    """Export the best model, score the exported graph on the test split, then publish both the
    artifact (metadata.json carries the ONNX test metrics) and metrics.json."""
    output_dir = run_directory(recipe)
    artifact_dir = output_dir / "artifact"
    model = trainer.model
    parity_texts = [document.text for document in splits.validation[: recipe.parity_documents]]
    with staging_directory(artifact_dir) as staged:
        parity = export_model_files(
            staged,
            model=model,
            tokenizer=tokenizer,
            labels=splits.label_names,
            parity_texts=parity_texts,
            max_length=recipe.max_length,
            atol=recipe.parity_atol,
        )
        batch_size = recipe.eval_batch_size or recipe.batch_size
        truncation = data_args.truncation_policy()
        classifier, thresholds = staged_classifier(staged, splits, recipe, truncation)
        test_metrics, fp32_probabilities = score_with_probabilities(
            classifier, splits.test, batch_size, truncation
        )
        quality_warnings = []
        if not splits.multi_label:  # the baseline and concentration checks are single-label
            quality = quality_metrics(
                test_metrics, splits.label_ids(splits.train), splits.label_names
            )
            quality_warnings = quality.pop("warnings")
            test_metrics.update(quality)
        reference = pytorch_probabilities(model, classifier, splits.test, truncation, batch_size)
        precisions, dropped = export_precisions(
            staged,
            classifier,
            splits.test,
            reference,
            (test_metrics, fp32_probabilities),
            max_accuracy_drop=recipe.int8_max_drop / 100,
            truncation=truncation,
            batch_size=batch_size,
        )
        warnings = [*quality_warnings, *dropped]
        caller: dict[str, Any] = {
            "name": recipe.artifact_name or default_name(data_args, model_args),
            "version": recipe.artifact_version,
            "base_model": resolve_base_model(model_args),
            "dataset": splits.describe(),
            "metrics": test_metrics,
            "training_time_s": training_time_s,
            "training": training_summary(trainer, recipe, resumed_from),
            "precisions": precisions,
            "warnings": warnings,
            **(thresholds.metadata(splits.label_names) if thresholds else {}),
        }
        metadata = build_metadata(
            caller, config=model.config, max_length=recipe.max_length, parity=parity
        )
        write_json(staged / METADATA_FILE, metadata)
    metrics = {
        **test_metrics,
        "validation": best_validation_scores(trainer),
        "training": {"time_s": training_time_s, **caller["training"]},
        "parity": parity,
        "precisions": precisions,
        "warnings": warnings,
    }
    write_json(output_dir / "metrics.json", metrics)
    for warning in warnings:
        logger.warning("%s\n%s\n%s", "!" * 78, warning, "!" * 78)
    logger.info(
        "test accuracy %.4f, macro-F1 %.4f, micro-F1 %.4f (ONNX Runtime, %d documents); "
        "artifact: %s",
        test_metrics["accuracy"],
        test_metrics["macro_f1"],
        test_metrics["micro_f1"],
        test_metrics["num_documents"],
        artifact_dir,
    )
    return RunResult(output_dir, artifact_dir, metrics, training_time_s)


def staged_classifier(
    staged: Path, splits: DataSplits, recipe: RecipeArguments, truncation: Truncation
) -> tuple[OnnxClassifier, Thresholds | None]:
    """The staged fp32 graph as the service will run it: for a multi-label model with the
    thresholds of the run (`--threshold`, or tuned on the validation split by this graph)."""
    tokenizer = read_tokenizer(staged / TOKENIZER_FILE)

    def classifier(rule: LabelRule) -> OnnxClassifier:
        model_path = staged / MODEL_FILE
        return OnnxClassifier(
            model_path, tokenizer, splits.label_names, recipe.max_length, rule=rule
        )

    if not splits.multi_label:
        return classifier(LabelRule()), None
    thresholds = run_thresholds(
        classifier(LabelRule(MULTI_LABEL)),
        splits.validation,
        splits.label_matrix(splits.validation),
        recipe.threshold,
        truncation,
        recipe.eval_batch_size or recipe.batch_size,
    )
    return classifier(LabelRule(MULTI_LABEL, thresholds.values)), thresholds


def teacher_for(
    distillation: DistillationArguments,
    model_args: ModelArguments,
    data_args: DataArguments,
    recipe: RecipeArguments,
    callbacks: Sequence[TrainerCallback],
) -> Path:
    """The teacher's artifact or checkpoint. `--teacher auto` trains the `bert` variant of the
    same backbone, data and recipe into OUTPUT_DIR/teacher first (a finished one is reused, an
    interrupted one resumes), in every process of the launch; with `--teacher-generations` above
    1 that run is itself distilled from its own `--teacher auto`."""
    if distillation.distill_from:
        return resolve_teacher(Path(distillation.distill_from))
    teacher_dir = run_directory(recipe) / TEACHER_DIR
    if not (teacher_dir / "artifact" / METADATA_FILE).is_file():
        logger.info("training the teacher (bert) in %s", teacher_dir)
        plain: dict[str, Any] = dict.fromkeys(variants.COMBINING_OPTIONS, False)
        teacher_model = replace(
            model_args, variant="bert", combine_layer=None, paper_combine_layer=None, **plain
        )
        teacher_recipe = replace(recipe, output_dir=str(teacher_dir), artifact_name=None)
        train(teacher_model, data_args, teacher_recipe, distillation.teacher_run(), callbacks)
        # The main process exports the teacher after training; the others must not read its
        # artifact before it is there.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
    return teacher_dir / "artifact"


def hidden_state_teacher(
    distillation: DistillationArguments, recipe: RecipeArguments, hidden_size: int
) -> HiddenStateTeacher:
    """The teacher's PyTorch weights for `--distill-hidden-weight` and `--distill-pooled-weight`:
    `--distill-from` as given, or the run `--teacher auto` trained in OUTPUT_DIR/teacher; its
    states must be the student's size, and the pooled term needs a corebert teacher."""
    location = Path(distillation.distill_from or run_directory(recipe) / TEACHER_DIR)
    teacher = load_hidden_teacher(location)
    if teacher.hidden_size != hidden_size:
        raise ValueError(
            f"teacher {location} has hidden size {teacher.hidden_size}, the student "
            f"{hidden_size}: state matching needs equal sizes"
        )
    if distillation.distill_pooled_weight > 0 and not teacher.gives_pooled:
        raise ValueError(
            f"teacher {location} is not a corebert classifier: --distill-pooled-weight needs the "
            "vector its classifier reads"
        )
    return teacher


def training_summary(
    trainer: CoreBertTrainer, recipe: RecipeArguments, resumed_from: str | None
) -> dict:
    state = trainer.state
    return {
        "epochs": recipe.epochs,
        "steps": state.global_step,
        "batch_size": recipe.batch_size,
        "world_size": trainer.args.world_size,
        "recipe": recipe.recipe,
        "learning_rate": recipe.learning_rate,
        "new_parameters_lr_scale": recipe.new_parameters_lr_scale,
        "pooling": trainer.model.config.pooling,
        "warmup_ratio": recipe.warmup_ratio,
        "seed": recipe.seed,
        "precision": recipe.precision,
        "distillation": trainer.distillation.record() if trainer.distillation else None,
        "device": training_device(trainer),
        "best_checkpoint": Path(state.best_model_checkpoint).name
        if state.best_model_checkpoint
        else None,
        "resumed_from": Path(resumed_from).name if resumed_from else None,
        # Optimizer steps taken before this sitting (0 for a run that did not resume).
        "resumed_at_step": checkpoint_step(resumed_from) if resumed_from else 0,
    }


def training_device(trainer: CoreBertTrainer) -> str:
    """`cpu`, or the accelerator's name: figures trained on different hardware differ a little."""
    device = trainer.args.device
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def checkpoint_step(checkpoint: str) -> int:
    """The global step a Trainer checkpoint directory (`checkpoint-N`) was written at."""
    return int(Path(checkpoint).name.rsplit("-", 1)[1])


def best_validation_scores(trainer: Trainer) -> dict:
    """The evaluation log entry of the kept (lowest validation loss) checkpoint."""
    evaluations = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    if not evaluations:
        return {}
    best = min(evaluations, key=lambda entry: entry["eval_loss"])
    return {key.removeprefix("eval_"): value for key, value in best.items()}


def default_name(data_args: DataArguments, model_args: ModelArguments) -> str:
    source = data_args.dataset or Path(data_args.train_file or "documents").stem
    return f"{source.replace('/', '-')}-{model_args.variant}"


def run_config(*arguments) -> dict:
    """Every option of the run in one flat mapping (a valid `--config` file)."""
    config = {}
    for group in arguments:
        config.update(asdict(group))
    return config
