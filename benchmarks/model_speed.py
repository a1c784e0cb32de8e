"""Inference speed and memory of the corebert variants against an equally optimized BERT.

Side by side in one run, at the same precision with the same optimizations, for two shapes:
MiniLM-L6 (the default backbone: 6 layers, hidden 384) and bert-base (12 layers, hidden 768),
random weights shared by every model of a shape (speed does not depend on the weights):

* baseline: `transformers.BertForSequenceClassification` exported with eager attention and fused
  by `onnxruntime.transformers.optimizer` (attention, skip-LayerNorm, bias-GELU, embedding
  LayerNorm), the standard recipe. int8: `quantize_dynamic` of that fused graph; fp16 (CUDA
  only): the optimizer's own float16 conversion.
* corebert `p`, `pf`, `pfc` (Lc = 7), `pfc` (Lc = 11) and the configuration
  deploy/build-default-model.sh trains (on MiniLM, the default model), exported by
  `model.onnx_export.export_onnx` (the optimized graph the artifact ships), int8 and fp16 made by
  training's own `write_int8` / `write_fp16`.

Every model runs each (batch, length) case in turn, round after round, so machine noise hits all
alike; warm-up rounds are discarded and medians reported, each as documents/s relative to the
baseline at the same precision. Beside each measured ratio: the ratio of multiply-accumulates
(BERT / corebert, from the key/value counts each layer really kept on these inputs), and the
graph efficiency = measured ratio / MAC ratio (1.0: the graph realizes all the method saves).
Peak memory (one case, default batch 8 x 512) is measured per model in a fresh subprocess.

    python benchmarks/model_speed.py                      # CPU: fp32 and int8, writes the docs
    python benchmarks/model_speed.py --device cuda        # GPU: fp16, batch 32 and 128 x 512
    python benchmarks/model_speed.py --shapes minilm --lengths 128 --batches 1 --rounds 3 \\
        --no-write                                        # a quick look
    python benchmarks/model_speed.py --keep-ratio 0.7 --no-write   # every variant at p = 0.7
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from artifact.files import DYNAMIC_AXES, ONNX_INPUT_NAMES, ONNX_OUTPUT_NAMES  # noqa: E402
from benchmarks.accuracy_plan import CONFIGS, graph_of  # noqa: E402
from benchmarks.default_recipe import shipped_config  # noqa: E402
from benchmarks.doc_sections import command_line, replace_section  # noqa: E402

SHAPES = {
    "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                   intermediate_size=1536),
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=3072),
}  # fmt: skip
COMMON = dict(max_position_embeddings=512, vocab_size=30522, num_labels=5)
# The accuracy report's configurations timed here (bert is the baseline, in its optimized form).
# The shipped default (MiniLM-L6, what deploy/build-default-model.sh trains) is always timed.
SHIPPED = graph_of(CONFIGS[shipped_config()])  # the graph: distillation changes only weights
TIMED_CONFIGS = tuple(
    dict.fromkeys((*(CONFIGS[key] for key in ("p", "pf", "pfc-lc7", "pfc-lc11")), SHIPPED))
)
DEFAULT_MODEL = ("minilm", SHIPPED.name)
BASELINE = "bert (ORT-optimized)"
LOGITS, KEPT = ONNX_OUTPUT_NAMES
PRECISIONS = {"cpu": ("fp32", "int8"), "cuda": ("fp16",)}
DEFAULT_CASES = {"cpu": ([1, 8], [128, 512]), "cuda": ([32, 128], [512])}
SECTION = {"cpu": "model_speed", "cuda": "model_speed_gpu"}


@dataclass(frozen=True)
class Case:
    batch: int
    length: int

    @property
    def label(self) -> str:
        return f"{self.batch} x {self.length}"


# --- multiply-accumulates -------------------------------------------------------------------


def layer_macs(queries: float, keys: float, hidden: int, ffn: int) -> float:
    """One BERT layer: Q and output projections and the FFN for every query, K/V projections
    for every key, and the two attention products (scores and context)."""
    return (
        queries * (2 * hidden * hidden + 2 * hidden * ffn)
        + 2 * keys * hidden * hidden
        + (2 * queries * keys * hidden)
    )


def bert_macs(shape: dict, length: int) -> float:
    hidden, ffn = shape["hidden_size"], shape["intermediate_size"]
    return shape["num_hidden_layers"] * layer_macs(length, length, hidden, ffn)


def corebert_macs(shape: dict, config, kept: list[float], length: int) -> float:
    """Layers before Lc: N + m queries over the kept keys + m; the combining module (K/V
    projections of the N tokens, m queries); the layers after it over the m tokens alone (with
    `insert_combiner`, layer Lc too).
    `kept` is the mean kept_kv_counts output (keys each layer attended to, 0 from Lc on)."""
    hidden, ffn = shape["hidden_size"], shape["intermediate_size"]
    m = config.num_combination_tokens if config.combine_layer else 0
    before = [count for count in kept if count > 0]
    frozen = getattr(config, "prune_queries", False)  # queries are then the kept tokens too
    total = sum(
        layer_macs((count if frozen else length) + m, count + m, hidden, ffn) for count in before
    )
    if config.combine_layer:
        total += 2 * length * hidden * hidden + 2 * m * hidden * hidden + 2 * m * length * hidden
        after = shape["num_hidden_layers"] - config.combine_layer + int(config.insert_combiner)
        total += after * layer_macs(m, m, hidden, ffn)
    return total


# --- models ---------------------------------------------------------------------------------


def model_file(workdir: Path, name: str, precision: str) -> Path:
    stem = name.replace(" ", "").replace("(", "_").replace(")", "").replace("=", "")
    suffix = "" if precision == "fp32" else f".{precision}"
    return workdir / f"{stem}{suffix}.onnx"


def with_frozen_twins(configs) -> tuple:
    """Each configuration followed by its twin built with prune_queries (`--prune-queries`)."""
    return tuple(twin for config in configs for twin in (config, replace(config, frozen=True)))


def build_models(
    workdir: Path, shape_name: str, precisions: tuple[str, ...], configs=TIMED_CONFIGS
) -> dict:
    """Export the baseline and the graph of each `Configuration` of one shape at every
    precision (cached by name), keyed by the configuration's name."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    workdir.mkdir(parents=True, exist_ok=True)
    drop_stale_graphs(workdir)
    shape = {**SHAPES[shape_name], **COMMON}
    weights = workdir / "weights"
    if not (weights / "config.json").exists():
        torch.manual_seed(0)
        config = BertConfig(**shape, attn_implementation="eager")
        BertForSequenceClassification(config).eval().save_pretrained(weights)
    models: dict[str, dict] = {BASELINE: {"config": None}}
    build_baseline(weights, workdir, shape, precisions)
    for config in configs:
        models[config.name] = {"config": build_variant(weights, workdir, shape, config, precisions)}
    for name in models:
        models[name]["paths"] = {p: model_file(workdir, name, p) for p in precisions}
    return models


