"""The Trainer of a run: AdamW as the Trainer builds it, with the parameters the checkpoint did not
hold (classifier, combining module, combination tokens) at a larger learning rate, and the loss
against a teacher's logits when the training examples carry them (training/distillation.py)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import torch
from transformers import Trainer

from training.distillation import (
    DistillationArguments,
    HiddenStateTeacher,
    distillation_loss,
    hidden_state_loss,
    matched_layers,
    pooled_state_loss,
)

if TYPE_CHECKING:
    from model import CoreBertForSequenceClassification


def scale_new_parameters(
    groups: list[dict], new_parameters: Collection[torch.nn.Parameter], scale: float
) -> list[dict]:
    """Split each parameter group into pretrained and new parameters; the new ones' `lr` is
    multiplied by `scale` (the scheduler then scales both alike)."""
    new_ids = {id(parameter) for parameter in new_parameters}
    split = []
    for group in groups:
        for is_new in (False, True):
            params = [p for p in group["params"] if (id(p) in new_ids) == is_new]
            if params:
                lr = group["lr"] * (scale if is_new else 1.0)
                split.append({**group, "params": params, "lr": lr, "new_parameters": is_new})
    return split


class CoreBertTrainer(Trainer):
    """The HF Trainer, with `new_parameter_names` trained at `new_parameters_lr_scale` x lr."""

    model: CoreBertForSequenceClassification  # what training.train builds it with

    def __init__(
        self,
        *args,
        new_parameter_names: Collection[str] = (),
        new_parameters_lr_scale=1.0,
        distillation: DistillationArguments | None = None,
        hidden_teacher: HiddenStateTeacher | None = None,
        **kw,
    ):
        super().__init__(*args, **kw)
        self.new_parameter_names = frozenset(new_parameter_names)
        self.new_parameters_lr_scale = new_parameters_lr_scale
        self.distillation = distillation
        self.hidden_teacher = hidden_teacher

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The model's own loss, or with teacher logits in the batch (training examples only;
        validation keeps the plain loss, which picks the best checkpoint) the distillation
        loss."""
        teacher = inputs.pop("teacher_logits", None)
        if teacher is None or self.distillation is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        matching = self.hidden_teacher is not None  # built when a state term is on
        # The labels go to the distillation loss alone: a transfer-set example has none.
        labels = inputs.pop("labels")
        outputs = model(**inputs, output_hidden_states=matching)
        loss = distillation_loss(
            outputs.logits,
            teacher.to(outputs.logits.dtype),
            labels,
            self.distillation.distill_weight,
            self.distillation.distill_temperature,
            multi_label=self.model.config.problem_type == "multi_label_classification",
        )
        if matching:
            loss = loss + self.state_terms(inputs, outputs)
        return (loss, outputs) if return_outputs else loss

    def state_terms(self, inputs: dict, outputs) -> torch.Tensor:
        """The weighted hidden-state term (the student's layers before Lc against the
        teacher's) and pooled term (the vectors the classifiers read), from one teacher pass."""
        assert self.hidden_teacher is not None and self.distillation is not None
        teacher = self.hidden_teacher.states(inputs["input_ids"], inputs["attention_mask"])
        weights = self.distillation
        total = outputs.logits.new_zeros(())
        if weights.distill_hidden_weight > 0:
            config = self.model.config
            layers = matched_layers(
                config.num_hidden_layers, self.hidden_teacher.num_layers, config.num_pruning_layers
            )
            mask = inputs["attention_mask"].bool()
            total = total + weights.distill_hidden_weight * hidden_state_loss(
                outputs.hidden_states, teacher.hidden_states, mask, layers
            )
        if weights.distill_pooled_weight > 0:
            assert teacher.pooled_output is not None  # load_hidden_teacher checks the teacher
            total = total + weights.distill_pooled_weight * pooled_state_loss(
                outputs.pooled_output, teacher.pooled_output
            )
        return total

    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model)
        if self.new_parameters_lr_scale == 1.0 or not self.new_parameter_names:
            return optimizer
        named = dict((self.model if model is None else model).named_parameters())
        new = [named[name] for name in self.new_parameter_names if name in named]
        groups = scale_new_parameters(optimizer.param_groups, new, self.new_parameters_lr_scale)
        optimizer.param_groups.clear()  # nothing is stepped yet: regroup in place
        for group in groups:
            optimizer.add_param_group(group)
        return optimizer
