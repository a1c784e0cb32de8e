"""A transfer set (`--distill-transfer-samples`, `--distill-transfer-file`): training documents
beyond the labelled subset, or unlabelled documents from a file, that the student learns from
through its teacher alone. The split keeps it apart from every split, the loss never reads its
labels, and a run records it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional

from tests.training.conftest import labelled_rows, train_argv, write_csv
from training.args import DataArguments
from training.data import load_splits
from training.distillation import UNLABELLED, DistillationArguments, distillation_loss
from training.documents import DataError
from training.files import read_unlabelled_documents
from training.splits import with_transfer_documents


@pytest.fixture
def train_csv(tmp_path):
    return write_csv(tmp_path / "train.csv", labelled_rows(100, seed=3))


def test_the_transfer_set_is_apart_from_every_split_and_leaves_them_as_they_were(train_csv):
    args = DataArguments(train_file=str(train_csv), max_train_samples=20)
    plain = load_splits(args)
    splits = load_splits(args, transfer_samples=30)

    assert splits.document_ids() == plain.document_ids()  # train, validation, test unchanged
    assert splits.fingerprint() == plain.fingerprint()
    transfer = {document.doc_id for document in splits.transfer}
    assert len(transfer) == 30
    for ids in splits.document_ids().values():
        assert not transfer & set(ids)
    record = splits.record()
    assert sorted(record["documents"]["transfer"]) == sorted(transfer)
    assert record["transfer_samples"] == 30
    assert plain.transfer == [] and "transfer" not in plain.record()["documents"]


def test_a_transfer_set_larger_than_what_is_left_is_an_error(train_csv):
    # 64 training documents after the held-out splits, 20 of them labelled: 44 left.
    args = DataArguments(train_file=str(train_csv), max_train_samples=20)
    assert len(load_splits(args, transfer_samples=44).transfer) == 44
    with pytest.raises(DataError, match=r"transfer set of 45 documents .* 44 are left"):
        load_splits(args, transfer_samples=45)


def test_the_hard_term_is_the_mean_over_the_labelled_examples():
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [0.0, 1.0, 3.0]])
    teacher = torch.tensor([[1.0, 1.0, -2.0], [0.0, 2.0, 0.0], [1.0, 0.0, 0.0]])
    labels = torch.tensor([0, UNLABELLED, 2])
    soft_only = distillation_loss(student, teacher, labels, 1.0, 2.0)
    full = distillation_loss(student, teacher, labels, 0.0, 2.0)
    # By hand: -log softmax of each labelled row's class, averaged over those two rows.
    log_probabilities = student.log_softmax(dim=-1)
    expected = -(log_probabilities[0, 0] + log_probabilities[2, 2]) / 2
    assert full.item() == pytest.approx(expected.item(), rel=1e-6)
    kl = functional.kl_div(
        (student / 2).log_softmax(-1), (teacher / 2).log_softmax(-1), reduction="batchmean",
        log_target=True,
    )  # fmt: skip
    assert soft_only.item() == pytest.approx(4 * kl.item(), rel=1e-6)


def test_a_batch_of_transfer_examples_alone_pays_only_the_teacher_term():
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    teacher = torch.tensor([[1.0, 1.0, -2.0], [0.0, 2.0, 0.0]])
    unlabelled = torch.tensor([UNLABELLED, UNLABELLED])
    loss = distillation_loss(student, teacher, unlabelled, 0.5, 2.0)
    assert torch.isfinite(loss)
    teacher_term = distillation_loss(student, teacher, unlabelled, 1.0, 2.0)
    assert loss.item() == pytest.approx(0.5 * teacher_term.item())


def test_the_options_are_checked():
    with pytest.raises(ValueError, match="needs a teacher"):
        DistillationArguments(distill_transfer_samples=10)
    with pytest.raises(ValueError, match=">= 0"):
        DistillationArguments(teacher="auto", distill_transfer_samples=-1)


def test_a_run_trains_on_the_transfer_set_and_records_it(tiny_base_model, tmp_path):
    from training import distillation
    from training.__main__ import main

    train_file = write_csv(tmp_path / "train.csv", labelled_rows(100, seed=5))
    run = tmp_path / "student"
    argv = train_argv(tiny_base_model, train_file, run, "--variant", "pfc", "--epochs", "1")
    argv += ["--max-train-samples", "20", "--teacher", "auto", "--distill-transfer-samples", "30"]
    assert main(argv) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["distillation"]["transfer_samples"] == 30
    split = json.loads((run / "split.json").read_text())
    assert len(split["documents"]["transfer"]) == 30 and len(split["documents"]["train"]) == 20
    teacher_split = json.loads((run / "teacher" / "split.json").read_text())
    assert "transfer" not in teacher_split["documents"]  # the teacher learns from labels alone
    assert teacher_split["split_fingerprint"] == split["split_fingerprint"]
    cached = np.load(run / distillation.LOGITS_FILE)
    assert cached.shape == (50, 3) and np.isfinite(cached).all()  # 20 labelled + 30 transfer


def test_multi_label_data_is_refused(tiny_base_model, tmp_path):
    from training.train import transfer_samples

    options = DistillationArguments(teacher="auto", distill_transfer_samples=5)
    with pytest.raises(ValueError, match="single-label"):
        transfer_samples(options, DataArguments(dataset="bbc-multi", multi_label=True))
    assert transfer_samples(options, DataArguments(dataset="bbc")) == 5
    assert transfer_samples(None, DataArguments(dataset="bbc")) == 0


# --- a transfer set from a file of unlabelled documents (--distill-transfer-file) ----------------


def write_jsonl(path, rows: list[dict]):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_unlabelled_documents_are_read_from_the_text_column_alone(tmp_path):
    texts = [row["text"] for row in labelled_rows(4, seed=11)]
    jsonl = write_jsonl(
        tmp_path / "pile.jsonl", [{"body": text, "id": i} for i, text in enumerate(texts)]
    )
    csv_rows = [{"body": text, "source": "crawl"} for text in texts]
    for path in (jsonl, write_csv(tmp_path / "pile.csv", csv_rows)):
        documents = read_unlabelled_documents(path, "body")
        assert [document.text for document in documents] == texts
        assert all(document.labels == () for document in documents)
        assert [document.row for document in documents] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"text": "fine"}, {"body": "no text column"}],
            r"pile.jsonl: row 2: missing column 'text'",
        ),
        ([{"text": "fine"}, {"text": "   "}], r"pile.jsonl: row 2: empty text in column 'text'"),
        ([{"text": 7}], r"pile.jsonl: row 1: text in column 'text' is .*not a string"),
        ([], r"pile.jsonl: no rows"),
    ],
)
def test_a_bad_unlabelled_file_is_an_error_naming_the_row(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        read_unlabelled_documents(write_jsonl(tmp_path / "pile.jsonl", rows), "text")


def test_file_documents_join_the_transfer_set_and_are_recorded(train_csv, tmp_path):
    splits = load_splits(DataArguments(train_file=str(train_csv), max_train_samples=20), 10)
    pile = write_jsonl(
        tmp_path / "pile.jsonl", [{"text": f"an unlabelled note {i}"} for i in range(5)]
    )
    joined = with_transfer_documents(splits, read_unlabelled_documents(pile, "text"), str(pile))
    assert len(joined.transfer) == 15 and joined.transfer[:10] == splits.transfer
    assert joined.fingerprint() == splits.fingerprint()
    record = joined.record()
    assert record["documents"]["transfer"][10:] == [f"{pile}:{row}" for row in range(1, 6)]
    assert record["transfer_file"] == str(pile) and record["transfer_file_documents"] == 5


def test_a_file_document_the_model_is_scored_on_is_refused(train_csv, tmp_path):
    splits = load_splits(DataArguments(train_file=str(train_csv), max_train_samples=20))
    scored = splits.test[3]
    leaked = "  " + scored.text.replace(" ", "\n", 1) + " "  # the same text up to whitespace
    pile = write_jsonl(tmp_path / "pile.jsonl", [{"text": "a new note"}, {"text": leaked}])
    with pytest.raises(
        DataError, match=rf"pile.jsonl: row 2: the same text as test document {scored.doc_id}"
    ):
        with_transfer_documents(splits, read_unlabelled_documents(pile, "text"), str(pile))


def test_the_file_option_needs_a_teacher_and_single_label_data():
    from training.train import transfer_samples

    with pytest.raises(ValueError, match="--distill-transfer-file needs a teacher"):
        DistillationArguments(distill_transfer_file="pile.jsonl")
    options = DistillationArguments(teacher="auto", distill_transfer_file="pile.jsonl")
    with pytest.raises(ValueError, match="--distill-transfer-file is for single-label"):
        transfer_samples(options, DataArguments(dataset="bbc-multi", multi_label=True))


def test_a_run_distils_on_a_file_of_unlabelled_documents(tiny_base_model, tmp_path):
    from training import distillation
    from training.__main__ import main

    train_file = write_csv(tmp_path / "train.csv", labelled_rows(60, seed=5))
    texts = [row["text"] for row in labelled_rows(12, seed=21)]
    pile = write_jsonl(tmp_path / "pile.jsonl", [{"text": text} for text in texts])
    run = tmp_path / "student"
    argv = train_argv(tiny_base_model, train_file, run, "--variant", "pfc", "--epochs", "1")
    argv += ["--max-train-samples", "20", "--teacher", "auto", "--distill-transfer-file", str(pile)]
    argv += ["--distill-transfer-samples", "5"]
    assert main(argv) == 0
    split = json.loads((run / "split.json").read_text())
    assert len(split["documents"]["transfer"]) == 17  # 5 from the training split, 12 from the file
    assert split["documents"]["transfer"][5:] == [f"{pile}:{row}" for row in range(1, 13)]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["distillation"]["transfer_file"] == str(pile)
    cached = np.load(run / distillation.LOGITS_FILE)
    assert cached.shape == (37, 3) and np.isfinite(cached).all()  # 20 labelled + 17 transfer
