"""Distillation: the loss against hand-computed values, the teacher's logits from an artifact or a
checkpoint, computed once and reused, and the errors a wrong teacher gives."""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from artifact.runtime import OnnxClassifier
from tests.artifacts import make_tiny_artifact, tiny_label_names
from tests.factories import make_tiny_model
from tests.training.conftest import run_torchrun, train_argv
from training import distillation
from training.distillation import (
    DistillationArguments,
    HiddenStateTeacher,
    cached_teacher_logits,
    distillation_loss,
    hidden_state_loss,
    load_hidden_teacher,
    matched_layers,
    pooled_state_loss,
    resolve_teacher,
)

STUDENT = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
TEACHER = torch.tensor([[1.0, 1.0, -2.0], [0.0, 2.0, 0.0]])
LABELS = torch.tensor([0, 1])


def softmax(row: list[float], temperature: float) -> list[float]:
    exps = [math.exp(value / temperature) for value in row]
    return [e / sum(exps) for e in exps]


def hand_kl(temperature: float) -> float:
    """Mean over the batch of sum_c p_teacher log(p_teacher / p_student), both at T."""
    total = 0.0
    for student, teacher in zip(STUDENT.tolist(), TEACHER.tolist(), strict=True):
        p, q = softmax(teacher, temperature), softmax(student, temperature)
        total += sum(pc * math.log(pc / qc) for pc, qc in zip(p, q, strict=True))
    return total / len(STUDENT)


def hand_cross_entropy() -> float:
    rows = zip(STUDENT.tolist(), LABELS.tolist(), strict=True)
    return sum(-math.log(softmax(row, 1.0)[label]) for row, label in rows) / len(STUDENT)


@pytest.mark.parametrize(
    ("weight", "temperature"), [(0.0, 2.0), (1.0, 1.0), (0.5, 2.0), (0.3, 4.0)]
)
def test_loss_is_the_weighted_sum_of_cross_entropy_and_scaled_kl(weight, temperature):
    expected = (1 - weight) * hand_cross_entropy() + weight * temperature**2 * hand_kl(temperature)
    got = distillation_loss(STUDENT, TEACHER, LABELS, weight, temperature)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_a_student_that_matches_its_teacher_pays_only_the_label_term():
    for multi_label, labels in ((False, LABELS), (True, torch.tensor([[1, 0, 0], [0, 1, 1]]))):
        loss = distillation_loss(TEACHER, TEACHER, labels, 1.0, 2.0, multi_label=multi_label)
        assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_multi_label_soft_term_is_zero_only_at_the_teacher():
    labels = torch.tensor([[1, 0, 0], [0, 1, 1]])
    away = distillation_loss(STUDENT, TEACHER, labels, 1.0, 1.0, multi_label=True)
    assert away.item() > 0.01


def test_options_are_checked():
    with pytest.raises(ValueError, match="not both"):
        DistillationArguments(distill_from="runs/x", teacher="auto")
    with pytest.raises(ValueError, match="distill-weight"):
        DistillationArguments(distill_from="runs/x", distill_weight=1.5)
    with pytest.raises(ValueError, match="temperature"):
        DistillationArguments(teacher="auto", distill_temperature=0)
    assert not DistillationArguments().enabled and DistillationArguments(teacher="auto").enabled


def sequences(count: int = 7) -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [[2, *rng.integers(10, 60, size=int(n)).tolist(), 3] for n in rng.integers(1, 20, count)]


def test_artifact_teacher_logits_equal_the_artifacts_own_run(tmp_path):
    artifact = make_tiny_artifact(tmp_path / "teacher", variant="bert", num_labels=3)
    examples = sequences()
    logits = cached_teacher_logits(tmp_path / "run", artifact, examples, tiny_label_names(3), 3)
    classifier = OnnxClassifier.from_artifact(artifact)
    for row, example in enumerate(examples):
        np.testing.assert_allclose(logits[row], classifier.run([example])[0][0], atol=1e-5)


def test_teacher_logits_are_computed_once_then_reused(tmp_path, monkeypatch):
    artifact = make_tiny_artifact(tmp_path / "teacher", variant="bert", num_labels=3)
    calls = []
    original = distillation.teacher_logits

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(distillation, "teacher_logits", counting)
    labels, run = tiny_label_names(3), tmp_path / "run"
    first = cached_teacher_logits(run, artifact, sequences(), labels, 4)
    again = cached_teacher_logits(run, artifact, sequences(), labels, 4)
    np.testing.assert_array_equal(first, again)
    assert len(calls) == 1
    cached_teacher_logits(run, artifact, sequences(5), labels, 4)  # other examples: recomputed
    assert len(calls) == 2


