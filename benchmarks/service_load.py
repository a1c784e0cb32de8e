"""Load test of the HTTP service: documents/s and latency with and without dynamic batching,
against the raw ONNX Runtime throughput of the same model, in one bounded run.

The script starts `python -m service` itself on 127.0.0.1 (a free port), once with batching
(`--max-batch-documents`) and once without (max batch 1). For each, at every client count
(1, 8, 32 by default), closed-loop clients each send one request at a time for `--warmup`
seconds (discarded) and then for `--duration` seconds (measured): documents/s, p50/p95/p99
latency, and the mean batch size the service ran (from its /metrics). Then, in this process,
the same model runs in a bare ONNX Runtime session (same provider, same session options) on the
same documents, pre-tokenized and padded per batch, at the batch size the service reached with
the most clients and at `--max-batch-documents`: median documents/s over `--raw-repeats` timed
passes after a discarded one.

Targets: with 1 client, batching costs nothing (at least 0.95x the documents/s of no batching,
p50 latency within 10%); with 32 clients it gives at least 1.5x the documents/s of no batching,
and the service reaches at least 85% of raw ONNX Runtime at the same batch size. The load
generator shares the machine: the CPU it used is measured and reported beside each row.

    python benchmarks/service_load.py --model-dir artifacts/default/artifact
    python benchmarks/service_load.py --model-dir /tmp/tiny --corpus synthetic \\
        --duration 3 --warmup 1 --no-write          # a quick check

Every service process is started and stopped (SIGTERM, then SIGKILL) by benchmarks/harness.py,
whatever happens; each phase is bounded by its duration and each request by `--request-timeout`.
The clients are one httpx AsyncClient with a keep-alive connection per client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import harness  # noqa: E402
from benchmarks.doc_sections import command_line, replace_section  # noqa: E402

logger = logging.getLogger("service_load")
SECTION = "service_load"
CORPORA = ("synthetic", "bbc", "imdb", "20ng")


@dataclass(frozen=True)
class LoadResult:
    batching: str  # "on (max N)" or "off (max 1)"
    clients: int
    requests: int
    documents: int
    errors: int
    seconds: float
    docs_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_batch_documents: float
    # CPU seconds the load generator used per second: cores the service could not use
    client_cores: float


@dataclass(frozen=True)
class RawResult:
    batch_size: int
    docs_per_s: float


# --- documents ----------------------------------------------------------------------------


def load_documents(corpus: str, count: int, seed: int, model_dir: Path) -> list[str]:
    """`count` documents drawn with `seed`: from a shipped corpus, or generated (`synthetic`)."""
    rng = random.Random(seed)
    if corpus == "synthetic":
        return synthetic_documents(model_dir / "tokenizer.json", count, rng)
    from training.corpora import load_corpus  # data files only; no torch

    texts = [document.text for document in load_corpus(corpus).train]
    return [texts[rng.randrange(len(texts))] for _ in range(count)]


def synthetic_documents(tokenizer_path: Path, count: int, rng: random.Random) -> list[str]:
    """Whole words of the model's vocabulary, 16 to 400 words per document."""
    vocab = json.loads(tokenizer_path.read_text())["model"]["vocab"]
    words = [word for word in vocab if word.isalpha() and len(word) > 1]
    return [" ".join(rng.choices(words, k=rng.randint(16, 400))) for _ in range(count)]


# --- the service process --------------------------------------------------------------------


@contextmanager
def running_service(
    args: argparse.Namespace, max_batch_documents: int, log_path: Path
) -> Iterator[str]:
    """`python -m service` on a free local port; yields its base URL, always stops it."""
    with harness.service(
        args.model_dir,
        log_path,
        startup_timeout_s=args.startup_timeout,
        device=args.device,
        max_batch_documents=max_batch_documents,
        batch_max_wait_s=args.batch_max_wait_s,
        intra_op_threads=args.threads,
        precision=args.precision,
        request_timeout_s=args.request_timeout,
        max_queue_documents=max(1024, 4 * max(args.clients)),
        log_level="warning",
    ) as served:
        yield served.url


