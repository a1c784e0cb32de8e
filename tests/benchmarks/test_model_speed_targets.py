"""benchmarks/model_speed.py's target lines follow the shipped default, whatever its graph."""

import pytest

from benchmarks import model_speed


def default_row(speedup: float) -> dict:
    shape, model = model_speed.DEFAULT_MODEL
    return dict(shape=shape, model=model, precision="int8", case="8 x 128", speedup=speedup,
                efficiency=1.0)  # fmt: skip


@pytest.mark.parametrize(("speedup", "verdict"), [(1.73, "met"), (1.39, "not met")])
def test_default_model_is_held_to_1_4x_at_8_x_128(speedup: float, verdict: str) -> None:
    lines = model_speed.target_lines([default_row(speedup)])
    name = model_speed.DEFAULT_MODEL[1]
    assert f"- minilm {name}, int8, 8 x 128: **{speedup:.2f}x** int8 BERT (target >= 1.4x: " \
           f"{verdict})." in lines  # fmt: skip