def test_writers_that_finish_together_each_stage_their_own_file(tmp_path, monkeypatch):
    """The processes of a torchrun launch compute the same logits and write them at once."""
    writers = 4
    ready = threading.Barrier(writers)
    logits = np.arange(12, dtype=np.float32).reshape(4, 3)

    def computed_together(*args):
        ready.wait(timeout=30)
        return logits

    monkeypatch.setattr(distillation, "teacher_logits", computed_together)
    run, teacher = tmp_path / "run", tmp_path / "teacher"

    def cache():
        return cached_teacher_logits(run, teacher, sequences(), tiny_label_names(3), 4)

    with ThreadPoolExecutor(writers) as pool:
        results = [future.result() for future in [pool.submit(cache) for _ in range(writers)]]
    for result in [*results, np.load(run / distillation.LOGITS_FILE)]:
        np.testing.assert_array_equal(result, logits)
    assert json.loads((run / distillation.LOGITS_KEY_FILE).read_text())["examples"] == 4
    assert sorted(path.name for path in run.iterdir()) == sorted(
        [distillation.LOGITS_FILE, distillation.LOGITS_KEY_FILE]
    )  # no staged file left behind


def test_checkpoint_teacher_runs_in_pytorch(tmp_path):
    model = make_tiny_model("bert", num_labels=3)
    model.config.id2label = dict(enumerate(tiny_label_names(3)))
    model.save_pretrained(tmp_path / "checkpoint")
    examples = sequences(3)
    logits = distillation.teacher_logits(tmp_path / "checkpoint", examples, tiny_label_names(3), 2)
    with torch.no_grad():
        alone = model.eval()(input_ids=torch.tensor([examples[0]])).logits[0].numpy()
    np.testing.assert_allclose(logits[0], alone, atol=1e-5)


def test_a_teacher_with_other_labels_is_refused(tmp_path):
    artifact = make_tiny_artifact(tmp_path / "teacher", variant="bert", num_labels=3)
    with pytest.raises(ValueError, match="same labels"):
        cached_teacher_logits(tmp_path / "run", artifact, sequences(), ["a", "b", "c"], 4)


def test_a_run_directory_stands_for_its_artifact(tmp_path):
    artifact = make_tiny_artifact(tmp_path / "run" / "artifact", variant="bert")
    assert resolve_teacher(tmp_path / "run") == artifact
    assert resolve_teacher(artifact) == artifact
    with pytest.raises(FileNotFoundError, match="neither a run directory"):
        resolve_teacher(tmp_path)


def test_teacher_auto_trains_bert_first_then_distils_and_records_it(
    tiny_base_model, tiny_train_csv, tmp_path
):
    from training.__main__ import main

    run = tmp_path / "student"
    argv = train_argv(tiny_base_model, tiny_train_csv, run, "--variant", "pfc", "--epochs", "1")
    assert main([*argv, "--teacher", "auto", "--distill-weight", "0.7"]) == 0
    teacher_metadata = json.loads((run / "teacher" / "artifact" / "metadata.json").read_text())
    assert teacher_metadata["variant"] == "bert"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["distillation"] == {
        "teacher": "auto",
        "teacher_generations": 1,
        "weight": 0.7,
        "temperature": 2.0,
        "hidden_weight": 0.0,
        "pooled_weight": 0.0,
        "transfer_samples": 0,
        "transfer_file": None,
    }
    cached = np.load(run / distillation.LOGITS_FILE)
    assert cached.shape[1] == 3 and np.isfinite(cached).all()
    # A rerun reuses the finished teacher and the cached logits: nothing is trained again.
    stamp = (run / "teacher" / "artifact" / "metadata.json").stat().st_mtime_ns
    assert main([*argv, "--teacher", "auto", "--distill-weight", "0.7"]) == 0
    assert (run / "teacher" / "artifact" / "metadata.json").stat().st_mtime_ns == stamp