GRAPH_SOURCES = ("model", "training/precisions.py")  # what an exported graph is made by
FINGERPRINT_FILE = "graphs.fingerprint"


def graph_fingerprint() -> str:
    """A hash of the code that exports the graphs and of the exporting packages' versions."""
    import onnx
    import onnxruntime
    import torch

    digest = hashlib.sha256(
        f"{torch.__version__} {onnx.__version__} {onnxruntime.__version__}".encode()
    )
    for source in GRAPH_SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def drop_stale_graphs(workdir: Path) -> None:
    """Graphs are cached by name; delete them when the code or packages that exported them
    changed since, so a timing never runs an old graph."""
    stamp = workdir / FINGERPRINT_FILE
    current = graph_fingerprint()
    if stamp.exists() and stamp.read_text().strip() == current:
        return
    for graph in workdir.glob("*.onnx*"):
        graph.unlink()
    stamp.write_text(current + "\n")


def build_variant(weights: Path, workdir: Path, shape: dict, config, precisions):
    """Export one `Configuration` (variant, Lc, keep ratio, m, frozen, proportional, skip) at every
    precision; its `CoreBertConfig` (the MAC count reads it)."""
    from model import CoreBertForSequenceClassification, map_paper_layer
    from model.onnx_export import export_onnx

    options: dict = {"prune_queries": config.frozen}
    if config.paper_layer is not None:
        options["combine_layer"] = map_paper_layer(config.paper_layer, shape["num_hidden_layers"])
        options["insert_combiner"] = config.inserted
        options["proportional_attention"] = config.proportional
        options["skip_pooling"] = config.skip
        if config.tokens is not None:
            options["num_combination_tokens"] = config.tokens
    if config.keep_ratio is not None:
        options["keep_ratio"] = config.keep_ratio
    variant = CoreBertForSequenceClassification.from_backbone(weights, config.variant, **options)
    fp32 = model_file(workdir, config.name, "fp32")
    if not fp32.exists():
        export_onnx(variant.eval(), fp32)
    write_precisions(fp32, workdir, config.name, precisions)
    return variant.config


