"""The frontier's speed record as the median over runs, from hand-made runs (nothing is timed)."""

from __future__ import annotations

from benchmarks.frontier import readme_speed_table, speed_of, timing_summary
from benchmarks.speed_runs import runs_of, with_run
from tests.benchmarks.conftest import speed


def run(ratios: dict[str, float], date: str = "2026-01-01T00:00:00+00:00", **settings) -> dict:
    """One speed run, the same ratio at every length, taken on `date` with `settings` changed."""
    return speed(dict(ratios)) | {"date": date} | settings


def recorded(*runs: dict) -> tuple[dict, int]:
    record, set_aside = None, 0
    for each in runs:
        record, aside = with_run(record, each)
        set_aside += aside
    assert record is not None
    return record, set_aside


def test_each_ratio_is_the_median_over_the_runs_with_their_range():
    record, set_aside = recorded(
        run({"pfc-lc7": 1.73}, "2026-01-01T00:00:00+00:00"),
        run({"pfc-lc7": 1.54}, "2026-01-02T00:00:00+00:00"),
        run({"pfc-lc7": 1.63}, "2026-01-03T00:00:00+00:00"),
    )
    assert set_aside == 0
    cell = speed_of(record, "pfc-lc7", 128)
    assert cell is not None
    assert cell["speed_ratio"] == 1.63 and cell["speed_ratio_range"] == [1.54, 1.73]
    assert cell["runs"] == 3 and cell["docs_per_s"] == 163.0
    assert record["date"] == "2026-01-03T00:00:00+00:00"  # the latest run's
    assert [r["date"][:10] for r in runs_of(record)] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert "the median over 3 runs (2026-01-01, 2026-01-02, 2026-01-03)" in timing_summary(record)


def test_a_run_of_other_graphs_or_settings_starts_the_record_afresh():
    record, _ = recorded(run({"pfc-lc7": 1.7}), run({"pfc-lc7": 1.6}))
    changed, set_aside = with_run(record, run({"pfc-lc7": 1.2}, graphs="def"))
    assert set_aside == 2 and len(runs_of(changed)) == 1
    assert changed["configs"]["pfc-lc7"]["lengths"]["128"]["speed_ratio"] == 1.2
    _, set_aside = with_run(record, run({"pfc-lc7": 1.2}, rounds=20))
    assert set_aside == 2


def test_a_configuration_one_run_lacks_is_the_median_of_the_runs_that_timed_it():
    record, set_aside = recorded(run({"bert": 1.0}), run({"bert": 1.2, "p": 1.1}))
    assert set_aside == 0
    assert speed_of(record, "p", 256) == {"speed_ratio": 1.1, "mac_ratio": 1.21,
                                         "docs_per_s": 110.0, "median_ms": 72.7273,
                                         "speed_ratio_range": [1.1, 1.1], "runs": 1}  # fmt: skip
    bert = speed_of(record, "bert", 256)
    assert bert is not None and bert["speed_ratio"] == 1.1 and bert["runs"] == 2


def test_one_run_as_the_record_once_was_is_a_run_of_its_own():
    single = run({"pfc-lc7": 1.7})
    assert runs_of(single) == [single] and runs_of(None) == []
    assert timing_summary(single) == (
        "2026-01-01, median of 10 interleaved rounds after 2 warm-up round(s)"
    )
    row = readme_speed_table(single).splitlines()[2]
    assert row.split(" | ")[1:4] == ["**1.70x**"] * 3  # no range: one run


def test_the_readme_table_gives_the_median_and_the_runs_range():
    record, _ = recorded(run({"bert": 1.0, "pfc-lc7": 1.5}), run({"bert": 1.1, "pfc-lc7": 1.4}),
                         run({"bert": 1.0, "pfc-lc7": 1.6}))  # fmt: skip
    lines = readme_speed_table(record).splitlines()
    row = next(line for line in lines if line.startswith("| `pfc`, Lc = 7"))
    assert row.split(" | ")[1] == "**1.50x** (1.40-1.60)"
    assert "in brackets the lowest and highest run" in lines[-1]
