"""Prometheus metrics of the service: one registry per app, prefix `corebert_`, base units.

The names are a contract with the Grafana dashboards in deploy/; docs/service.md lists them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

import psutil
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from service.errors import ERROR_STATUS

logger = logging.getLogger(__name__)


def geometric_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    return tuple(start * factor**index for index in range(count))


def power_of_two_buckets(smallest_exponent: int, largest_exponent: int) -> tuple[float, ...]:
    return tuple(float(2**exponent) for exponent in range(smallest_exponent, largest_exponent + 1))


class ServiceMetrics:
    """Every metric the service exports, registered on its own `CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.request_duration = Histogram(
            "corebert_request_duration_seconds",
            "End-to-end latency of POST /classify requests.",
            buckets=geometric_buckets(0.001, 2, 17),  # 1 ms .. 65 s
            registry=r,
        )
        self.queue_wait = Histogram(
            "corebert_queue_wait_seconds",
            "Time a document waited in the queue before its batch started.",
            buckets=geometric_buckets(0.0001, 2, 19),  # 0.1 ms .. 26 s
            registry=r,
        )
        self.tokenization_duration = Histogram(
            "corebert_tokenization_duration_seconds",
            "Time to tokenize the documents of one request.",
            buckets=geometric_buckets(0.00001, 2, 17),  # 10 us .. 0.65 s
            registry=r,
        )
        self.inference_duration = Histogram(
            "corebert_inference_duration_seconds",
            "Time to pad and run one batch through the model.",
            buckets=geometric_buckets(0.0005, 2, 17),  # 0.5 ms .. 33 s
            registry=r,
        )
        self.batch_size_documents = Histogram(
            "corebert_batch_size_documents",
            "Documents per model batch.",
            buckets=power_of_two_buckets(0, 8),  # 1 .. 256
            registry=r,
        )
        self.batch_size_tokens = Histogram(
            "corebert_batch_size_tokens",
            "Padded tokens per model batch (documents x longest sequence).",
            buckets=power_of_two_buckets(4, 18),  # 16 .. 262144
            registry=r,
        )
        self.document_length_tokens = Histogram(
            "corebert_document_length_tokens",
            "Tokens per document after truncation, [CLS] and [SEP] included.",
            buckets=power_of_two_buckets(2, 13),  # 4 .. 8192
            registry=r,
        )
        self.kept_kv_ratio = Histogram(
            "corebert_kept_kv_ratio",
            "Per document: mean over the pruning layers of kept / original key-value tokens.",
            buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0),
            registry=r,
        )
        self.requests = Counter(
            "corebert_requests_total",
            "POST /classify requests by HTTP status code.",
            ["status"],
            registry=r,
        )
        self.documents = Counter(
            "corebert_documents_total",
            "Documents classified, by predicted label.",
            ["label"],
            registry=r,
        )
        self.tokens = Counter(
            "corebert_tokens_total",
            "Document tokens run through the model (padding excluded).",
            registry=r,
        )
        self.padding_tokens = Counter(
            "corebert_padding_tokens_total",
            "Padding tokens run through the model to square up batches.",
            registry=r,
        )
        self.truncated_documents = Counter(
            "corebert_truncated_documents_total",
            "Documents cut to the model's maximum length.",
            registry=r,
        )
        self.dropped_documents = Counter(
            "corebert_dropped_documents_total",
            "Queued documents dropped before inference because their request had ended "
            "(client gone or timed out).",
            registry=r,
        )
        self.errors = Counter("corebert_errors_total", "Errors by type.", ["type"], registry=r)
        for error_type in ERROR_STATUS:  # every type exists from the start, at 0
            self.errors.labels(type=error_type)
        # Every status the service answers exists from the start too, so rate() sees the first
        # requests of each after a restart.
        for status in sorted({200, *ERROR_STATUS.values()}):
            self.requests.labels(status=str(status))
        self.queue_depth = Gauge(
            "corebert_queue_depth",
            "Documents admitted and waiting for a batch.",
            registry=r,
        )
        self.requests_in_flight = Gauge(
            "corebert_requests_in_flight",
            "POST /classify requests being handled.",
            registry=r,
        )
        self.resident_memory = Gauge(
            "corebert_process_resident_memory_bytes",
            "Resident memory of the service process.",
            registry=r,
        )
        process = psutil.Process()
        self.resident_memory.set_function(lambda: process.memory_info().rss)
        self.ready = Gauge(
            "corebert_ready", "1 once the model is loaded and warmed up, else 0.", registry=r
        )
        self.model_info = Gauge(
            "corebert_model_info",
            "The model being served; the value is always 1.",
            ["name", "version", "variant", "provider", "precision"],
            registry=r,
        )

    def describe_model(
        self,
        name: str,
        version: str,
        variant: str,
        provider: str,
        precision: str,
        labels: Iterable[str],
    ) -> None:
        """Set the model info series and create the per-label series at 0."""
        self.model_info.labels(
            name=name, version=version, variant=variant, provider=provider, precision=precision
        ).set(1)
        for label in labels:
            self.documents.labels(label=label)

    def watch_gpu_memory(self) -> bool:
        """Export GPU memory used/total through NVML; False (and a warning) when unavailable."""
        reader = nvml_memory_reader()
        if reader is None:
            return False
        used = Gauge(
            "corebert_gpu_memory_used_bytes",
            "GPU memory in use on the device the model runs on (all processes).",
            registry=self.registry,
        )
        total = Gauge(
            "corebert_gpu_memory_total_bytes",
            "GPU memory of the device the model runs on.",
            registry=self.registry,
        )
        used.set_function(lambda: reader()[0])
        total.set_function(lambda: reader()[1])
        return True

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def nvml_memory_reader() -> Callable[[], tuple[int, int]] | None:
    """A function returning (used, total) bytes of the first visible GPU, or None.

    pynvml (the `gpu` extra, package nvidia-ml-py) is imported here, lazily, so CPU installs
    never need it. NVML numbers devices physically, so the first CUDA_VISIBLE_DEVICES entry
    (an index or a GPU-UUID) picks the device the CUDA provider sees as 0.
    """
    try:
        import pynvml

        pynvml.nvmlInit()
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip() or "0"
        if visible.startswith("GPU-"):
            handle = pynvml.nvmlDeviceGetHandleByUUID(visible)
        else:
            handle = pynvml.nvmlDeviceGetHandleByIndex(int(visible))
    except Exception as error:  # ImportError, NVMLError, a bad CUDA_VISIBLE_DEVICES
        logger.warning("GPU memory metrics are off: NVML is not usable (%s)", error)
        return None

    def read() -> tuple[int, int]:
        info = pynvml.nvmlDeviceGetMemoryInfo(handle)
        return int(info.used), int(info.total)

    return read