def build_baseline(weights: Path, workdir: Path, shape: dict, precisions) -> None:
    import onnx
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.onnx_model import OnnxModel
    from transformers import BertForSequenceClassification

    fused = model_file(workdir, BASELINE, "fp32")
    if not fused.exists():
        raw = workdir / "bert_unfused.onnx"  # not `bert.onnx`: the bert configuration's graph
        model = BertForSequenceClassification.from_pretrained(weights, attn_implementation="eager")
        export_baseline(model.eval(), raw)
        optimized = optimizer.optimize_model(
            str(raw),
            model_type="bert",
            num_heads=shape["num_attention_heads"],
            hidden_size=shape["hidden_size"],
            opt_level=0,
        )
        stats = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        (workdir / "baseline_fusion.json").write_text(json.dumps(stats))
        optimized.save_model_to_file(str(fused))
    fp16 = model_file(workdir, BASELINE, "fp16")
    if "fp16" in precisions and not fp16.exists():
        half = OnnxModel(onnx.load(str(fused)))
        half.convert_float_to_float16(keep_io_types=True)  # the optimizer's own conversion
        half.save_model_to_file(str(fp16))
    int8 = model_file(workdir, BASELINE, "int8")
    if "int8" in precisions and not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # The fused graph's contrib operators defeat shape inference: say the tensors are float.
        quantize_dynamic(
            fused,
            int8,
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def write_precisions(fp32: Path, workdir: Path, name: str, precisions) -> None:
    from training.precisions import write_fp16, write_int8

    writers = {"int8": write_int8, "fp16": write_fp16}
    for precision in precisions:
        target = model_file(workdir, name, precision)
        if precision in writers and not target.exists():
            writers[precision](fp32, target)


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


# --- timing ---------------------------------------------------------------------------------


def create_timed_session(path: Path, threads: int, device: str, arena: bool = True):
    """A session with the service's options (`artifact.runtime.session_options`): idle threads
    sleep. With several sessions interleaved on few cores, ONNX Runtime's default (idle threads
    spin) lets one session's spinning threads slow the next session's run."""
    from artifact.runtime import create_session, session_options

    return create_session(path, device, session_options(threads, memory_arena=arena))


def make_inputs(case: Case, seed: int = 0) -> dict[str, np.ndarray]:
    """Full-length documents of random word-piece ids (no padding: every token is real)."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1000, 29000, (case.batch, case.length)).astype(np.int64)
    input_ids[:, 0] = 101  # [CLS]
    attention_mask = np.ones((case.batch, case.length), dtype=np.int64)
    return dict(zip(ONNX_INPUT_NAMES, (input_ids, attention_mask), strict=True))


class TimedRun:
    """One model's `run` on one case: plain `session.run` on CPU; on CUDA, IO binding with the
    inputs copied to the GPU once and the logits left there, so only the model is timed."""

    def __init__(self, session, feeds: dict[str, np.ndarray], device: str):
        self.session, self.feeds, self.device = session, feeds, device
        if device == "cuda":
            import onnxruntime as ort

            self.binding = session.io_binding()
            for name, array in feeds.items():
                self.binding.bind_ortvalue_input(
                    name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0)
                )
            self.binding.bind_output(LOGITS, "cuda")

    def __call__(self) -> float:
        start = time.perf_counter()
        if self.device == "cuda":
            self.session.run_with_iobinding(self.binding)
            self.binding.synchronize_outputs()
        else:
            self.session.run([LOGITS], self.feeds)
        return time.perf_counter() - start


def time_side_by_side(
    paths: dict[str, Path], case: Case, args
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per batch for each model, interleaved round by round (warm-up rounds dropped),
    and for each corebert graph the keys/values each layer kept on the timed inputs (batch
    mean; the baseline has no such output)."""
    feeds = make_inputs(case)
    runs = {
        name: TimedRun(create_timed_session(path, args.threads, args.device), feeds, args.device)
        for name, path in paths.items()
    }
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for round_index in range(args.warmup + args.rounds):
        for name, run in runs.items():
            elapsed = run()
            if round_index >= args.warmup:
                timings[name].append(elapsed)
    kept = {
        name: run.session.run([KEPT], feeds)[0].mean(axis=0).tolist()
        for name, run in runs.items()
        if KEPT in {output.name for output in run.session.get_outputs()}
    }
    return timings, kept


# --- memory ---------------------------------------------------------------------------------


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory(path: Path, case: Case, threads: int, device: str) -> dict[str, float]:
    """In this (fresh) process: the peak memory of inference.

    CPU: VmHWM is per address space, so it starts afresh in an exec'd child; writing 5 to
    clear_refs resets it after loading, so the peak is the inference peak (weights and
    activations). ONNX Runtime's arena is off and the parent fixes glibc's mmap threshold, so
    freed buffers go back to the system at once: live memory, not allocator caching.
    CUDA: the device memory the process holds after two runs (NVML; CUDA context included).
    """
    session = create_timed_session(path, threads, device, arena=device != "cpu")
    feeds = make_inputs(case)
    if device == "cuda":
        import pynvml

        run = TimedRun(session, feeds, device)
        for _ in range(2):
            run()
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        used = {p.pid: p.usedGpuMemory for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)}
        return {"peak_mib": used.get(os.getpid(), 0) / 2**20}
    Path("/proc/self/clear_refs").write_text("5")
    for _ in range(2):
        session.run([LOGITS], feeds)
    return {"peak_mib": _status_mib("VmHWM")}


