"""The artifact package and the service run where torch and transformers cannot be imported, and
the loader runs without onnxruntime too.

Each check runs in a fresh interpreter whose import system refuses the blocked packages, so a
dependency that slipped in, however indirectly, fails with ImportError.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

BLOCKER = """
import importlib.abc, sys

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, Blocked())
"""

SERVE_ONE_REQUEST = """
import asyncio
import httpx
import artifact, artifact.card, artifact.files, artifact.runtime, artifact.tokenization
from service.app import create_app
from service.config import Settings

async def main():
    app = create_app(Settings(model_dir=MODEL_DIR))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://corebert") as client:
            response = await client.post("/classify", json={"documents": ["a good game"]})
    print(json.dumps({"status": response.status_code}))

asyncio.run(main())
"""

LOAD_CARD = """
import artifact
from artifact.tokenization import encode_texts, pad_batch, pad_token_id
loaded = artifact.load_artifact(MODEL_DIR)
ids = encode_texts(loaded.tokenizer, ["a good game"], loaded.card.max_length)
pad_batch(ids, pad_token_id(loaded.tokenizer))
print(json.dumps({"labels": list(loaded.card.labels)}))
"""


def run_blocked(blocked: set[str], model_dir: Path, body: str) -> dict:
    """Run `body` with `blocked` packages unimportable; its last line of output, as JSON."""
    script = (
        f"import json\nBLOCKED = {sorted(blocked)!r}\nMODEL_DIR = {str(model_dir)!r}\n"
        + BLOCKER
        + body
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("COREBERT_")}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_the_blocker_blocks() -> None:
    body = "import torch\n"
    script = f"BLOCKED = ['torch']\n{BLOCKER}{body}"
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode != 0 and "torch is blocked in this test" in completed.stderr


def test_the_service_serves_without_torch_or_transformers(tiny_artifact: Path) -> None:
    report = run_blocked({"torch", "transformers"}, tiny_artifact, SERVE_ONE_REQUEST)
    assert report == {"status": 200}


def test_the_loader_and_tokenization_need_no_onnxruntime(hand_made: Path) -> None:
    report = run_blocked({"torch", "transformers", "onnxruntime"}, hand_made, LOAD_CARD)
    assert report == {"labels": ["class_0", "class_1", "class_2"]}
