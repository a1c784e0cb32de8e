"""An interruption costs minutes, not an epoch: step checkpoints, a kill -9, the same command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from benchmarks.harness import ROOT, wait_until
from tests.training.conftest import labelled_rows, train_argv, write_csv
from training.checkpointing import CheckpointTimer


def finished_checkpoints(checkpoints_dir) -> list[int]:
    """Steps of the checkpoints whose Trainer state is written (the last file a save writes)."""
    return sorted(
        int(path.parent.name.split("-")[1])
        for path in checkpoints_dir.glob("checkpoint-*/trainer_state.json")
    )


def test_a_run_killed_mid_epoch_resumes_and_takes_the_remaining_steps_only(
    tiny_base_model, tmp_path
):
    train_file = write_csv(tmp_path / "train.csv", labelled_rows(60, seed=5))
    run_dir = tmp_path / "run"
    argv = train_argv(tiny_base_model, train_file, run_dir, "--epochs", "1", "--batch-size", "2")
    command = [sys.executable, "-m", "training", *argv, "--save-steps", "4"]
    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: finished_checkpoints(run_dir / "checkpoints"), 240, "a checkpoint")
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    assert not (run_dir / "metrics.json").exists(), "the run ended before it could be killed"
    killed_at = max(finished_checkpoints(run_dir / "checkpoints"))

    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    training = json.loads((run_dir / "metrics.json").read_text())["training"]
    assert training["steps"] == 19  # 38 training documents, 2 a step, one epoch
    assert training["resumed_from"] == f"checkpoint-{killed_at}"
    assert 0 < training["resumed_at_step"] == killed_at < training["steps"]
    assert (run_dir / "artifact" / "metadata.json").is_file()


class FakeControl:
    should_evaluate = False
    should_save = False


def test_the_timer_asks_for_an_evaluated_checkpoint_once_its_minutes_have_passed():
    timer = CheckpointTimer(minutes=0.001)  # 60 ms
    control = FakeControl()
    timer.on_train_begin(None, None, control)
    timer.on_step_end(None, None, control)
    assert not control.should_save
    time.sleep(0.1)
    timer.on_step_end(None, None, control)
    assert control.should_save and control.should_evaluate
    control = FakeControl()
    timer.on_save(None, None, control)
    timer.on_step_end(None, None, control)
    assert not control.should_save


def test_a_checkpoint_whose_save_was_cut_short_is_not_resumed_from(tmp_path):
    from training.checkpointing import last_complete_checkpoint

    for step, complete in ((4, True), (8, True), (12, False)):
        checkpoint = tmp_path / f"checkpoint-{step}"
        checkpoint.mkdir()
        (checkpoint / "model.safetensors").write_bytes(b"weights")
        if complete:
            (checkpoint / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-tmp").mkdir()  # not a step: ignored
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-8")
    assert last_complete_checkpoint(tmp_path / "missing") is None
