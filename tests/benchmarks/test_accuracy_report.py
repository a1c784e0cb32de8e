"""The accuracy report's summary table and verdicts, rendered from hand-made records."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

from benchmarks.accuracy_plan import CONFIGS, DEFAULT_RECIPE_PLAN, PLAN, Piece, graph_of
from benchmarks.accuracy_report import (
    default_recipe_plan,
    device_check,
    fuzzy_cap_note,
    other_measurements,
    planned_records,
    readme_table,
    seed_repeats,
    variant_label,
    verdicts,
    wall_times,
)
from benchmarks.doc_sections import replace_section


def record(dataset: str, config: str, accuracy: float, **changes) -> dict:
    """A record as benchmarks/accuracy.py writes it, with the fields the report reads."""
    settings = replace(PLAN[dataset], **changes)
    return {
        "dataset": dataset,
        "config": config,
        "settings": asdict(settings),
        "accuracy": accuracy,
        "mean_kept_kv_counts": [100.0, 90.0, 81.0],
        "validation": {"loss": 0.25},
    }


def table_rows(table: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split(" | ") for line in table.splitlines()[2:]]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows}


def test_readme_table_gives_points_against_bert_and_bolds_misses():
    records = [
        record("bbc", "bert", 0.987),
        record("bbc", "pf", 0.984),  # -0.3: within the 0.5-point target
        record("bbc", "pfc-lc7", 0.970),  # -1.7: a miss
        record("imdb", "pfc-lc11", 0.86),  # no baseline on IMDB yet
    ]
    rows = table_rows(readme_table(records))
    assert rows["`bert`"][0] == "98.7"
    assert rows["`pf`"][0] == "98.4 (-0.3)"
    assert rows["`pfc`, Lc = 7"][0] == "**97.0 (-1.7)**"
    assert rows["`pfc`, Lc = 11"] == ["not measured yet", "86.0", "not measured yet"]
    assert rows["`c`, Lc = 11"] == ["not measured yet"] * 3
    assert list(rows) == [
        "`bert`",
        "`p`",
        "`pf`",
        "`c`, Lc = 11",
        "`pfc`, Lc = 11",
        "`pfc`, Lc = 11, frozen pruned tokens",
        "`pfc`, Lc = 9",
        "`pfc`, Lc = 9, distilled from `bert`",
        "`pfc`, Lc = 9, distilled from `bert`, frozen pruned tokens",
        "`pfc`, Lc = 7",
        "`pfc`, Lc = 7, distilled from `bert`",
        "`pfc`, Lc = 7, distilled from `bert`, frozen pruned tokens",
        "`pfc`, Lc = 7, p = 0.7",
        "`pfc`, Lc = 7, distilled from `bert` with its hidden states",
        "`pfc`, Lc = 7, combiner inserted before the layer",
        "`pfc`, Lc = 7, m = 16",
        "`pfc`, Lc = 7, m = 32",
        "`pfc`, Lc = 7, distilled from `bert` with its pooled vector",
        "`pfc`, Lc = 7, distilled from `bert` with its hidden states and its pooled vector",
        "`pfc`, Lc = 7, proportional attention",
        "`pfc`, Lc = 7, skip pooling",
        "`pfc`, Lc = 7, distilled from `bert` on 3x more unlabelled documents",
        "`bert`, distilled from `bert` on 3x more unlabelled documents",
        "`pfc`, Lc = 7, distilled from `bert` on 7000 more unlabelled documents",
        "`pfc`, Lc = 7, distilled from `bert` with its hidden states on 3x more unlabelled "
        "documents",
        "`pfc`, Lc = 7, distilled from `bert` (itself distilled on them) on 3x more unlabelled "
        "documents",
        "`c`, Lc = 7, distilled from `bert` (itself distilled on them) on 3x more unlabelled "
        "documents",
        "`pfc`, Lc = 7, distilled from `bert` (itself distilled on them) on 3x more unlabelled "
        "documents, 4 epochs",
        "`c`, Lc = 7, distilled from `bert` (itself distilled on them) on 3x more unlabelled "
        "documents, 4 epochs",
        "`pfc`, Lc = 5, distilled from `bert` (itself distilled on them) on 3x more unlabelled "
        "documents, 4 epochs",
    ]


def test_readme_table_leaves_out_records_measured_under_other_settings():
    records = [record("bbc", "bert", 0.987), record("bbc", "p", 0.5, learning_rate=2e-5)]
    rows = table_rows(readme_table(records))
    assert rows["`p`"][0] == "not measured yet"


def test_readme_table_headings_state_sizes_and_lengths():
    heading = readme_table([]).splitlines()[0]
    imdb = PLAN["imdb"]
    assert "BBC News (all, 512 tokens)" in heading
    assert (
        f"IMDB ({imdb.max_train_samples} training documents, {imdb.max_length} tokens)" in heading
    )


def test_verdicts_name_each_miss_and_its_size():
    planned = planned_records(
        [record("bbc", "bert", 0.90), record("bbc", "pf", 0.896), record("bbc", "pfc-lc7", 0.88)]
    )
    lines = verdicts(planned, [])
    assert "- pf on BBC News: -0.4 points vs bert: matches the baseline." in lines
    assert (
        "- pfc (Lc=7) on BBC News: -2.0 points vs bert: **misses** the target by 1.5 points."
        in lines
    )
    assert "- pfc (Lc=11) on BBC News: not measured yet." in lines


def on_gpu(row: dict) -> dict:
    return {**row, "machine": {"device": "GPU X"}}


def test_a_row_trained_on_another_device_is_also_judged_against_bert_trained_there():
    planned = planned_records([record("bbc", "bert", 0.987), on_gpu(record("bbc", "pf", 0.98))])
    checks = [on_gpu(record("bbc", "bert", 0.978))]
    (line,) = [line for line in verdicts(planned, checks) if line.startswith("- pf on BBC")]
    assert line == (
        "- pf on BBC News: -0.7 points vs bert: **misses** the target by 0.2 points; "
        "+0.2 vs bert trained on the same GPU X: within the target."
    )
    (alone,) = [line for line in verdicts(planned, []) if line.startswith("- pf on BBC")]
    assert alone.endswith("(bert trained on cpu, this row on GPU X).")


def test_device_check_table_sets_each_rerun_beside_the_reports_row():
    planned = planned_records([record("bbc", "bert", 0.987), record("bbc", "pf", 0.989)])
    checks = [
        {**on_gpu(record("bbc", "bert", 0.98)), "macro_f1": 0.97},
        {**on_gpu(record("bbc", "pf", 0.984)), "macro_f1": 0.983},
    ]
    bert_row, pf_row = device_check(planned, checks)[-3:-1]
    assert bert_row == "| BBC News | bert | GPU X | 98.0 | 97.0 | +0.0 | 98.7 (cpu) |"
    assert pf_row == "| BBC News | pf | GPU X | 98.4 | 98.3 | +0.4 | 98.9 (cpu) |"
    assert device_check(planned, []) == []


def test_fuzzy_cap_note_only_when_p_and_pf_trained_the_same_model():
    ratio = record("imdb", "p", 0.86)
    assert fuzzy_cap_note(ratio, record("imdb", "pf", 0.86)) != []
    fewer_kept = {**record("imdb", "pf", 0.86), "mean_kept_kv_counts": [100.0, 80.0, 70.0]}
    assert fuzzy_cap_note(ratio, fewer_kept) == []
    other_loss = {**record("imdb", "pf", 0.86), "validation": {"loss": 0.26}}
    assert fuzzy_cap_note(ratio, other_loss) == []
    assert fuzzy_cap_note(ratio, None) == []


def test_wall_times_say_when_a_resumed_piece_left_its_first_sitting_untimed():
    straight = {**record("imdb", "bert", 0.85), "wall_time_s": 600.0, "resumed_from": None}
    resumed = {
        **record("imdb", "pfc-lc7", 0.85),
        "wall_time_s": 300.0,
        "resumed_from": "checkpoint-9",
    }
    whole = wall_times({("imdb", "bert"): straight})
    assert f"IMDB 10 min for 1 of {len(CONFIGS)}" in whole and "resumed" not in whole
    partial = wall_times({("imdb", "bert"): straight, ("imdb", "pfc-lc7"): resumed})
    assert "IMDB at least 15 min (pfc (Lc=7) resumed" in partial
    assert wall_times({}) == ""


def test_replace_section_rewrites_only_its_own_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n<!-- table:start -->\nold\n<!-- table:end -->\n\nprose kept\n")
    replace_section(readme, "table", "new row 1\nnew row 2")
    assert readme.read_text() == (
        "# Title\n\n<!-- table:start -->\nnew row 1\nnew row 2\n<!-- table:end -->\n\nprose kept\n"
    )
    replace_section(readme, "other", "appended")
    assert readme.read_text().endswith("<!-- other:start -->\nappended\n<!-- other:end -->\n")


def test_a_distilled_piece_learns_from_the_bert_piece_of_its_dataset(tmp_path):
    piece = Piece("imdb", "pfc-lc7-kd", PLAN["imdb"])
    command = piece.command(tmp_path / "runs" / piece.key)
    teacher = Path(command[command.index("--distill-from") + 1])
    assert teacher == tmp_path / "runs" / Piece("imdb", "bert", PLAN["imdb"]).key
    plain = Piece("imdb", "pfc-lc7", PLAN["imdb"]).command(tmp_path / "runs" / "x")
    assert "--distill-from" not in plain


def test_a_configuration_with_its_own_epochs_trains_longer_than_its_teachers(tmp_path):
    settings = DEFAULT_RECIPE_PLAN["imdb"]
    student = Piece("imdb", "pfc-lc7-kd-transfer-from-kd-e4", settings)
    command = student.command(tmp_path / "runs" / student.key)
    assert command.count("--epochs") == 1 and command[command.index("--epochs") + 1] == "4.0"
    teacher = student.teacher
    assert teacher is not None and teacher.config == "bert-kd-transfer"
    teacher_command = teacher.command(tmp_path / "runs" / teacher.key)
    assert teacher_command[teacher_command.index("--epochs") + 1] == str(settings.epochs)
    assert student.planned and student.settings == settings  # the record stays in its plan
    assert graph_of(CONFIGS[student.config]) == CONFIGS["pfc-lc7"]
    assert CONFIGS[student.config].name.endswith("(4 epochs)")
    assert variant_label(CONFIGS[student.config]).endswith(", 4 epochs")


def test_seed_repeats_set_each_seed_beside_bert_of_the_same_seed():
    records = [
        record("20ng", "bert", 0.695),
        record("20ng", "pfc-lc7", 0.683),
        record("20ng", "bert", 0.690, seed=43),
        record("20ng", "pfc-lc7", 0.692, seed=43),
        record("20ng", "pf", 0.70, learning_rate=5e-5),  # another setting, not a repeat
    ]
    lines = seed_repeats(records)
    rows = {line.split(" | ")[2]: line for line in lines if line.startswith("| paper-recipe")}
    assert set(rows) == {"bert", "pfc (Lc=7)"}
    assert "seed 42: 68.3 (-1.2); seed 43: 69.2 (+0.2) | 0.9 | -0.5 (2) |" in rows["pfc (Lc=7)"]
    assert "seed 42: 69.5; seed 43: 69.0 | 0.5 | – |" in rows["bert"]
    assert seed_repeats(records[:2]) == []


def test_seed_repeats_of_each_plan_are_set_beside_that_plans_bert():
    fair = {"recipe": "default", "max_length": 128}
    records = [
        record("bbc", "bert", 0.98, **fair),
        record("bbc", "c-lc11", 0.97, **fair),
        record("bbc", "bert", 0.90),  # the paper-recipe plan's bert: not this repeat's baseline
        record("bbc", "bert", 0.96, seed=43, **fair),
        record("bbc", "c-lc11", 0.97, seed=43, **fair),
    ]
    rows = [line for line in seed_repeats(records) if line.startswith("| default-recipe")]
    assert len(rows) == 2
    assert "seed 42: 97.0 (-1.0); seed 43: 97.0 (+1.0) | 0.0 | +0.0 (2) |" in rows[1]
    assert not [line for line in seed_repeats(records) if line.startswith("| paper-recipe")]


def test_a_changed_setting_is_compared_with_bert_trained_with_the_same_settings():
    def extra(config: str, accuracy: float, **changes) -> dict:
        row = record("imdb", config, accuracy, **changes)
        row |= {"sizes": {"train": 1000, "validation": 250, "test": 500}, "macro_f1": accuracy,
                "training_time_s": 300.0, "command": "python -m training train",
                "paper_row": CONFIGS[config].paper_row}  # fmt: skip
        return row

    records = [
        extra("bert", 0.850, epochs=3.0),
        extra("pfc-lc7", 0.846, epochs=3.0),  # -0.4 vs bert at 3 epochs, seed 42
        extra("pfc-lc7", 0.814, epochs=3.0, seed=43),  # no bert at 3 epochs, seed 43
        extra("bert", 0.86, recipe="default", epochs=3.0),
        extra("pfc-lc7", 0.87, recipe="default", epochs=3.0),  # +1.0 vs bert, default recipe
        extra("pfc-lc7", 0.80, seed=43),  # a repeat: its own table, not this one
        extra("pfc-lc7", 0.81, recipe="default"),  # the default-recipe plan: its own table
    ]
    rows = [line.split(" | ") for line in other_measurements(records) if line.startswith("| IMDB")]
    by_cells = {(cells[1], cells[4], cells[6], cells[7]): cells[10] for cells in rows}
    assert by_cells == {
        ("BERT", "3", "paper", "42"): "–",
        ("pfc (Lc=7)", "3", "paper", "42"): "-0.4",
        ("pfc (Lc=7)", "3", "paper", "43"): "–",
        ("BERT", "3", "default", "42"): "–",
        ("pfc (Lc=7)", "3", "default", "42"): "+1.0",
    }


def test_the_default_recipe_plan_makes_pieces_apart_from_the_paper_recipe_plan(tmp_path):
    from benchmarks.accuracy import parse_args, selected_pieces

    args = parse_args(["--datasets", "bbc", "--configs", "bert", "--plan", "default-recipe"])
    (piece,) = selected_pieces(args)
    assert piece.planned and piece.settings == DEFAULT_RECIPE_PLAN["bbc"]
    assert piece.key != Piece("bbc", "bert", PLAN["bbc"]).key
    command = piece.command(tmp_path / piece.key)
    assert command[command.index("--recipe") + 1] == "default"
    assert command[command.index("--max-length") + 1] == "128"
    (paper,) = selected_pieces(parse_args(["--datasets", "bbc", "--configs", "bert"]))
    assert paper.planned and paper.settings.recipe == "paper"
    changed = parse_args(["--datasets", "bbc", "--configs", "bert", "--recipe", "default"])
    (off_plan,) = selected_pieces(changed)  # 512 tokens: in neither plan
    assert not off_plan.planned


def test_the_default_recipe_plan_has_its_own_table():
    records = [
        record("imdb", "bert", 0.86, recipe="default"),
        record("imdb", "pfc-lc7", 0.83, recipe="default"),
        record("imdb", "bert", 0.85),  # the paper-recipe plan's: not this table's baseline
    ]
    text = "\n".join(default_recipe_plan(records))
    assert f"(2 of {3 * len(CONFIGS)} pieces measured" in text  # the plan's own pieces
    rows = table_rows("\n".join(line for line in text.splitlines() if line.startswith("|")))
    assert rows["`pfc`, Lc = 7"] == ["not measured yet", "**83.0 (-3.0)**", "not measured yet"]
    assert "BBC News (all, 128 tokens)" in text