def batch_counters(base_url: str) -> tuple[float, float]:
    """(sum, count) of corebert_batch_size_documents: documents run and batches run so far."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    values = {}
    for family in text_string_to_metric_families(text):
        if family.name == "corebert_batch_size_documents":
            values = {sample.name: sample.value for sample in family.samples}
    return (
        values["corebert_batch_size_documents_sum"],
        values["corebert_batch_size_documents_count"],
    )


# --- closed-loop clients --------------------------------------------------------------------


async def run_clients(
    base_url: str, documents: Sequence[str], clients: int, seconds: float, args: argparse.Namespace
) -> tuple[list[float], int, int, float]:
    """`clients` loops, each sending its next request when the last one answered, until
    `seconds` have passed. Returns the latencies of the successful requests, the documents they
    held, the failed requests, and the elapsed time."""
    latencies: list[float] = []
    counts = {"documents": 0, "errors": 0}
    per_request = args.docs_per_request
    started = time.perf_counter()
    end = started + seconds

    async def client(index: int, http: httpx.AsyncClient) -> None:
        position = index * 9973
        while time.perf_counter() < end:
            batch = [documents[(position + k) % len(documents)] for k in range(per_request)]
            position += per_request
            sent = time.perf_counter()
            try:
                response = await http.post("/classify", json={"documents": batch})
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                latencies.append(time.perf_counter() - sent)
                counts["documents"] += per_request
            else:
                counts["errors"] += 1

    # At most one keep-alive connection per client: no client ever waits for the pool.
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    timeout = httpx.Timeout(args.request_timeout + 5)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as http:
        await asyncio.gather(*(client(index, http) for index in range(clients)))
    return latencies, counts["documents"], counts["errors"], time.perf_counter() - started


def measure_load(
    base_url: str, documents: Sequence[str], clients: int, label: str, args: argparse.Namespace
) -> LoadResult:
    asyncio.run(run_clients(base_url, documents, clients, args.warmup, args))  # discarded
    before = batch_counters(base_url)
    client_cpu = time.process_time()
    latencies, done, errors, elapsed = asyncio.run(
        run_clients(base_url, documents, clients, args.duration, args)
    )
    client_cpu = time.process_time() - client_cpu
    after = batch_counters(base_url)
    batches = after[1] - before[1]
    percentiles = np.percentile(latencies, [50, 95, 99]) * 1000 if latencies else [np.nan] * 3
    result = LoadResult(
        batching=label,
        clients=clients,
        requests=len(latencies),
        documents=done,
        errors=errors,
        seconds=elapsed,
        docs_per_s=done / elapsed,
        p50_ms=float(percentiles[0]),
        p95_ms=float(percentiles[1]),
        p99_ms=float(percentiles[2]),
        mean_batch_documents=(after[0] - before[0]) / batches if batches else float("nan"),
        client_cores=client_cpu / elapsed,
    )
    logger.info(
        "batching %s, %d clients: %.1f docs/s, p50 %.1f ms, p99 %.1f ms, mean batch %.1f",
        label,
        clients,
        result.docs_per_s,
        result.p50_ms,
        result.p99_ms,
        result.mean_batch_documents,
    )
    return result


# --- raw ONNX Runtime -----------------------------------------------------------------------


def measure_raw(
    model_dir: Path,
    documents: Sequence[str],
    batch_sizes: Sequence[int],
    provider: str,
    max_length: int,
    args: argparse.Namespace,
) -> list[RawResult]:
    """Bare `InferenceSession.run` on pre-tokenized batches of the same documents, with the
    service's session options (`artifact.runtime.session_options`)."""
    from artifact.card import load_artifact
    from artifact.runtime import CUDA_PROVIDER, create_session, run_session, session_options
    from artifact.tokenization import encode_texts, pad_batch, pad_token_id

    artifact = load_artifact(model_dir)
    tokenizer = artifact.tokenizer
    sequences = encode_texts(tokenizer, documents, max_length)
    pad_id = pad_token_id(tokenizer)
    device = "cuda" if provider == CUDA_PROVIDER else "cpu"
    model_path = artifact.model_path_for(args.precision)
    session = create_session(model_path, device, session_options(args.threads))
    results = []
    for batch_size in batch_sizes:
        batches = [
            pad_batch(sequences[start : start + batch_size], pad_id)
            for start in range(0, len(sequences) - batch_size + 1, batch_size)
        ]
        rates = []
        for repeat in range(args.raw_repeats + 1):
            started = time.perf_counter()
            for input_ids, attention_mask in batches:
                run_session(session, input_ids, attention_mask)
            if repeat:  # the first pass warms up
                rates.append(len(batches) * batch_size / (time.perf_counter() - started))
        results.append(RawResult(batch_size, statistics.median(rates)))
        logger.info("raw ONNX Runtime, batch %d: %.1f docs/s", batch_size, results[-1].docs_per_s)
    return results