def test_two_teacher_generations_train_bert_then_bert_distilled_from_it_then_the_student(
    tiny_base_model, tiny_train_csv, tmp_path
):
    from training.__main__ import main

    run = tmp_path / "student"
    argv = train_argv(tiny_base_model, tiny_train_csv, run, "--variant", "pfc", "--epochs", "1")
    assert main([*argv, "--teacher", "auto", "--teacher-generations", "2"]) == 0
    first, second = run / "teacher" / "teacher", run / "teacher"
    for teacher in (first, second):
        metadata = json.loads((teacher / "artifact" / "metadata.json").read_text())
        assert metadata["variant"] == "bert"
    first_record = json.loads((first / "metrics.json").read_text())["training"]["distillation"]
    second_record = json.loads((second / "metrics.json").read_text())["training"]
    assert first_record is None  # the first generation learns from the labels alone
    assert second_record["distillation"]["teacher"] == "auto"
    assert second_record["distillation"]["teacher_generations"] == 1
    assert (second / distillation.LOGITS_FILE).is_file()  # it read its own teacher's logits
    student = json.loads((run / "metrics.json").read_text())["training"]["distillation"]
    assert student["teacher_generations"] == 2


def test_a_teacher_generation_distils_logits_alone_and_only_auto_trains_generations():
    options = DistillationArguments(
        teacher="auto",
        teacher_generations=3,
        distill_weight=0.6,
        distill_hidden_weight=1.0,
        distill_pooled_weight=1.0,
        distill_transfer_samples=30,
    )
    teacher = options.teacher_run()
    assert teacher is not None and teacher.teacher_generations == 2
    assert (teacher.distill_hidden_weight, teacher.distill_pooled_weight) == (0.0, 0.0)
    assert (teacher.distill_weight, teacher.distill_transfer_samples) == (0.6, 30)
    first = teacher.teacher_run()
    assert first is not None and first.teacher_run() is None
    assert DistillationArguments(teacher="auto").teacher_run() is None
    with pytest.raises(ValueError, match="needs --teacher auto"):
        DistillationArguments(distill_from="run", teacher_generations=2)
    with pytest.raises(ValueError, match=">= 1"):
        DistillationArguments(teacher="auto", teacher_generations=0)


def test_teacher_none_turns_distillation_off():
    """`--teacher none` appended to a command that says `--teacher auto` (the last one wins)."""
    from training.__main__ import TRAIN_GROUPS, parse

    argv = ["--variant", "pfc", "--teacher", "auto", "--teacher", "none", "--output-dir", "run"]
    *_, distillation = parse(TRAIN_GROUPS, argv, "train", "")[1]
    assert distillation.teacher is None and not distillation.enabled
    assert distillation.record()["teacher"] is None
    with pytest.raises(ValueError, match="needs --teacher auto"):
        DistillationArguments(teacher="none", teacher_generations=2)


def test_the_trainer_uses_the_distillation_loss_when_the_batch_has_teacher_logits(tmp_path):
    from transformers import TrainingArguments

    from training.optimizer import CoreBertTrainer

    model = make_tiny_model("pfc", num_labels=3).eval()
    options = DistillationArguments(teacher="auto", distill_weight=0.8, distill_temperature=3.0)
    trainer = CoreBertTrainer(
        model=model,
        args=TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none"),
        distillation=options,
    )
    input_ids = torch.tensor([[2, 11, 12, 13, 3], [2, 14, 15, 3, 0]])
    batch = {"input_ids": input_ids, "attention_mask": (input_ids > 0).long(), "labels": LABELS}
    teacher = torch.tensor([[3.0, -1.0, 0.0], [0.0, 0.0, 4.0]])
    with torch.no_grad():
        plain = trainer.compute_loss(model, dict(batch))
        distilled = trainer.compute_loss(model, {**batch, "teacher_logits": teacher})
        logits = model(**batch).logits
    assert plain.item() == pytest.approx(model(**batch).loss.item(), rel=1e-5)
    expected = distillation_loss(logits, teacher, LABELS, 0.8, 3.0)
    assert distilled.item() == pytest.approx(expected.item(), rel=1e-5)
    assert distilled.item() != pytest.approx(plain.item(), rel=1e-3)


# --- hidden-state matching -----------------------------------------------------------------


def test_matched_layers_pair_equal_depth_shares():
    assert matched_layers(6, 6, 3) == [(1, 1), (2, 2), (3, 3)]
    assert matched_layers(6, 12, 3) == [(1, 2), (2, 4), (3, 6)]  # a teacher twice as deep
    assert matched_layers(6, 6, 0) == []  # combining at layer 1: nothing before Lc


