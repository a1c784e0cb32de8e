"""Tiny, deterministic building blocks shared by the test suites.

Odd sizes on purpose (hidden 36, 3 heads, 5 layers): shape bugs that cancel out on round numbers
show up here. Nothing in this module downloads anything.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a an of to in and is was for on with as by at from that this it be are were has have "
    "not but or which one two three new year first said would will can market shares bank "
    "government minister election party vote film music star game team match win player "
    "season league technology phone software computer internet users company profit sales "
    "growth economy price oil rate good bad great best worst movie story actor plot boring "
    "brilliant awful love hate sport science space health"
).split()
LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")


def tiny_vocab() -> dict[str, int]:
    """WordPiece vocabulary: specials, whole words, single characters and their ## forms."""
    tokens = SPECIAL_TOKENS + WORDS + LETTERS + [f"##{c}" for c in LETTERS]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def make_tiny_tokenizer() -> Tokenizer:
    """A BERT-style uncased WordPiece tokenizer that adds [CLS] ... [SEP], like MiniLM's."""
    vocab = tiny_vocab()
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def tiny_config_kwargs(**overrides) -> dict:
    """Keyword arguments for a tiny `CoreBertConfig` whose vocabulary matches the tiny tokenizer."""
    kwargs = dict(
        vocab_size=len(tiny_vocab()),
        hidden_size=36,
        num_hidden_layers=5,
        num_attention_heads=3,
        intermediate_size=52,
        max_position_embeddings=520,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=3,
        num_combination_tokens=4,
    )
    kwargs.update(overrides)
    return kwargs


def make_tiny_model(variant: str = "pfc", seed: int = 0, **overrides):
    """A randomly initialised tiny `CoreBertForSequenceClassification` in eval mode."""
    import torch

    from model import CoreBertConfig, CoreBertForSequenceClassification

    torch.manual_seed(seed)
    config = CoreBertConfig.for_variant(variant, **tiny_config_kwargs(**overrides))
    return CoreBertForSequenceClassification(config).eval()