def memory_in_subprocess(path: Path, case: Case, args) -> float:
    command = [
        sys.executable, __file__, "--memory-probe", str(path),
        "--batches", str(case.batch), "--lengths", str(case.length),
        "--threads", str(args.threads), "--device", args.device,
    ]  # fmt: skip
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    result = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mib"]


# --- one shape, one precision ---------------------------------------------------------------


def measure(shape_name: str, precision: str, models: dict, cases: list[Case], args) -> list[dict]:
    shape = SHAPES[shape_name]
    paths = {name: model["paths"][precision] for name, model in models.items()}
    rows = []
    for case in cases:
        timings, kept_counts = time_side_by_side(paths, case, args)
        base = statistics.median(timings[BASELINE])
        memory = {}
        if case == args.memory_case:
            memory = {name: memory_in_subprocess(path, case, args) for name, path in paths.items()}
        for name, values in timings.items():
            config = models[name]["config"]
            mac_ratio = 1.0
            if config is not None:
                kept = kept_counts[name]
                mac_ratio = bert_macs(shape, case.length) / corebert_macs(
                    shape, config, kept, case.length
                )
            median = statistics.median(values)
            row = {
                "shape": shape_name,
                "precision": precision,
                "model": name,
                "case": case.label,
                "median_ms": median * 1000,
                "docs_per_s": case.batch / median,
                "speedup": base / median,
                "mac_ratio": mac_ratio,
                "efficiency": (base / median) / mac_ratio,
            }
            if memory:
                row["peak_mib"] = memory[name]
                row["peak_ratio"] = memory[name] / memory[BASELINE]
            rows.append(row)
        latest = ", ".join(f"{r['model']} {r['speedup']:.2f}x" for r in rows[-len(timings) :])
        print(f"{shape_name} {precision} {case.label}: {latest}", flush=True)
    return rows


