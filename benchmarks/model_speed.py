"""Inference speed and memory of the corebert variants against an optimized BERT, in ONNX Runtime.

Side by side in one run, bert-base shape (12 layers, hidden 768, 12 heads, FFN 3072), random
weights shared by every model (speed does not depend on the weights; see the note on `pf`
below), fp32, ONNX Runtime CPU with the same thread settings for all:

* baseline: `transformers.BertForSequenceClassification` exported to ONNX and optimized with
  `onnxruntime.transformers.optimizer` (model_type="bert"), so attention, skip-LayerNorm, bias-GELU
  and the embedding LayerNorm are fused; the fused-operator counts are printed and recorded.
* corebert `p`, `pf`, `pfc` (Lc = 7) and `pfc` (Lc = 11), loaded from the same weights and
  exported with `model.onnx_export.export_onnx`, as the service runs them.

Latency: every model runs each (batch, length) case in turn, round after round, so machine noise
hits all of them alike; the first `--warmup` rounds are discarded and medians are reported, with
each variant's documents/s as a ratio to the baseline's. Memory: each (model, case) runs in a
fresh subprocess; peak resident memory (ru_maxrss) is recorded after loading the session and
after inference, so both the whole-process peak and the inference working set are reported.

    python benchmarks/model_speed.py                       # full run, writes docs/benchmarks.md
    python benchmarks/model_speed.py --lengths 128 --batches 1 --rounds 3 --no-write   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from artifact.files import DYNAMIC_AXES, ONNX_INPUT_NAMES, ONNX_OUTPUT_NAMES  # noqa: E402
from benchmarks.accuracy_plan import CONFIGS  # noqa: E402
from benchmarks.doc_sections import command_line, replace_section  # noqa: E402

BERT_BASE = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    vocab_size=30522,
    num_labels=5,
)
# The accuracy report's configurations timed here (bert is the baseline, in its optimized form).
TIMED_CONFIGS = tuple(CONFIGS[key] for key in ("p", "pf", "pfc-lc7", "pfc-lc11"))
BASELINE = "bert (ORT-optimized)"
LOGITS = ONNX_OUTPUT_NAMES[0]  # the one output every graph here has (the baseline has no other)
SECTION = "model_speed"


@dataclass
class Case:
    batch: int
    length: int

    @property
    def label(self) -> str:
        return f"batch {self.batch} x {self.length} tokens"


def create_timed_session(path: Path, threads: int, arena: bool = True):
    """A CPU session with the shared options (`artifact.runtime.session_options`), except that
    idle threads spin, ONNX Runtime's default: a timed run pays no thread wake-up."""
    from artifact.runtime import create_session, session_options

    options = session_options(threads, allow_spinning=True, memory_arena=arena)
    return create_session(path, "cpu", options)


