"""Are the core words the ones that decided? Delete them and see (a deletion test of `explain`).

For each test document of the artifact's data set (re-created from its metadata, like
`python -m training evaluate`), the artifact's fp32 graph gives the predicted label and its
probability, and the explain graph the document's core words (`artifact.explain.core_words`, as
the service's `explain` answers them). Then, for k = 1, 3, 5, 10, the document is classified
again with its top-k core words deleted from the text, and, separately, with k words drawn at
random from the words the model read (several draws, seeded). Reported per k and condition: the
mean drop in the probability of the originally predicted label, and the share of documents whose
label flipped. Deleting the words that decided should hurt clearly more than deleting as many
random ones.

    python benchmarks/explain_faithfulness.py --model-dir artifacts/default/artifact

Prints a markdown table (docs/results.md, "Which words decided") and writes a JSON record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from artifact.card import load_artifact  # noqa: E402
from artifact.explain import CoreWord  # noqa: E402
from artifact.runtime import OnnxClassifier  # noqa: E402
from artifact.truncation import Truncation  # noqa: E402

DEFAULT_KS = (1, 3, 5, 10)
DEFAULT_RECORD = ROOT / "benchmarks" / "results" / "explain_faithfulness" / "results.json"
EVERY_WORD = 1_000_000  # a top_k that keeps every word the model read, ranked


def delete_words(text: str, words: Sequence[CoreWord]) -> str:
    """`text` without the characters of `words` (spans from the tokenizer's offsets)."""
    for word in sorted(words, key=lambda w: w.start, reverse=True):
        text = text[: word.start] + text[word.end :]
    return text


def predicted_probability(
    classifier: OnnxClassifier, texts: Sequence[str], labels: np.ndarray, truncation: Truncation
) -> tuple[np.ndarray, np.ndarray]:
    """Per text: the probability of `labels[i]`, and the label the model now predicts."""
    probabilities = classifier.score_documents(texts, truncation).probabilities
    return probabilities[np.arange(len(texts)), labels], probabilities.argmax(axis=1)


def deletion_effect(
    classifier: OnnxClassifier,
    texts: Sequence[str],
    deleted: Sequence[Sequence[CoreWord]],
    labels: np.ndarray,
    before: np.ndarray,
    truncation: Truncation,
) -> tuple[float, float]:
    """(mean drop in the probability of the predicted label, share of labels flipped)."""
    edited = [delete_words(text, words) for text, words in zip(texts, deleted, strict=True)]
    after, predicted = predicted_probability(classifier, edited, labels, truncation)
    return float(np.mean(before - after)), float(np.mean(predicted != labels))


def measure(
    classifier: OnnxClassifier,
    texts: Sequence[str],
    ks: Sequence[int],
    draws: int,
    seed: int,
    truncation: Truncation,
) -> list[dict]:
    """One row per k: the effect of deleting the top-k core words and k random read words."""
    probabilities = classifier.score_documents(texts, truncation).probabilities
    labels = probabilities.argmax(axis=1)
    before = probabilities[np.arange(len(texts)), labels]
    ranked = classifier.core_words(texts, truncation, top_k=EVERY_WORD)  # every read word
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        core = deletion_effect(
            classifier, texts, [words[:k] for words in ranked], labels, before, truncation
        )
        random_effects = []
        for _ in range(draws):
            picked = [
                [words[i] for i in rng.choice(len(words), min(k, len(words)), replace=False)]
                for words in ranked
            ]
            random_effects.append(
                deletion_effect(classifier, texts, picked, labels, before, truncation)
            )
        drop, flipped = np.mean(random_effects, axis=0)
        rows.append(
            {
                "k": k,
                "core_probability_drop": core[0],
                "core_flipped": core[1],
                "random_probability_drop": float(drop),
                "random_flipped": float(flipped),
            }
        )
        print(f"k={k}: core {core}, random ({drop:.4f}, {flipped:.4f})", flush=True)
    return rows


def markdown_table(rows: Sequence[dict]) -> str:
    lines = [
        "| words deleted | core: probability drop | core: labels flipped "
        "| random: probability drop | random: labels flipped |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['k']} | {row['core_probability_drop']:.3f} | "
            f"{100 * row['core_flipped']:.1f}% | {row['random_probability_drop']:.3f} | "
            f"{100 * row['random_flipped']:.1f}% |"
        )
    return "\n".join(lines)


def test_texts(model_dir: Path, num_documents: int | None, seed: int) -> list[str]:
    """The artifact's test split (a seeded sample of `num_documents` when given)."""
    from training.evaluate import data_arguments_from_metadata, load_test_documents

    card = load_artifact(model_dir).card
    documents = load_test_documents(data_arguments_from_metadata(card.dataset))
    texts = [document.text for document in documents]
    if num_documents is None or num_documents >= len(texts):
        return texts
    chosen = np.random.default_rng(seed).choice(len(texts), num_documents, replace=False)
    return [texts[i] for i in sorted(chosen)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="artifact directory")
    parser.add_argument(
        "--num-documents", type=int, default=None, help="test documents (default: all)"
    )
    parser.add_argument("--ks", type=int, nargs="+", default=list(DEFAULT_KS))
    parser.add_argument("--draws", type=int, default=2, help="random draws per document and k")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help="JSON written")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    classifier = OnnxClassifier.from_artifact(args.model_dir, intra_op_threads=args.threads)
    card = load_artifact(args.model_dir).card
    texts = test_texts(args.model_dir, args.num_documents, args.seed)
    truncation = Truncation("right")
    started = time.perf_counter()
    rows = measure(classifier, texts, args.ks, args.draws, args.seed, truncation)
    record = {
        "model": {"name": card.name, "variant": card.variant, "max_length": card.max_length},
        "dataset": card.dataset.get("name"),
        "num_documents": len(texts),
        "draws": args.draws,
        "seed": args.seed,
        "truncation": "right",
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    args.record.parent.mkdir(parents=True, exist_ok=True)
    args.record.write_text(json.dumps(record, indent=2) + "\n")
    print(markdown_table(rows))
    print(f"{len(texts)} documents, {record['seconds']} s; record: {args.record}")


if __name__ == "__main__":
    main()
