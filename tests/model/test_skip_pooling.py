"""`skip_pooling` (beyond the paper): the classifier reads the mean of two document vectors, the
m combined tokens' mean and the document tokens' mean as they enter the combining module.

The independent references: for `c` the layers before Lc are plain BERT over the document tokens
and the m combination tokens, so the document mean at Lc's input is the masked mean of
transformers' own BERT encoder, cut to Lc - 1 layers, over that sequence; the combined tokens'
mean is what the paper's layout (same weights, no skip) pools. Its graphs' parity and batch
invariance: tests/model/test_combining_options.py.
"""

import pytest
import torch
from transformers import BertConfig, BertModel

from model import CoreBertForSequenceClassification
from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import (
    ragged_batch,
)

VOCAB = tiny_config_kwargs()["vocab_size"]
COMBINE_LAYER = 3  # of the tiny model's 5


def skip_model(variant: str = "pfc", **options):
    return make_tiny_model(variant, combine_layer=COMBINE_LAYER, skip_pooling=True, **options)


def bert_before_combining(bert_checkpoint) -> BertModel:
    """transformers' BERT with the checkpoint's first Lc - 1 layers: what `c` runs before Lc."""
    config = BertConfig.from_pretrained(bert_checkpoint, num_hidden_layers=COMBINE_LAYER - 1)
    return BertModel.from_pretrained(
        bert_checkpoint, config=config, attn_implementation="eager"
    ).eval()


def document_mean_before_combining(bert_checkpoint, model, input_ids, attention_mask):
    """The masked mean of the document tokens after BERT's first Lc - 1 layers, run by
    transformers over the embeddings followed by the model's m combination tokens."""
    reference = bert_before_combining(bert_checkpoint)
    embeddings = reference.embeddings(input_ids=input_ids)
    combination = model.bert.combination_tokens.expand(input_ids.shape[0], -1, -1)
    sequence = torch.cat([embeddings, combination], dim=1)
    mask = torch.cat([attention_mask, torch.ones_like(combination[..., 0])], dim=1)
    additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    states = reference.encoder(sequence, attention_mask=additive).last_hidden_state
    documents = states[:, : input_ids.shape[1]]
    weights = attention_mask.unsqueeze(-1).float()
    return (documents * weights).sum(dim=1) / weights.sum(dim=1)


def test_the_classifier_reads_the_combined_mean_and_the_document_mean(bert_checkpoint):
    model = CoreBertForSequenceClassification.from_backbone(
        bert_checkpoint, "c", combine_layer=COMBINE_LAYER, skip_pooling=True, num_labels=3
    ).eval()
    paper = CoreBertForSequenceClassification.from_backbone(
        bert_checkpoint, "c", combine_layer=COMBINE_LAYER, num_labels=3
    ).eval()
    paper.load_state_dict(model.state_dict())
    input_ids, attention_mask = ragged_batch([11, 4, 7], VOCAB, seed=3)
    with torch.no_grad():
        document_mean = document_mean_before_combining(
            bert_checkpoint, model, input_ids, attention_mask
        )
        combined_mean = paper.bert(input_ids, attention_mask).last_hidden_state.mean(dim=1)
        expected = model.classifier((combined_mean + document_mean) / 2)
        got = model(input_ids, attention_mask).logits
        without_skip = paper(input_ids, attention_mask).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert not torch.allclose(got, without_skip, atol=1e-3)


@pytest.mark.parametrize("options", [{}, {"prune_queries": True}, {"proportional_attention": True}])
def test_padding_does_not_reach_the_document_mean(options):
    """A document alone and padded inside a batch gets the same logits, with every other option
    the skip combines with."""
    model = skip_model(**options)
    input_ids, attention_mask = ragged_batch([30, 6], VOCAB, seed=4)
    with torch.no_grad():
        batched = model(input_ids, attention_mask).logits
        alone = model(input_ids[1:, :6], attention_mask[1:, :6]).logits
    torch.testing.assert_close(batched[1:], alone, rtol=0, atol=1e-5)
