"""The frontier's figure: one panel per dataset, int8 speed ratio against accuracy delta, the
Pareto-optimal configurations joined and the target region shaded (docs/img/frontier.png)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.accuracy_plan import DATASET_TITLES, PLAN, TARGET_POINTS, Settings
from benchmarks.accuracy_report import planned_records
from benchmarks.frontier import (
    BATCH,
    SPEED_TARGET,
    Point,
    dataset_points,
    pareto_optimal,
)


def plot_frontier(
    records: list[dict], speed: dict | None, path: Path, plan: dict[str, Settings] = PLAN
) -> None:
    """One panel per dataset of `plan`: speed ratio against delta, the Pareto-optimal points
    joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    planned = planned_records(records, plan)
    figure, axes = plt.subplots(1, len(plan), figsize=(6 * len(plan), 5.5), squeeze=False)
    for axis, dataset in zip(axes[0], plan, strict=True):
        points = dataset_points(dataset, planned, speed, plan)
        plot_panel(axis, dataset, points, plan[dataset].max_length)
    recipe = plan[next(iter(plan))].recipe
    figure.suptitle(f"Accuracy vs int8 speed (MiniLM-L6, CPU, --recipe {recipe}): "
                    "Pareto-optimal in red, target shaded")  # fmt: skip
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_panel(axis, dataset: str, points: dict[str, Point], length: int) -> None:
    optimal = pareto_optimal(points)
    axis.axhline(-TARGET_POINTS, color="grey", linestyle="--", linewidth=1)
    axis.axvline(SPEED_TARGET, color="grey", linestyle="--", linewidth=1)
    front = sorted((points[key] for key in optimal), key=lambda p: (p.speed_ratio, -p.delta))
    axis.plot([p.speed_ratio for p in front], [p.delta for p in front], color="tab:red", zorder=2)
    for key, point in points.items():
        color = "tab:red" if key in optimal else "tab:blue"
        axis.scatter(point.speed_ratio, point.delta, color=color, s=36, zorder=3)
    for point, offset in label_offsets(list(points.values())):
        axis.annotate(point.config, (point.speed_ratio, point.delta), xytext=offset,
                      textcoords="offset points", fontsize=8)  # fmt: skip
    axis.set_title(f"{DATASET_TITLES[dataset]} ({BATCH} x {length} tokens)")
    axis.set_xlabel("int8 documents/s vs int8 BERT")
    axis.set_ylabel("accuracy vs bert (points)")
    axis.grid(alpha=0.3)
    if not points:
        axis.text(0.5, 0.5, "not measured yet", ha="center", transform=axis.transAxes)
    show_target(axis, list(points.values()))


def show_target(axis, points: list[Point]) -> None:
    """Keep both target lines and bert's point in view, and shade the region meeting both."""
    ratios = [1.0, SPEED_TARGET, *(p.speed_ratio for p in points)]
    deltas = [0.0, -TARGET_POINTS, *(p.delta for p in points)]
    x_margin = 0.08 * (max(ratios) - min(ratios))
    y_margin = 0.08 * (max(deltas) - min(deltas))
    axis.set_xlim(min(ratios) - x_margin, max(ratios) + 2 * x_margin)
    axis.set_ylim(min(deltas) - y_margin, max(deltas) + 2 * y_margin)
    right, top = axis.get_xlim()[1], axis.get_ylim()[1]
    axis.fill_between([SPEED_TARGET, right], -TARGET_POINTS, top, color="tab:green", alpha=0.08,
                      label="target")  # fmt: skip


def label_offsets(points: list[Point]) -> list[tuple[Point, tuple[int, int]]]:
    """A label offset per point (in display points), stacking the labels of points that lie
    close together (e.g. p and pf, or a distilled configuration and its twin) downwards."""
    placed: list[Point] = []
    result = []
    for point in sorted(points, key=lambda p: (-p.delta, p.speed_ratio)):
        near = sum(
            abs(p.speed_ratio - point.speed_ratio) < 0.08 and abs(p.delta - point.delta) < 0.4
            for p in placed
        )
        placed.append(point)
        result.append((point, (5, 4 - 10 * near)))
    return result