def make_inputs(case: Case, seed: int = 0) -> dict[str, np.ndarray]:
    """Full-length documents of random word-piece ids (no padding: every token is real)."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1000, 29000, (case.batch, case.length)).astype(np.int64)
    attention_mask = np.ones((case.batch, case.length), dtype=np.int64)
    return dict(zip(ONNX_INPUT_NAMES, (input_ids, attention_mask), strict=True))


def build_models(workdir: Path) -> tuple[dict[str, Path], dict[str, int]]:
    """Export the baseline and the variants once (cached in `workdir`)."""
    import torch
    from onnxruntime.transformers import optimizer
    from transformers import BertConfig, BertForSequenceClassification

    from model import CoreBertForSequenceClassification, map_paper_layer
    from model.onnx_export import export_onnx

    workdir.mkdir(parents=True, exist_ok=True)
    weights = workdir / "bert-base-random"
    paths = {BASELINE: workdir / "bert_optimized.onnx"}
    stats_file = workdir / "baseline_fusion.json"
    if not (weights / "config.json").exists():
        torch.manual_seed(0)
        config = BertConfig(**BERT_BASE, attn_implementation="eager")
        BertForSequenceClassification(config).eval().save_pretrained(weights)
    if not paths[BASELINE].exists():
        baseline = BertForSequenceClassification.from_pretrained(
            weights, attn_implementation="eager"
        )
        raw = workdir / "bert.onnx"
        export_baseline(baseline.eval(), raw)
        optimized = optimizer.optimize_model(
            str(raw), model_type="bert", num_heads=12, hidden_size=768, opt_level=0
        )
        stats = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        stats_file.write_text(json.dumps(stats))
        optimized.save_model_to_file(str(paths[BASELINE]))
    for config in TIMED_CONFIGS:
        name = config.name
        path = workdir / f"corebert_{name.replace(' ', '').replace('(', '_').strip(')')}.onnx"
        paths[name] = path
        if not path.exists():
            layer = {}
            if config.paper_layer is not None:  # bert-base has the paper's 12 layers
                layer = {"combine_layer": map_paper_layer(config.paper_layer, 12)}
            variant = CoreBertForSequenceClassification.from_backbone(
                weights, config.variant, **layer
            )
            export_onnx(variant.eval(), path)
    return paths, json.loads(stats_file.read_text())


def export_baseline(model, path: Path) -> None:
    """The export a careful user does: eager attention, so ORT's optimizer fuses it."""
    import torch

    ids = torch.randint(1000, 2000, (2, 16))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            dynamo=False,
            input_names=list(ONNX_INPUT_NAMES),
            output_names=[LOGITS],
            dynamic_axes={name: DYNAMIC_AXES[name] for name in (*ONNX_INPUT_NAMES, LOGITS)},
            opset_version=17,
        )


