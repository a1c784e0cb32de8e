"""Documents longer than the model, through the service: each strategy reads the tokens it
should, a chunked document scores the weighted mean of its windows sent alone, and the queue,
the 429 limit and the metrics count windows.

Every word below is one token of the tiny vocabulary, so a text of n words is n tokens between
[CLS] and [SEP], and the tiny model's 64 tokens hold 62 of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from artifact.runtime import OnnxClassifier
from artifact.truncation import Truncation
from tests.service.helpers import queue_depth, serve
from tests.service.test_api import (
    LABELS,
    counter_by_label,
    metric_samples,
    scores_by_label,
    wait_until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

WORDS = "the game was a great match for the team and the best player of the season".split()
BUDGET = 62  # the tiny model's 64 tokens less [CLS] and [SEP]


def words(count: int, start: int = 0) -> str:
    """Words `start` .. `start + count - 1` of an endless text cycling through WORDS."""
    return " ".join(WORDS[(start + i) % len(WORDS)] for i in range(count))


def raw_scores_by_label(result: dict) -> np.ndarray:
    return scores_by_label(result)  # the same lookup: label -> its score, in LABELS order


async def classify(client, documents: list[str], **options) -> list[dict]:
    response = await client.post("/classify", json={"documents": documents, "top_k": 3, **options})
    assert response.status_code == 200, response.text
    return response.json()["results"]


# Of a 150-token text: what each one-sequence strategy keeps, written out by hand.
KEPT = {
    "right": words(62),
    "left": words(62, 88),
    "head_tail": words(16) + " " + words(46, 104),  # (62 + 2) // 4 = 16 from the start
}


@pytest.mark.parametrize("strategy", list(KEPT))
async def test_each_strategy_reads_the_tokens_it_keeps(settings_for, tiny_classifier, strategy):
    async with serve(settings_for(), tiny_classifier) as client:
        (long,) = await classify(client, [words(150)], truncation=strategy)
        (kept,) = await classify(client, [KEPT[strategy]])
    assert (long["num_tokens"], long["num_chunks"], long["truncated"]) == (64, 1, True)
    assert (kept["num_tokens"], kept["truncated"]) == (64, False)
    np.testing.assert_allclose(scores_by_label(long), scores_by_label(kept), atol=1e-6)


async def test_a_chunked_document_scores_the_weighted_mean_of_its_windows_sent_alone(
    settings_for, tiny_classifier
):
    # Windows of 62 tokens every 31 (half a window): they start at 0, 31, 62 and 93, and the
    # last, reaching the end, holds 57.
    window_texts = [words(62), words(62, 31), words(62, 62), words(57, 93)]
    weights = np.array([62, 62, 62, 57]) / 243
    async with serve(settings_for(), tiny_classifier) as client:
        (chunked,) = await classify(client, [words(150)], truncation="chunks")
        (raw,) = await classify(client, [words(150)], truncation="chunks", raw_scores=True)
        alone = await classify(client, window_texts)
        alone_raw = await classify(client, window_texts, raw_scores=True)
    assert (chunked["num_chunks"], chunked["truncated"]) == (4, False)
    assert chunked["num_tokens"] == 62 * 3 + 57 + 4 * 2
    assert all(result["num_chunks"] == 1 for result in alone)
    expected = weights @ np.stack([scores_by_label(result) for result in alone])
    np.testing.assert_allclose(scores_by_label(chunked), expected, atol=1e-6)
    assert chunked["label"] == LABELS[int(expected.argmax())]
    expected_logits = weights @ np.stack([raw_scores_by_label(result) for result in alone_raw])
    np.testing.assert_allclose(raw_scores_by_label(raw), expected_logits, atol=1e-5)
    assert [e["label"] for e in raw["labels"]] == [e["label"] for e in chunked["labels"]]


async def test_max_chunks_cuts_a_document_and_flags_it(settings_for, tiny_classifier):
    async with serve(settings_for(max_chunks=2), tiny_classifier) as client:
        (capped,) = await classify(client, [words(150)], truncation="chunks")
        first_two = await classify(client, [words(62), words(62, 31)])
        metrics = metric_samples((await client.get("/metrics")).text)
    assert (capped["num_chunks"], capped["truncated"], capped["num_tokens"]) == (2, True, 128)
    expected = np.mean([scores_by_label(result) for result in first_two], axis=0)
    np.testing.assert_allclose(scores_by_label(capped), expected, atol=1e-6)
    (truncated,) = [s for s in metrics["corebert_truncated_documents"] if s.name.endswith("total")]
    assert truncated.value == 1


async def test_a_short_document_in_chunks_is_read_once_as_with_right(settings_for, tiny_classifier):
    async with serve(settings_for(), tiny_classifier) as client:
        (chunked,) = await classify(client, [words(20)], truncation="chunks")
        (right,) = await classify(client, [words(20)], truncation="right")
    assert chunked == right and chunked["num_chunks"] == 1


async def test_the_service_default_applies_unless_the_request_says(settings_for, tiny_classifier):
    async with serve(settings_for(truncation="chunks"), tiny_classifier) as client:
        (default,) = await classify(client, [words(150)])
        (asked,) = await classify(client, [words(150)], truncation="left")
        schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert default["num_chunks"] == 4 and asked["num_chunks"] == 1
    assert schema["ClassifyRequest"]["properties"]["truncation"]["default"] == "chunks"


async def test_the_service_scores_what_evaluation_scores(
    settings_for, tiny_classifier, tiny_artifact: Path
):
    """`python -m training evaluate --truncation chunks` scores through
    `OnnxClassifier.score_documents`: the service gives the same probabilities."""
    texts = [words(150), words(20, 3), words(300, 7), words(63, 5)]
    truncation = Truncation("chunks", chunk_stride=20, max_chunks=8)
    expected = OnnxClassifier.from_artifact(tiny_artifact).score_documents(texts, truncation)
    settings = settings_for(chunk_stride=20, max_chunks=8)
    async with serve(settings, tiny_classifier) as client:
        results = await classify(client, texts, truncation="chunks")
    for row, result in enumerate(results):
        np.testing.assert_allclose(scores_by_label(result), expected.probabilities[row], atol=1e-5)
        assert result["num_chunks"] == expected.num_windows[row]
        assert result["truncated"] == expected.truncated[row]
    assert [result["num_chunks"] for result in results] == [6, 1, 8, 2]  # 300 tokens: capped
    assert [result["truncated"] for result in results] == [False, False, True, False]


async def test_metrics_and_headers_count_windows(settings_for, tiny_classifier):
    async with serve(settings_for(), tiny_classifier) as client:
        response = await client.post(
            "/classify", json={"documents": [words(150)], "truncation": "chunks"}
        )
        metrics = metric_samples((await client.get("/metrics")).text)
    values = {s.name: s.value for family in metrics.values() for s in family if not s.labels}
    assert response.status_code == 200
    assert response.headers["x-num-tokens"] == str(62 * 3 + 57 + 4 * 2)
    assert values["corebert_batch_size_documents_sum"] == 4  # one batch of the four windows
    assert values["corebert_document_length_tokens_count"] == 4
    assert values["corebert_document_length_tokens_sum"] == 62 * 3 + 57 + 4 * 2
    assert values["corebert_tokens_total"] == 62 * 3 + 57 + 4 * 2
    assert values["corebert_kept_kv_ratio_count"] == 4
    assert values["corebert_queue_wait_seconds_count"] == 4
    assert sum(counter_by_label(metrics, "corebert_documents", "label").values()) == 1


async def test_the_queue_and_its_limit_count_windows(settings_for, gated_classifier):
    settings = settings_for(
        max_batch_documents=1, max_queue_documents=4, max_documents_per_request=2, max_chunks=2
    )
    async with serve(settings, gated_classifier) as client:
        gated_classifier.gate.clear()
        running = asyncio.create_task(client.post("/classify", json={"documents": ["one"]}))
        await wait_until(lambda: len(gated_classifier.batches) == 1)
        chunked = {"documents": [words(150)], "truncation": "chunks"}  # two windows
        queued = asyncio.create_task(client.post("/classify", json=chunked))
        await wait_until(lambda: queue_depth(client) == 2)
        # Two documents fit beside the two queued windows, their three windows do not.
        three_windows = {"documents": [words(100), "a short one"], "truncation": "chunks"}
        refused = await client.post("/classify", json=three_windows)
        assert queue_depth(client) == 2  # the refused request's places are given back
        two_documents = asyncio.create_task(
            client.post("/classify", json={"documents": ["two", "three"]})
        )
        await wait_until(lambda: queue_depth(client) == 4)
        gated_classifier.gate.set()
        responses = [await running, await queued, await two_documents]
        after = await client.post("/classify", json=three_windows)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["type"] == "queue_full"
    assert refused.headers["retry-after"] == "1"
    assert all(response.status_code == 200 for response in responses)
    assert responses[1].json()["results"][0]["num_chunks"] == 2
    assert after.status_code == 200
    assert [result["num_chunks"] for result in after.json()["results"]] == [2, 1]


async def test_a_stride_longer_than_the_window_stops_the_start(settings_for, tiny_classifier):
    with pytest.raises(ValueError, match=r"COREBERT_CHUNK_STRIDE=63: chunk stride 63 is over"):
        async with serve(settings_for(chunk_stride=63), tiny_classifier):
            pass
