"""docs/service.md documents every setting, error type and metric the code defines."""

from __future__ import annotations

import re
from pathlib import Path

from service.config import Settings
from service.errors import ERROR_STATUS
from service.metrics import ServiceMetrics

DOC = (Path(__file__).resolve().parents[2] / "docs" / "service.md").read_text()


def table_column(pattern: str) -> set[str]:
    return set(re.findall(pattern, DOC, flags=re.MULTILINE))


def test_every_setting_is_documented() -> None:
    documented = table_column(r"^\| `(COREBERT_[A-Z_]+)` \|")
    assert documented == {f"COREBERT_{name.upper()}" for name in Settings.model_fields}


def test_every_error_type_is_documented_with_its_status() -> None:
    documented = set(re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", DOC, flags=re.MULTILINE))
    assert documented == {(str(status), kind) for kind, status in ERROR_STATUS.items()}


def test_every_metric_is_documented() -> None:
    metrics = ServiceMetrics()
    names = set()
    for family in metrics.registry.collect():
        names.add(f"{family.name}_total" if family.type == "counter" else family.name)
    names |= {"corebert_gpu_memory_used_bytes", "corebert_gpu_memory_total_bytes"}
    assert table_column(r"^\| `(corebert_[a-z_]+)` \|") == names