# --- report ---------------------------------------------------------------------------------


def render(
    loads: list[LoadResult],
    raws: list[RawResult],
    model: dict,
    mean_tokens: float,
    args: argparse.Namespace,
) -> str:
    import onnxruntime as ort

    top = max(args.clients)
    on = next(r for r in loads if r.clients == top and r.batching.startswith("on"))
    off = next(r for r in loads if r.clients == top and r.batching.startswith("off"))
    same_batch = min(raws, key=lambda raw: abs(raw.batch_size - on.mean_batch_documents))
    single = next((raw for raw in raws if raw.batch_size == 1), raws[0])
    ceiling = max(raw.docs_per_s for raw in raws) / single.docs_per_s
    lines = [
        "## Service load: dynamic batching vs none, vs raw ONNX Runtime",
        "",
        "Command:",
        "",
        "    " + command_line("benchmarks/service_load.py"),
        "",
        f"Model `{model['name']}` {model['version']} (variant {model['variant']}, max_length "
        f"{model['max_length']}) from `{args.model_dir}`; provider {model['provider']}, "
        f"ONNX Runtime {ort.__version__}, intra-op threads {args.threads or 'default'} "
        f"(no spinning); {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        "load generator on the same machine (httpx AsyncClient, a keep-alive connection per "
        "client). "
        f"Documents: {args.num_documents} from `{args.corpus}` (seed {args.seed}), "
        f"{mean_tokens:.0f} tokens on average after truncation, {args.docs_per_request} per "
        f"request. `python -m service` on 127.0.0.1 with batch_max_wait_s="
        f"{args.batch_max_wait_s}; closed-loop clients; {args.warmup:g} s of warm-up discarded, "
        f"then {args.duration:g} s measured per row. Mean batch = documents per model batch in "
        "the service over the measured window (from its /metrics). "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "| batching | clients | documents/s | p50 ms | p95 ms | p99 ms | mean batch | errors "
        "| load generator CPU (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in loads:
        lines.append(
            f"| {r.batching} | {r.clients} | {r.docs_per_s:.1f} | {r.p50_ms:.1f} | "
            f"{r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.mean_batch_documents:.1f} | {r.errors} "
            f"| {r.client_cores:.2f} |"
        )
    lines += [
        "",
        f"Raw ONNX Runtime, same model, provider and session options, same documents "
        f"pre-tokenized, padded per batch, `session.run` only (median of {args.raw_repeats} "
        "passes after one discarded):",
        "",
        "| batch size | documents/s |",
        "|---:|---:|",
        *(f"| {raw.batch_size} | {raw.docs_per_s:.1f} |" for raw in raws),
        "",
        *target_lines(loads, on, off, same_batch, ceiling),
    ]
    return "\n".join(lines) + "\n"


def target_lines(
    loads: list[LoadResult],
    on: LoadResult,
    off: LoadResult,
    same_batch: RawResult,
    ceiling: float,
) -> list[str]:
    """The three targets, each with its verdict; `on`/`off` are the rows at the most clients."""
    lone_on = next(r for r in loads if r.clients == 1 and r.batching.startswith("on"))
    lone_off = next(r for r in loads if r.clients == 1 and r.batching.startswith("off"))
    lone_ratio = lone_on.docs_per_s / lone_off.docs_per_s
    lone_p50 = lone_on.p50_ms / lone_off.p50_ms - 1
    lone_met = lone_ratio >= 0.95 and lone_p50 <= 0.10  # faster is fine
    speedup = on.docs_per_s / off.docs_per_s
    share = on.docs_per_s / same_batch.docs_per_s
    return [
        f"- One client: batching on gives **{lone_ratio:.2f}x** the documents/s of batching off, "
        f"p50 {lone_p50:+.0%} (target >= 0.95x and p50 at most 10% higher: "
        f"{'met' if lone_met else 'not met'}).",
        f"- {on.clients} clients: batching gives **{speedup:.2f}x** the documents/s of no "
        f"batching (target >= 1.5x: {'met' if speedup >= 1.5 else 'not met'}). The most "
        f"batching can give with this model on this machine: raw ONNX Runtime at its best batch "
        f"size is **{ceiling:.2f}x** its batch-1 documents/s.",
        f"- Service with batching at {on.clients} clients: **{share:.0%}** of raw ONNX Runtime "
        f"at batch size {same_batch.batch_size}, the nearest measured to its mean batch of "
        f"{on.mean_batch_documents:.1f} (target >= 85%: {'met' if share >= 0.85 else 'not met'}), "
        f"while the load generator took {on.client_cores:.2f} of the machine's cores from it.",
    ]


# --- main -----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "artifacts/default/artifact")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=5.0, help="discarded seconds per row")
    parser.add_argument("--max-batch-documents", type=int, default=32)
    parser.add_argument(
        "--batch-max-wait-s",
        type=float,
        default=0.0,
        help="COREBERT_BATCH_MAX_WAIT_S of the service; 0 (its default): no wait timer, a batch "
        "starts as soon as the model is free",
    )
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads; 0 = default")
    parser.add_argument(
        "--precision",
        choices=["fp32", "int8", "fp16"],
        default="fp32",
        help="the artifact's graph that both the service and the raw ONNX Runtime pass run",
    )
    parser.add_argument("--corpus", choices=CORPORA, default="bbc")
    parser.add_argument("--num-documents", type=int, default=512)
    parser.add_argument("--docs-per-request", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--raw-repeats", type=int, default=5)
    parser.add_argument("--request-timeout", type=float, default=60.0)
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks/results/service_load")
    parser.add_argument("--output", type=Path, default=ROOT / "docs/benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the section only")
    args = parser.parse_args()
    if args.num_documents < args.max_batch_documents:
        parser.error("--num-documents must be at least --max-batch-documents")
    return args


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = parse_args()
    args.model_dir = args.model_dir.resolve()
    documents = load_documents(args.corpus, args.num_documents, args.seed, args.model_dir)
    modes = [(f"on (max {args.max_batch_documents})", args.max_batch_documents), ("off (max 1)", 1)]
    loads: list[LoadResult] = []
    model: dict = {}
    for label, max_batch in modes:
        log_path = args.workdir / f"service-max-batch-{max_batch}.log"
        with running_service(args, max_batch, log_path) as base_url:
            model = httpx.get(f"{base_url}/v1/model", timeout=10).json()
            for clients in args.clients:
                loads.append(measure_load(base_url, documents, clients, label, args))
    top_batching = next(
        r for r in loads if r.clients == max(args.clients) and r.batching.startswith("on")
    )
    observed = max(1, round(top_batching.mean_batch_documents))
    batch_sizes = sorted({1, observed, args.max_batch_documents})
    raws = measure_raw(
        args.model_dir, documents, batch_sizes, model["provider"], model["max_length"], args
    )
    mean_tokens = mean_token_count(args.model_dir, documents, model["max_length"])
    section = render(loads, raws, model, mean_tokens, args)
    print(section)
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "results.json").write_text(
        json.dumps(
            {"model": model, "load": [asdict(r) for r in loads], "raw": [asdict(r) for r in raws]},
            indent=2,
        )
    )
    if not args.no_write:
        replace_section(args.output, SECTION, section)
        logger.info("wrote the %s section of %s", SECTION, args.output)


def mean_token_count(model_dir: Path, documents: Sequence[str], max_length: int) -> float:
    from artifact.card import read_tokenizer
    from artifact.files import TOKENIZER_FILE
    from artifact.tokenization import encode_texts

    tokenizer = read_tokenizer(model_dir / TOKENIZER_FILE)
    return statistics.mean(len(ids) for ids in encode_texts(tokenizer, documents, max_length))


if __name__ == "__main__":
    main()