def test_hidden_state_loss_is_the_masked_mean_squared_error():
    embeddings = torch.zeros(1, 3, 2)
    student = (embeddings, torch.tensor([[[1.0, 1.0], [0.0, 2.0], [9.0, 9.0]]]))
    teacher = (embeddings, torch.tensor([[[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]]))
    mask = torch.tensor([[True, True, False]])  # the third token is padding
    loss = hidden_state_loss(student, teacher, mask, [(1, 1)])
    assert loss.item() == pytest.approx((1.0 + 0.0 + 0.0 + 4.0) / (2 * 2))
    assert hidden_state_loss(student, student, mask, [(1, 1)]).item() == 0.0
    assert hidden_state_loss(student, teacher, mask, []).item() == 0.0


def hidden_trainer(tmp_path, model, teacher_model, weight: float, pooled_weight: float = 0.0):
    from transformers import TrainingArguments

    from training.optimizer import CoreBertTrainer

    options = DistillationArguments(
        teacher="auto",
        distill_weight=0.5,
        distill_temperature=2.0,
        distill_hidden_weight=weight,
        distill_pooled_weight=pooled_weight,
    )
    return CoreBertTrainer(
        model=model,
        args=TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none"),
        distillation=options,
        hidden_teacher=HiddenStateTeacher(teacher_model),
    )


def test_the_trainer_adds_the_hidden_state_term_of_the_layers_before_lc(tmp_path):
    student = make_tiny_model("pfc", num_labels=3, seed=0).eval()
    teacher = make_tiny_model("bert", num_labels=3, seed=1).eval()
    trainer = hidden_trainer(tmp_path, student, teacher, weight=0.3)
    input_ids = torch.tensor([[2, 11, 12, 13, 3], [2, 14, 15, 3, 0]])
    mask = (input_ids > 0).long()
    batch = {"input_ids": input_ids, "attention_mask": mask, "labels": LABELS}
    soft = torch.tensor([[3.0, -1.0, 0.0], [0.0, 0.0, 4.0]])
    with torch.no_grad():
        total = trainer.compute_loss(student, {**batch, "teacher_logits": soft})
        ours = student(**batch, output_hidden_states=True)
        theirs = teacher(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    layers = matched_layers(5, 5, student.config.combine_layer - 1)
    assert len(layers) == student.config.combine_layer - 1 > 0
    term = hidden_state_loss(ours.hidden_states, theirs.hidden_states, mask.bool(), layers)
    expected = distillation_loss(ours.logits, soft, LABELS, 0.5, 2.0) + 0.3 * term
    assert term.item() > 0
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_student_equal_to_its_teacher_pays_no_hidden_state_term(tmp_path):
    student = make_tiny_model("bert", num_labels=3, seed=0).eval()
    teacher = make_tiny_model("bert", num_labels=3, seed=0).eval()
    input_ids = torch.tensor([[2, 11, 12, 13, 3]])
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
    soft = torch.tensor([[0.0, 1.0, 0.0]])
    with_term = hidden_trainer(tmp_path, student, teacher, weight=5.0)
    without = hidden_trainer(tmp_path, student, teacher, weight=0.0)
    with torch.no_grad():
        labelled = {**batch, "labels": torch.tensor([1]), "teacher_logits": soft}
        assert with_term.compute_loss(student, dict(labelled)).item() == pytest.approx(
            without.compute_loss(student, dict(labelled)).item(), abs=1e-6
        )


def test_the_pooled_term_is_the_mean_squared_error_of_the_vectors_the_classifiers_read(tmp_path):
    student = make_tiny_model("pfc", num_labels=3, seed=0).eval()
    teacher = make_tiny_model("bert", num_labels=3, seed=1).eval()
    input_ids = torch.tensor([[2, 11, 12, 13, 3], [2, 14, 15, 3, 0]])
    mask = (input_ids > 0).long()
    batch = {"input_ids": input_ids, "attention_mask": mask, "labels": LABELS}
    soft = torch.tensor([[3.0, -1.0, 0.0], [0.0, 0.0, 4.0]])
    pooled_only = hidden_trainer(tmp_path, student, teacher, weight=0.0, pooled_weight=0.4)
    both = hidden_trainer(tmp_path, student, teacher, weight=0.3, pooled_weight=0.4)
    with torch.no_grad():
        total = pooled_only.compute_loss(student, {**batch, "teacher_logits": soft})
        total_both = both.compute_loss(student, {**batch, "teacher_logits": soft})
        ours = student(**batch, output_hidden_states=True)
        theirs = teacher(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    # The student's vector is the mean of its m combined tokens, the teacher's its pooled [CLS].
    assert ours.pooled_output.shape == theirs.pooled_output.shape == (2, student.config.hidden_size)
    by_hand = ((ours.pooled_output - theirs.pooled_output) ** 2).mean()
    assert pooled_state_loss(ours.pooled_output, theirs.pooled_output).item() == pytest.approx(
        by_hand.item()
    )
    plain = distillation_loss(ours.logits, soft, LABELS, 0.5, 2.0)
    assert by_hand.item() > 0
    assert total.item() == pytest.approx((plain + 0.4 * by_hand).item(), rel=1e-5)
    layers = matched_layers(5, 5, student.config.combine_layer - 1)
    hidden = hidden_state_loss(ours.hidden_states, theirs.hidden_states, mask.bool(), layers)
    expected_both = plain + 0.3 * hidden + 0.4 * by_hand
    assert total_both.item() == pytest.approx(expected_both.item(), rel=1e-5)


def test_the_pooled_vector_is_returned_only_with_the_states():
    model = make_tiny_model("pfc", num_labels=3)
    input_ids = torch.tensor([[2, 11, 12, 3]])
    with torch.no_grad():
        plain = model(input_ids=input_ids)
        with_states = model(input_ids=input_ids, output_hidden_states=True)
    assert "pooled_output" not in plain  # evaluation gathers the logits alone
    assert torch.equal(model.classifier(with_states.pooled_output), with_states.logits)


def test_the_pooled_term_needs_a_corebert_teacher(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    from tests.factories import tiny_config_kwargs
    from training.train import hidden_state_teacher

    known = BertConfig().to_dict()
    kwargs = {k: v for k, v in tiny_config_kwargs().items() if k in known and k != "num_labels"}
    BertForSequenceClassification(BertConfig(**kwargs, num_labels=3)).save_pretrained(tmp_path)
    size = kwargs["hidden_size"]
    hidden_only = DistillationArguments(distill_from=str(tmp_path), distill_hidden_weight=1.0)
    assert not hidden_state_teacher(hidden_only, None, size).gives_pooled  # type: ignore[arg-type]
    pooled = DistillationArguments(distill_from=str(tmp_path), distill_pooled_weight=1.0)
    with pytest.raises(ValueError, match="not a corebert classifier"):
        hidden_state_teacher(pooled, None, size)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="--distill-pooled-weight must be >= 0"):
        DistillationArguments(teacher="auto", distill_pooled_weight=-0.5)


def test_the_hidden_state_teacher_needs_pytorch_weights(tmp_path):
    artifact = make_tiny_artifact(tmp_path / "run" / "artifact", variant="bert")
    assert artifact.is_dir()
    with pytest.raises(FileNotFoundError, match="needs the teacher's PyTorch weights"):
        load_hidden_teacher(tmp_path / "run")
    with pytest.raises(ValueError, match="--distill-hidden-weight must be >= 0"):
        DistillationArguments(teacher="auto", distill_hidden_weight=-1.0)


@pytest.mark.slow
def test_hidden_state_distillation_under_torchrun(tiny_base_model, tiny_train_csv, tmp_path):
    """`--teacher auto` with hidden-state and pooled matching in a two-process CPU launch: the
    teacher is trained by the launch, then the student reads the teacher's best checkpoint."""
    run = tmp_path / "student"
    argv = train_argv(tiny_base_model, tiny_train_csv, run, "--variant", "pfc", "--epochs", "1")
    states = ["--distill-hidden-weight", "1.0", "--distill-pooled-weight", "0.5"]
    run_torchrun([*argv, "--teacher", "auto", *states])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["world_size"] == 2
    assert metrics["training"]["distillation"]["hidden_weight"] == 1.0
    assert metrics["training"]["distillation"]["pooled_weight"] == 0.5
    assert (run / "teacher" / "artifact" / "metadata.json").is_file()
    assert (run / "artifact" / "metadata.json").is_file()
    states = sorted((run / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    history = json.loads(states[-1].read_text())["log_history"]
    evaluated = [entry["eval_loss"] for entry in history if "eval_loss" in entry]
    assert evaluated and all(math.isfinite(loss) for loss in evaluated)
