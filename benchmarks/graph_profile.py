"""Where an exported graph spends its time, per operator, before and after a change of the export.

Runs ONNX Runtime's own profiler (`SessionOptions.enable_profiling`) on two graphs of the same
model, at the same case and precision, and sums the kernel time of each operator type over the
runs (after one discarded run), beside the node count of the graph as the session runs it
(after ONNX Runtime's own graph optimizations). int8 graphs are made from each with training's
`write_int8`.

    # the graph this checkout exports (MiniLM-L6 shape, pfc, random weights, seed 0):
    python benchmarks/graph_profile.py --export after.onnx
    # the same from another commit, e.g. the export before the optimized graph:
    git worktree add ../before c07a434 && (cd ../before && python /path/to/graph_profile.py \\
        --export /tmp/before.onnx)
    python benchmarks/graph_profile.py --before /tmp/before.onnx --after after.onnx
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.model_speed import COMMON, SHAPES  # noqa: E402

SECTION = "graph_profile"


def export_default_shape(path: Path) -> None:
    """The default variant on the MiniLM-L6 shape, random weights (seed 0), exported by the
    checkout the working directory holds."""
    sys.path.insert(0, os.getcwd())
    import torch

    from model import CoreBertConfig, CoreBertForSequenceClassification
    from model.onnx_export import export_onnx

    torch.manual_seed(0)
    shape = {**SHAPES["minilm"], **COMMON}
    model = CoreBertForSequenceClassification(CoreBertConfig.for_variant("pfc", **shape))
    export_onnx(model.eval(), path)


def profile(path: Path, batch: int, length: int, runs: int, threads: int) -> tuple[dict, int]:
    """(kernel milliseconds per run by operator type, nodes in the session's graph)."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as scratch:
        options.profile_file_prefix = str(Path(scratch) / "profile")
        options.optimized_model_filepath = str(Path(scratch) / "optimized.onnx")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        nodes = len(onnx.load(options.optimized_model_filepath).graph.node)
        rng = np.random.default_rng(0)
        input_ids = rng.integers(1000, 29000, (batch, length)).astype(np.int64)
        feeds = {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}
        for _ in range(runs + 1):
            session.run(["logits"], feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: Counter[str] = Counter()
    runs_seen: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
            runs_seen[event["name"]] += 1
    total_runs = max(runs_seen.values())
    return {op: us / 1000 / total_runs for op, us in per_op.items()}, nodes


def render(results: dict[str, dict], args) -> str:
    import onnxruntime as ort

    ops = sorted(
        set().union(*(r["per_op"] for r in results.values())),
        key=lambda op: -max(r["per_op"].get(op, 0.0) for r in results.values()),
    )
    names = list(results)
    lines = [
        "## Where the graph's time goes: per-operator profile before and after",
        "",
        "Command:",
        "",
        "    " + " ".join(["python benchmarks/graph_profile.py", *sys.argv[1:]]),
        "",
        f"ONNX Runtime {ort.__version__} profiler, CPU, {args.threads} threads, batch "
        f"{args.batch} x {args.length} tokens, kernel time per run summed by operator type "
        f"(mean of {args.runs} runs after a discarded one). The default variant (pfc, combining "
        "at layer 6 of 6) on the MiniLM-L6 shape, random weights (seed 0). Nodes: the graph as "
        "the session runs it, after ONNX Runtime's own optimizations.",
        "",
        "| operator | " + " | ".join(f"{name} ms" for name in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for op in ops[: args.top]:
        cells = " | ".join(f"{results[n]['per_op'].get(op, 0.0):.2f}" for n in names)
        lines.append(f"| {op} | {cells} |")
    totals = " | ".join(f"**{sum(results[n]['per_op'].values()):.2f}**" for n in names)
    lines.append(f"| all operators | {totals} |")
    lines.append("| nodes | " + " | ".join(str(results[n]["nodes"]) for n in names) + " |")
    return "\n".join(lines) + "\n"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", type=Path, help="only write this checkout's graph there")
    parser.add_argument("--before", type=Path)
    parser.add_argument("--after", type=Path)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--top", type=int, default=16, help="operator types shown")
    parser.add_argument("--output", type=Path, default=ROOT / "docs/benchmarks.md")
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.export:
        export_default_shape(args.export)
        return
    from benchmarks.doc_sections import replace_section
    from training.precisions import write_int8

    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, path in (("before", args.before), ("after", args.after)):
            int8 = Path(scratch) / f"{label}.int8.onnx"
            write_int8(path, int8)
            for precision, graph in (("fp32", path), ("int8", int8)):
                per_op, nodes = profile(graph, args.batch, args.length, args.runs, args.threads)
                results[f"{label} {precision}"] = {"per_op": per_op, "nodes": nodes}
    report = render(results, args)
    print(report)
    if not args.no_write:
        replace_section(args.output, SECTION, report)


if __name__ == "__main__":
    main()
