"""`explain`: the core words of each result, under every truncation and with batching, the same
alone or batched; nothing run without it; bad values; an artifact without an explain graph; the
playground page."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from artifact.card import load_artifact
from artifact.explain import SequenceExplanation
from artifact.files import EXPLAIN_FILE
from artifact.truncation import STRATEGIES
from service.runtime import OnnxBackend
from tests.service.helpers import GatedClassifier, serve

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

TEXT = "Shares in the bank rose, and the company's profit grew: a great year for the market!"
LONG = " ".join(["the team won the match and the player scored in the league season"] * 12)


class CountingClassifier(GatedClassifier):
    """The real classifier, counting the sequences sent through the explain graph."""

    def __init__(self, inner: OnnxBackend) -> None:
        super().__init__(inner)
        self.explained: list[int] = []

    def explain(self, sequences: Sequence[np.ndarray]) -> list[SequenceExplanation]:
        self.explained.append(len(sequences))
        return super().explain(sequences)


async def classify(client, documents: list[str], **options) -> list[dict]:
    response = await client.post("/classify", json={"documents": documents, **options})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def check_core(text: str, core: list[dict], top_k: int) -> None:
    assert 1 <= len(core) <= top_k
    assert [word["score"] for word in core] == sorted((w["score"] for w in core), reverse=True)
    for word in core:
        assert text[word["start"] : word["end"]] == word["text"]
        assert word["text"].strip() == word["text"] and word["text"]
        assert 0.0 <= word["score"] <= 1.0
        assert set(word) == {"text", "start", "end", "score", "kept_layers", "group"}


async def test_explain_adds_the_core_words_and_nothing_else_changes(settings_for, tiny_classifier):
    async with serve(settings_for(), tiny_classifier) as client:
        (plain,) = await classify(client, [TEXT], top_k=2)
        (explained,) = await classify(client, [TEXT], top_k=2, explain=True)
        (three,) = await classify(client, [TEXT], explain=True, explain_top_k=3)
    assert "core" not in plain
    assert {k: v for k, v in explained.items() if k != "core"} == plain
    check_core(TEXT, explained["core"], 10)
    assert len(explained["core"]) == 10
    assert three["core"] == explained["core"][:3]
    kept = {word["kept_layers"] for word in explained["core"]}
    assert kept <= set(range(1, tiny_classifier.card.combine_layer))
    assert all(0 <= word["group"] < 4 for word in explained["core"])


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_every_truncation_points_into_the_submitted_text(
    settings_for, tiny_classifier, strategy
):
    async with serve(settings_for(), tiny_classifier) as client:
        (result,) = await classify(
            client, [LONG], explain=True, explain_top_k=64, truncation=strategy
        )
    check_core(LONG, result["core"], 64)
    assert result["truncated"] is (strategy != "chunks")


async def test_a_documents_explanation_is_the_same_alone_or_batched(settings_for, tiny_classifier):
    documents = [TEXT, LONG, "bank profit", "the film was boring " * 9]
    async with serve(settings_for(), tiny_classifier) as client:
        alone = [(await classify(client, [text], explain=True))[0] for text in documents]
        together = await classify(client, documents, explain=True)
        # Concurrent requests, mixed with requests that do not explain, share batches.
        mixed = await asyncio.gather(
            *(classify(client, [text], explain=True, truncation="chunks") for text in documents),
            *(classify(client, [text]) for text in documents),
        )
    for one, batched in zip(alone, together, strict=True):
        assert [w["text"] for w in one["core"]] == [w["text"] for w in batched["core"]]
        assert [(w["start"], w["kept_layers"], w["group"]) for w in one["core"]] == [
            (w["start"], w["kept_layers"], w["group"]) for w in batched["core"]
        ]
        np.testing.assert_allclose(
            [w["score"] for w in one["core"]], [w["score"] for w in batched["core"]], atol=1e-4
        )
    for (chunked,), one, text in zip(mixed[:4], alone, documents, strict=True):
        if text != LONG:  # one window: read as `right` reads it
            assert [w["text"] for w in chunked["core"]] == [w["text"] for w in one["core"]]
    assert all("core" not in result for (result,) in mixed[4:])


async def test_without_explain_the_explain_graph_never_runs(settings_for, tiny_classifier):
    classifier = CountingClassifier(tiny_classifier)
    async with serve(settings_for(), classifier) as client:
        await classify(client, [TEXT, LONG], truncation="chunks")
        assert classifier.explained == []
        results = await classify(client, [TEXT, LONG], truncation="chunks", explain=True)
    # The explain graph ran on the explained windows only, each once.
    assert sum(classifier.explained) == sum(result["num_chunks"] for result in results) > 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"explain": "yes"}, "explain"),
        ({"explain": 1}, "explain"),
        ({"explain": True, "explain_top_k": 0}, "explain_top_k"),
        ({"explain": True, "explain_top_k": 65}, "explain_top_k"),
        ({"explain": True, "explain_top_k": "3"}, "explain_top_k"),
    ],
)
async def test_bad_explain_values_are_refused_naming_the_field(
    settings_for, tiny_classifier, body, field
):
    async with serve(settings_for(), tiny_classifier) as client:
        response = await client.post("/classify", json={"documents": [TEXT], **body})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "validation"
    assert [detail["field"] for detail in error["details"]] == [field]


async def test_an_artifact_without_an_explain_graph_serves_and_says_it_cannot_explain(
    settings_for, tiny_artifact: Path, tmp_path: Path
):
    older = shutil.copytree(tiny_artifact, tmp_path / "older")
    (older / EXPLAIN_FILE).unlink()
    classifier = OnnxBackend(load_artifact(older), device="cpu")
    assert not classifier.can_explain
    async with serve(settings_for(), classifier) as client:
        (plain,) = await classify(client, [TEXT])
        response = await client.post("/classify", json={"documents": [TEXT], "explain": True})
    assert plain["label"]
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message.startswith("explain:") and EXPLAIN_FILE in message


async def test_the_playground_page_is_served_with_its_assets(settings_for, tiny_classifier):
    async with serve(settings_for(api_key="secret"), tiny_classifier) as client:
        page = await client.get("/")
        script = await client.get("/static/playground.js")
        style = await client.get("/static/playground.css")
        schema = (await client.get("/openapi.json")).json()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="static/playground.js"' in page.text and "http" not in page.text.lower()
    assert script.status_code == 200 and "explain: true" in script.text
    assert style.status_code == 200
    assert "/" not in schema["paths"]