# --- report ---------------------------------------------------------------------------------


def render(rows: list[dict], fusion: dict, args, command: str, device: str) -> str:
    import onnxruntime as ort

    provider = "CUDA (IO binding)" if device == "cuda" else "CPU"
    lines = [
        "## Model speed: corebert vs an equally optimized BERT, same precision"
        + (" (GPU)" if device == "cuda" else ""),
        "",
        "Command:",
        "",
        "    " + command,
        "",
        f"{args.machine}. ONNX Runtime {ort.__version__}, {provider}, "
        f"{args.threads or 'default'} intra-op threads. Random weights shared by every model of "
        "a shape; full-length documents (no padding). Median of "
        f"{args.rounds} interleaved rounds after {args.warmup} warm-up round(s). Speed: "
        "documents/s relative to the baseline at the same precision. MAC ratio: BERT's "
        "multiply-accumulates / the variant's, from the keys/values each layer kept on these "
        "inputs. Efficiency: speed / MAC ratio. Peak: "
        + ("device memory the process holds (CUDA context included)" if device == "cuda" else
           "the process's peak resident memory during inference, arena off (live memory)")
        + f", at {args.memory_case.label} only.",
        "",
        "Baseline fused operators: "
        + "; ".join(f"{shape}: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.items()))
                    for shape, stats in fusion.items()) + ".",
        "",
        "| shape | precision | batch x tokens | model | ms | docs/s | speed vs bert | MAC ratio "
        "| efficiency | peak MiB (vs bert) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for row in rows:
        peak = f"{row['peak_mib']:.0f} ({row['peak_ratio']:.2f}x)" if "peak_mib" in row else ""
        name = row["model"] + (
            " = default" if (row["shape"], row["model"]) == DEFAULT_MODEL else ""
        )
        lines.append(
            f"| {row['shape']} | {row['precision']} | {row['case']} | {name} "
            f"| {row['median_ms']:.1f} | {row['docs_per_s']:.1f} | {row['speedup']:.2f}x "
            f"| {row['mac_ratio']:.2f} | {row['efficiency']:.2f} | {peak} |"
        )
    lines += ["", *target_lines(rows)]
    return "\n".join(lines) + "\n"


SPEED_TARGETS = [  # (shape, model, precision, case, minimum speed vs bert)
    ("bert-base", "pfc (Lc=7)", "int8", "8 x 512", 1.9),
    ("bert-base", "pfc (Lc=7)", "int8", "8 x 128", 1.7),
    # The shipped default: at least 1.4x int8 BERT at batch 8 x 128 (README, "Speed").
    (*DEFAULT_MODEL, "int8", "8 x 128", 1.4),
]
EFFICIENCY_TARGET = 0.85
PEAK_TARGET = 0.75


def target_lines(rows: list[dict]) -> list[str]:
    """Each target with its verdict; a target whose row is not in this run says so."""
    lines = []
    for shape, model, precision, case, minimum in SPEED_TARGETS:
        row = find_row(rows, shape, model, precision, case)
        if row is not None:
            verdict = "met" if row["speedup"] >= minimum else "not met"
            lines.append(f"- {shape} {model}, {precision}, {case}: **{row['speedup']:.2f}x** "
                         f"int8 BERT (target >= {minimum}x: {verdict}).")  # fmt: skip
    variants = [r for r in rows if r["model"] != BASELINE]
    if variants:
        low = [r for r in variants if r["efficiency"] < EFFICIENCY_TARGET]
        worst = min(variants, key=lambda r: r["efficiency"])
        lines.append(
            f"- Graph efficiency >= {EFFICIENCY_TARGET} everywhere: {len(variants) - len(low)} of "
            f"{len(variants)} rows; lowest {worst['efficiency']:.2f} ({worst['shape']} "
            f"{worst['model']}, {worst['precision']}, {worst['case']})."
        )
    for row in (r for r in variants if "peak_ratio" in r):
        verdict = "met" if row["peak_ratio"] <= PEAK_TARGET else "not met"
        lines.append(f"- Peak memory, {row['shape']} {row['model']}, {row['precision']}, "
                     f"{row['case']}: {row['peak_ratio']:.2f}x BERT's (target <= {PEAK_TARGET}x: "
                     f"{verdict}).")  # fmt: skip
    return lines


def find_row(rows: list[dict], shape: str, model: str, precision: str, case: str) -> dict | None:
    wanted = (shape, model, precision, case)
    return next((r for r in rows if (r["shape"], r["model"], r["precision"], r["case"]) == wanted),
                None)  # fmt: skip


# --- main -----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "int8", "fp16"])
    parser.add_argument("--batches", type=int, nargs="+")
    parser.add_argument("--lengths", type=int, nargs="+")
    parser.add_argument(
        "--memory-at", help="the one case memory is measured at (8x512; 32x512 on CUDA)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per case")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds per case")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/results/model_speed")
    parser.add_argument("--output", type=Path, default=ROOT / "docs/benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--prune-queries",
        action="store_true",
        help="also time each pruning variant with prune_queries (frozen pruned tokens)",
    )
    parser.add_argument(
        "--keep-ratio", type=float, help="p of every pruning variant (default: the paper's 0.9)"
    )
    parser.add_argument("--memory-probe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    batches, lengths = DEFAULT_CASES[args.device]
    args.batches = args.batches or batches
    args.lengths = args.lengths or lengths
    args.precisions = tuple(args.precisions or PRECISIONS[args.device])
    memory_at = args.memory_at or ("32x512" if args.device == "cuda" else "8x512")
    args.memory_case = Case(*(int(n) for n in memory_at.lower().split("x")))
    return args


def machine_description(device: str) -> str:
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    if device != "cuda":
        return cpu
    import pynvml

    pynvml.nvmlInit()
    name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
    return f"GPU: {name if isinstance(name, str) else name.decode()} ({cpu})"


def main() -> None:
    args = parse_args()
    if args.memory_probe:
        case = Case(args.batches[0], args.lengths[0])
        print(json.dumps(measure_memory(args.memory_probe, case, args.threads, args.device)))
        return
    args.machine = machine_description(args.device)
    cases = [Case(b, n) for n in args.lengths for b in args.batches]
    rows, fusion = [], {}
    configs = with_frozen_twins(TIMED_CONFIGS) if args.prune_queries else TIMED_CONFIGS
    if args.keep_ratio is not None:
        configs = tuple(replace(config, keep_ratio=args.keep_ratio) for config in configs)
    for shape_name in args.shapes:
        workdir = args.workdir / shape_name
        models = build_models(workdir, shape_name, args.precisions, configs)
        fusion[shape_name] = json.loads((workdir / "baseline_fusion.json").read_text())
        for precision in args.precisions:
            rows += measure(shape_name, precision, models, cases, args)
            (args.workdir / f"rows-{args.device}.json").write_text(json.dumps(rows, indent=1))
    command = command_line("benchmarks/model_speed.py")
    report = render(rows, fusion, args, command, args.device)
    print(report)
    if not args.no_write:
        replace_section(args.output, SECTION[args.device], report)


if __name__ == "__main__":
    main()
