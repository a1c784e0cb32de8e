"""Hand-made speed records shared by the frontier's tests (nothing is timed)."""

from __future__ import annotations

from benchmarks.accuracy_plan import CONFIGS, graph_of


def speed(ratios: dict[str, float | dict[int, float]]) -> dict:
    """A speed run as speed.json holds one: a ratio per configuration (the same at every length
    unless given), its graph's as the plan names it."""
    configs = {}
    for config, ratio in ratios.items():
        per_length = ratio if isinstance(ratio, dict) else dict.fromkeys((128, 256, 512), ratio)
        configs[config] = {
            "graph": graph_of(CONFIGS[config]).name,
            "lengths": {
                str(length): {
                    "speed_ratio": value,
                    "mac_ratio": value * 1.1,
                    "docs_per_s": 100 * value,
                    "median_ms": 80 / value,
                }
                for length, value in per_length.items()
            },
        }
    return {
        "command": "python benchmarks/frontier.py --measure-speed",
        "machine": "x86_64, 2 cores",
        "date": "2026-01-01T00:00:00+00:00",
        "onnxruntime": "1.0",
        "shape": "minilm",
        "precision": "int8",
        "batch": 8,
        "threads": 2,
        "rounds": 10,
        "warmup": 2,
        "baseline": "bert (ORT-optimized)",
        "graphs": "abc",
        "baseline_docs_per_s": {"128": 100.0, "256": 50.0, "512": 20.0},
        "configs": configs,
    }