def time_side_by_side(
    paths: dict[str, Path], case: Case, threads: int, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per batch for each model, interleaved round by round; warm-up rounds dropped."""
    sessions = {name: create_timed_session(path, threads) for name, path in paths.items()}
    feeds = make_inputs(case)
    timings: dict[str, list[float]] = {name: [] for name in sessions}
    for round_index in range(warmup + rounds):
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run([LOGITS], feeds)
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                timings[name].append(elapsed)
    return timings


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory(path: Path, case: Case, threads: int) -> dict[str, float]:
    """In this (fresh) process: resident MiB after loading, and the peak during inference.

    VmHWM is per address space, so unlike ru_maxrss it starts afresh in an exec'd child; writing
    5 to clear_refs resets it after loading, so the peak below is the inference peak (weights
    and activations together) and not a transient of session creation. To measure what the
    model needs rather than what an allocator keeps cached, ONNX Runtime's arena is off and the
    parent sets glibc's mmap threshold, so large freed buffers go back to the system at once.
    """
    session = create_timed_session(path, threads, arena=False)
    loaded = _status_mib("VmRSS")
    load_peak = _status_mib("VmHWM")
    Path("/proc/self/clear_refs").write_text("5")
    feeds = make_inputs(case)
    for _ in range(2):
        session.run([LOGITS], feeds)
    peak = _status_mib("VmHWM")
    return {
        "rss_loaded_mib": loaded,
        "load_peak_mib": load_peak,
        "peak_mib": peak,
        "inference_working_mib": max(peak - loaded, 0.0),
    }


def memory_in_subprocess(path: Path, case: Case, threads: int) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--memory-probe",
        str(path),
        "--batches",
        str(case.batch),
        "--lengths",
        str(case.length),
        "--threads",
        str(threads),
    ]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    result = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarize(timings: dict[str, list[float]], memory: dict[str, dict], case: Case) -> list[dict]:
    base_median = statistics.median(timings[BASELINE])
    base_memory = memory[BASELINE]
    rows = []
    for name, values in timings.items():
        median = statistics.median(values)
        rows.append(
            {
                "model": name,
                "case": case.label,
                "median_ms": median * 1000,
                "docs_per_s": case.batch / median,
                "speedup": base_median / median,
                "peak_mib": memory[name]["peak_mib"],
                "peak_ratio": memory[name]["peak_mib"] / base_memory["peak_mib"],
                "working_mib": memory[name]["inference_working_mib"],
                "working_ratio": memory[name]["inference_working_mib"]
                / max(base_memory["inference_working_mib"], 1e-9),
            }
        )
    return rows


def render(rows: list[dict], fusion: dict[str, int], args: argparse.Namespace, command: str) -> str:
    import onnxruntime as ort

    lines = [
        "## Model speed: corebert variants vs an ONNX Runtime-optimized BERT",
        "",
        "Command:",
        "",
        "    " + command,
        "",
        f"bert-base shape (12 layers, hidden 768), random weights shared by all models, fp32, "
        f"ONNX Runtime {ort.__version__} CPU, {args.threads} intra-op threads, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores. "
        f"Full-length documents (no padding). Median of {args.rounds} interleaved rounds after "
        f"{args.warmup} warm-up round(s). Peak = the process's peak resident memory during "
        "inference (weights and activations); working = that peak minus the resident memory "
        "after loading the session (activations and scratch); each model in a fresh process, "
        "with ONNX Runtime's memory arena off and glibc's mmap threshold fixed, so the figures "
        "are live memory, not allocator caching.",
        "",
        f"Baseline fused operators: {', '.join(f'{k} {v}' for k, v in sorted(fusion.items()))}.",
        "",
        "| case | model | median latency (ms) | docs/s | speed vs bert | peak MiB | peak vs bert "
        "| working MiB | working vs bert |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['case']} | {row['model']} | {row['median_ms']:.1f} | {row['docs_per_s']:.2f} "
            f"| {row['speedup']:.2f}x | {row['peak_mib']:.0f} | {row['peak_ratio']:.2f}x "
            f"| {row['working_mib']:.0f} | {row['working_ratio']:.2f}x |"
        )
    lines.extend(["", *target_lines(rows)])
    return "\n".join(lines) + "\n"


TARGET_MODEL, TARGET_CASE = "pfc (Lc=7)", Case(8, 512).label


def target_lines(rows: list[dict]) -> list[str]:
    """The issue's target: pfc (Lc=7), batch 8 x 512: >= 1.5x docs/s, <= 0.75x peak memory."""
    row = next((r for r in rows if r["model"] == TARGET_MODEL and r["case"] == TARGET_CASE), None)
    if row is None:
        return [f"Target case ({TARGET_MODEL}, {TARGET_CASE}) not in this run."]
    speed_met = "met" if row["speedup"] >= 1.5 else "not met"
    memory_met = "met" if row["peak_ratio"] <= 0.75 else "not met"
    return [
        f"- {TARGET_MODEL}, {TARGET_CASE}: **{row['speedup']:.2f}x** the baseline's documents/s "
        f"(target >= 1.5x: {speed_met}); peak memory **{row['peak_ratio']:.2f}x** (target <= "
        f"0.75x: {memory_met}), working memory {row['working_ratio']:.2f}x.",
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per case")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds per case")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/results/model_speed")
    parser.add_argument("--output", type=Path, default=ROOT / "docs/benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from the last run's rows"
    )
    parser.add_argument("--memory-probe", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.memory_probe:
        case = Case(args.batches[0], args.lengths[0])
        print(json.dumps(measure_memory(args.memory_probe, case, args.threads)))
        return
    if args.report_only:
        rows = json.loads((args.workdir / "rows.json").read_text())
        fusion = json.loads((args.workdir / "baseline_fusion.json").read_text())
        command = (args.workdir / "command.txt").read_text()
        replace_section(args.output, SECTION, render(rows, fusion, args, command))
        return
    from tqdm import tqdm

    paths, fusion = build_models(args.workdir)
    print("baseline fused operators:", fusion)
    cases = [Case(b, n) for n in args.lengths for b in args.batches]
    rows = []
    for case in tqdm(cases, desc="cases"):
        timings = time_side_by_side(paths, case, args.threads, args.rounds, args.warmup)
        memory = {
            name: memory_in_subprocess(path, case, args.threads) for name, path in paths.items()
        }
        rows.extend(summarize(timings, memory, case))
        (args.workdir / "rows.json").write_text(json.dumps(rows, indent=1))
    command = command_line("benchmarks/model_speed.py")
    (args.workdir / "command.txt").write_text(command)
    report = render(rows, fusion, args, command=command)
    print(report)
    if not args.no_write:
        replace_section(args.output, SECTION, report)


if __name__ == "__main__":
    main()
