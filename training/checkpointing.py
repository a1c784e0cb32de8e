"""When a run evaluates and checkpoints, and how long it has trained across interruptions.

An epoch of a real data set at 512 tokens runs for hours on a CPU: checkpoints at epoch ends
alone would make a kill cost hours. `CheckpointTimer` adds an evaluation and a checkpoint
whenever `--save-minutes` of training have passed; `--save-steps` checkpoints on a step count
instead. Every checkpoint is scored on the validation split, so the kept (best) checkpoint is
chosen among all of them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

# The Trainer writes a checkpoint's state file after its weights, optimizer and RNG states.
CHECKPOINT_STATE_FILE = "trainer_state.json"


def last_complete_checkpoint(checkpoints_dir: Path) -> str | None:
    """The newest checkpoint the Trainer finished writing, or None. A run killed while saving
    leaves a newer checkpoint without its state file; resuming from it would fail, and the
    finished one before it loses at most the steps since."""
    steps = {}
    for path in checkpoints_dir.glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if suffix.isdigit() and (path / CHECKPOINT_STATE_FILE).is_file():
            steps[int(suffix)] = path
    return str(steps[max(steps)]) if steps else None


class TrainingClock(TrainerCallback):
    """Training time across interruptions: each checkpoint records the seconds spent up to it,
    and a resumed run starts its clock from there."""

    FILE = "training_time.json"

    def __init__(self, resumed_from: str | None):
        self.offset = 0.0
        if resumed_from and (Path(resumed_from) / self.FILE).is_file():
            self.offset = json.loads((Path(resumed_from) / self.FILE).read_text())["seconds"]
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return round(self.offset + time.perf_counter() - self.started, 2)

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            checkpoint.mkdir(parents=True, exist_ok=True)
            (checkpoint / self.FILE).write_text(json.dumps({"seconds": self.elapsed()}) + "\n")


class CheckpointTimer(TrainerCallback):
    """Evaluate and checkpoint once `minutes` of training have passed since the last checkpoint.

    Under `torchrun` the first process decides and the others follow (a broadcast), so every
    process evaluates at the same step.
    """

    def __init__(self, minutes: float):
        self.interval_s = minutes * 60.0
        self.last_save = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):
        self.last_save = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        due = time.monotonic() - self.last_save >= self.interval_s
        if _agreed_by_all(due) and not control.should_save:
            control.should_evaluate = True
            control.should_save = True
        return control

    def on_save(self, args, state, control, **kwargs):
        self.last_save = time.monotonic()


def _agreed_by_all(decision: bool) -> bool:
    """The first process's `decision`, in every process."""
    distributed = torch.distributed
    if not (distributed.is_available() and distributed.is_initialized()):
        return decision
    device = "cuda" if distributed.get_backend() == "nccl" else "cpu"
    flag = torch.tensor([int(decision)], device=device)
    distributed.broadcast(flag, src=0)
    return bool(flag.item())
