"""The frontier's speed record as the median over timing runs of the same graphs.

On a shared 2-core machine one run's ratio to int8 BERT moves by up to 0.2x from the next (the
same graphs timed three times on one day gave `pfc` with Lc = 7 1.73x, 1.63x and 1.54x at 8 x 128),
so one run is one draw. `--measure-speed` therefore adds its run to the runs already recorded
for the same graphs under the same settings, and the ratios the frontier, its rule and the
README read are each the median over those runs, with their range beside them. A run of other
graphs (the code that exports them changed: model_speed.graph_fingerprint) or other settings
starts the record afresh, since its ratios are of something else.

speed.json keeps the layout one run has (`configs` -> graph, `lengths` -> ratios), so readers
need not know how many runs stand behind a ratio; `runs` holds each run as it was measured.
"""

from __future__ import annotations

import statistics

# What must agree for two runs' ratios to be of the same thing.
SAME_SETTINGS = ("graphs", "onnxruntime", "shape", "precision", "batch", "threads", "rounds",
                 "warmup", "baseline")  # fmt: skip
# The per-length measurements a run records, each combined as the median over the runs.
MEASUREMENTS = ("speed_ratio", "mac_ratio", "docs_per_s", "median_ms")


def runs_of(record: dict | None) -> list[dict]:
    """The runs behind a speed record: its `runs`, or the record itself when it is one run."""
    if record is None:
        return []
    return record.get("runs") or [record]


def comparable(run: dict, other: dict) -> bool:
    """Both runs timed graphs made by the same code (their fingerprint), under the same
    settings."""
    return all(run.get(key) == other.get(key) for key in SAME_SETTINGS)


def with_run(record: dict | None, run: dict) -> tuple[dict, int]:
    """The record of `run` and of the earlier runs of `record` it can be combined with, and how
    many earlier runs were set aside (other graphs or settings)."""
    earlier = runs_of(record)
    kept = [previous for previous in earlier if comparable(previous, run)]
    return combined([*kept, run]), len(earlier) - len(kept)


def combined(runs: list[dict]) -> dict:
    """One record from runs of the same graphs: the latest run's settings, each measurement the
    median over the runs that timed its graph (a configuration added to the plan after the
    first runs has fewer), `speed_ratio_range` the lowest and highest of them and `runs` how
    many, and the runs."""
    latest = runs[-1]
    configs = {}
    for run in reversed(runs):  # the latest run's configurations first, then older ones
        for key, entry in run["configs"].items():
            if key in configs:
                continue
            holding = [r["configs"][key] for r in runs
                       if r["configs"].get(key, {}).get("graph") == entry["graph"]]  # fmt: skip
            lengths = {
                length: median_cell([held["lengths"][length] for held in holding])
                for length in entry["lengths"]
            }
            configs[key] = {"graph": entry["graph"], "lengths": lengths}
    baseline = {
        length: round(statistics.median(run["baseline_docs_per_s"][length] for run in runs), 2)
        for length in latest["baseline_docs_per_s"]
    }
    header = {key: value for key, value in latest.items() if key not in ("configs", "runs")}
    return {
        **header,
        "dates": [run["date"] for run in runs],
        "baseline_docs_per_s": baseline,
        "configs": configs,
        "runs": [strip(run) for run in runs],
    }


def median_cell(cells: list[dict]) -> dict:
    medians = {name: round(statistics.median(c[name] for c in cells), 4) for name in MEASUREMENTS}
    ratios = [cell["speed_ratio"] for cell in cells]
    return {**medians, "speed_ratio_range": [min(ratios), max(ratios)], "runs": len(cells)}


def strip(run: dict) -> dict:
    """A run as it was measured, without the combined fields a record adds."""
    return {key: value for key, value in run.items() if key not in ("runs", "dates")}
