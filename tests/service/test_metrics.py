"""Metrics that cannot show on this machine's normal path: GPU memory through NVML."""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import ServiceMetrics
from tests.service.helpers import serve

GIB = 2**30


def fake_nvml(opened: list) -> SimpleNamespace:
    """A stand-in for the pynvml module: device 1 has 80 GiB, 3 GiB in use."""

    def handle_by_index(index: int) -> str:
        opened.append(index)
        return f"gpu-{index}"

    def memory_info(handle: str) -> SimpleNamespace:
        assert handle in ("gpu-1", "gpu-GPU-1234")
        return SimpleNamespace(used=3 * GIB, total=80 * GIB)

    def handle_by_uuid(uuid: str) -> str:
        opened.append(uuid)
        return f"gpu-{uuid}"

    return SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=handle_by_index,
        nvmlDeviceGetHandleByUUID=handle_by_uuid,
        nvmlDeviceGetMemoryInfo=memory_info,
    )


@pytest.mark.parametrize("visible", ["1,0", "GPU-1234"])
def test_gpu_memory_gauges_read_the_visible_device(monkeypatch, visible: str) -> None:
    opened: list = []
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(opened))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    metrics = ServiceMetrics()
    assert metrics.watch_gpu_memory()
    assert metrics.registry.get_sample_value("corebert_gpu_memory_used_bytes") == 3 * GIB
    assert metrics.registry.get_sample_value("corebert_gpu_memory_total_bytes") == 80 * GIB
    assert opened == ([1] if visible == "1,0" else ["GPU-1234"])


def test_gpu_memory_is_off_with_a_warning_without_nvml(monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    metrics = ServiceMetrics()
    with caplog.at_level(logging.WARNING, logger="service.metrics"):
        assert not metrics.watch_gpu_memory()
    assert "NVML is not usable" in caplog.text
    assert metrics.registry.get_sample_value("corebert_gpu_memory_used_bytes") is None


@pytest.mark.anyio
async def test_a_service_on_cuda_exports_gpu_memory(
    monkeypatch, settings_for, gated_classifier
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml([]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    gated_classifier.provider = "CUDAExecutionProvider"
    async with serve(settings_for(), gated_classifier) as client:
        text = (await client.get("/metrics")).text
    samples = {
        sample.name: sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples["corebert_gpu_memory_used_bytes"].value == 3 * GIB
    assert samples["corebert_gpu_memory_total_bytes"].value == 80 * GIB
    assert samples["corebert_model_info"].labels["provider"] == "CUDAExecutionProvider"


def test_every_error_type_and_label_series_starts_at_zero() -> None:
    metrics = ServiceMetrics()
    metrics.describe_model("m", "1", "pfc", "CPUExecutionProvider", "fp32", ["sport", "tech"])
    for error_type in ("validation", "queue_full", "timeout", "inference", "client_disconnected"):
        assert metrics.registry.get_sample_value("corebert_errors_total", {"type": error_type}) == 0
    for label in ("sport", "tech"):
        assert metrics.registry.get_sample_value("corebert_documents_total", {"label": label}) == 0


def test_request_and_error_series_exist_before_any_traffic():
    """rate() over a fresh service must see the first request of every status and error type."""
    from prometheus_client import generate_latest

    from service.errors import ERROR_STATUS

    metrics = ServiceMetrics()
    families = {
        family.name: family
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
    }
    statuses = {
        s.labels["status"] for s in families["corebert_requests"].samples if "status" in s.labels
    }
    types = {s.labels["type"] for s in families["corebert_errors"].samples if "type" in s.labels}
    assert statuses >= {"200", *map(str, ERROR_STATUS.values())}
    assert types == set(ERROR_STATUS)
