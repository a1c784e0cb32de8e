"""The encoder: faithful to BERT, budgets per layer, combining, batch invariance, training."""

import itertools

import pytest
import torch
from transformers import BertModel

from model import CoreBertConfig, CoreBertForSequenceClassification, map_paper_layer
from model.modeling import TokenCombiner
from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import ALL_VARIANTS, ragged_batch

VOCAB = tiny_config_kwargs()["vocab_size"]


def test_baseline_reproduces_bert_hidden_states_exactly(bert_checkpoint):
    reference = BertModel.from_pretrained(bert_checkpoint, attn_implementation="eager").eval()
    ours = CoreBertForSequenceClassification.from_backbone(bert_checkpoint, variant="bert").eval()
    input_ids, attention_mask = ragged_batch([11, 4, 7], VOCAB)
    with torch.no_grad():
        expected = reference(input_ids, attention_mask=attention_mask).last_hidden_state
        got = ours.bert(input_ids, attention_mask).last_hidden_state
    real = attention_mask.bool()
    torch.testing.assert_close(got[real], expected[real], rtol=0, atol=1e-6)


def test_hidden_states_count_layers_as_bert_does(bert_checkpoint):
    reference = BertModel.from_pretrained(bert_checkpoint, attn_implementation="eager").eval()
    ours = CoreBertForSequenceClassification.from_backbone(bert_checkpoint, variant="bert").eval()
    input_ids, attention_mask = ragged_batch([11, 4, 7], VOCAB)
    with torch.no_grad():
        expected = reference(input_ids, attention_mask, output_hidden_states=True).hidden_states
        got = ours(input_ids, attention_mask, output_hidden_states=True).hidden_states
    real = attention_mask.bool()
    assert len(got) == len(expected)  # the embeddings, then every layer
    for ours_layer, bert_layer in zip(got, expected, strict=True):
        torch.testing.assert_close(ours_layer[real], bert_layer[real], rtol=0, atol=1e-6)


def test_hidden_states_stop_before_the_combining_layer(bert_checkpoint):
    model = CoreBertForSequenceClassification.from_backbone(
        bert_checkpoint, variant="pfc", combine_layer=3
    ).eval()
    input_ids, attention_mask = ragged_batch([11, 4], VOCAB)
    with torch.no_grad():
        asked = model(input_ids, attention_mask, output_hidden_states=True)
        plain = model(input_ids, attention_mask)
    assert [tuple(h.shape) for h in asked.hidden_states] == [(2, 11, 36)] * 3  # embeddings, 1, 2
    assert plain.hidden_states is None
    torch.testing.assert_close(asked.logits, plain.logits, rtol=0, atol=0)


def test_backbone_loading_initialises_only_the_new_parts(bert_checkpoint):
    model = CoreBertForSequenceClassification.from_backbone(
        bert_checkpoint, variant="pfc", combine_layer=3, num_labels=4
    )
    reference = BertModel.from_pretrained(bert_checkpoint)
    loaded = dict(model.bert.named_parameters())
    for name, value in reference.named_parameters():
        if name.startswith("encoder.layer.2.") or name.startswith("pooler."):
            assert name not in loaded  # layer Lc is replaced; pfc pools the combined tokens
        else:
            assert torch.equal(loaded[name], value), name
    assert model.bert.combination_tokens.shape == (8, 36)  # the default m
    assert isinstance(model.bert.encoder.layer[2], TokenCombiner)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_save_and_reload_round_trip(variant, tmp_path):
    model = make_tiny_model(variant)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = CoreBertForSequenceClassification.from_pretrained(tmp_path).eval()
    assert reloaded.config.variant == variant
    input_ids, attention_mask = ragged_batch([9, 5], VOCAB)
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded(input_ids, attention_mask).logits, model(input_ids, attention_mask).logits
        )


def expected_ratio_schedule(length: int, keep_ratio: float, layers: int) -> list[int]:
    schedule = [length]
    for _ in range(layers - 1):
        schedule.append(max(1, int(schedule[-1] * keep_ratio + 1e-9)))
    return schedule


@pytest.mark.parametrize("keep_ratio", [0.9, 0.7])
def test_ratio_pruning_keeps_floor_t_times_p_per_layer_per_document(keep_ratio):
    model = make_tiny_model("p", keep_ratio=keep_ratio)
    lengths = [97, 40, 3, 1]
    input_ids, attention_mask = ragged_batch(lengths, VOCAB)
    with torch.no_grad():
        kept = model(input_ids, attention_mask).kept_kv_counts
    for row, length in enumerate(lengths):
        assert kept[row].tolist() == expected_ratio_schedule(length, keep_ratio, 5)


def test_fuzzy_pruning_keeps_at_least_the_ratio_budget_and_shrinks_cumulatively():
    model = make_tiny_model("pf")
    lengths = [120, 33]
    input_ids, attention_mask = ragged_batch(lengths, VOCAB)
    with torch.no_grad():
        kept = model(input_ids, attention_mask).kept_kv_counts
    for row, length in enumerate(lengths):
        counts = kept[row].tolist()
        assert counts[0] == length
        for before, after in itertools.pairwise(counts):
            assert max(1, int(before * 0.9 + 1e-9)) <= after <= before


def test_combining_variant_prunes_before_lc_and_reports_no_document_tokens_after():
    model = make_tiny_model("pfc", combine_layer=3)
    input_ids, attention_mask = ragged_batch([50, 20], VOCAB)
    with torch.no_grad():
        output = model.bert(input_ids, attention_mask)
    assert output.last_hidden_state.shape == (2, 4, 36)  # m = 4 combination tokens go on
    assert output.kept_kv_counts[:, 0].tolist() == [50, 20]
    assert (output.kept_kv_counts[:, 1] <= output.kept_kv_counts[:, 0]).all()
    assert output.kept_kv_counts[:, 2:].eq(0).all()


def test_combination_tokens_are_never_pruned():
    """Every layer before Lc attends to all m combination tokens, whatever is pruned."""
    model = make_tiny_model("pfc", combine_layer=4, keep_ratio=0.5)
    seen = []

    def record(module, args, output):
        seen.append(args[1].shape[1])  # width of the key/value set

    hooks = [
        layer.attention.self.register_forward_hook(record) for layer in model.bert.encoder.layer[:3]
    ]
    input_ids, attention_mask = ragged_batch([30], VOCAB)
    with torch.no_grad():
        kept = model(input_ids, attention_mask).kept_kv_counts[0].tolist()
    for hook in hooks:
        hook.remove()
    assert seen == [count + 4 for count in kept[:3]]


def test_combiner_assigns_each_real_token_once_and_padding_never():
    model = make_tiny_model("c", combine_layer=2)
    combiner = model.bert.encoder.layer[1]
    tokens, combination = torch.randn(3, 10, 36), torch.randn(3, 4, 36)
    token_mask = torch.arange(10).unsqueeze(0) < torch.tensor([[10], [6], [1]])
    with torch.no_grad():
        combined, assignment = combiner(tokens, combination, token_mask)
    assert combined.shape == (3, 4, 36)
    assert torch.equal(assignment.sum(dim=1), token_mask.float())


@pytest.mark.parametrize("training", [False, True])
def test_combiner_projects_values_after_pooling_as_the_formula_does_before(training):
    """Independent reference: docs/method.md's c_i + W_o(sum_j HA[i, j] W_v LN(e_j) / (size_i +
    eps)) with W_v on every document token, from the combiner's own assignment; same values and
    the same gradients (straight-through assignment included)."""
    model = make_tiny_model("c", combine_layer=2).train(training)
    combiner = model.bert.encoder.layer[1]
    with torch.no_grad():  # a bias that is not zero, so its share of each group is checked
        combiner.value.bias.normal_()
    tokens = torch.randn(3, 10, 36, requires_grad=True)
    combination = torch.randn(3, 4, 36)
    token_mask = torch.arange(10).unsqueeze(0) < torch.tensor([[10], [6], [1]])
    combined, assignment = combiner(tokens, combination, token_mask)
    values = combiner.value(combiner.token_norm(tokens))  # (B, N, D): every document token
    sizes = assignment.sum(dim=-1, keepdim=True)
    reference = combination + combiner.output((assignment @ values) / (sizes + 1.0))
    torch.testing.assert_close(combined, reference, rtol=0, atol=1e-5)
    weights = torch.randn_like(combined)
    inputs = (tokens, combiner.value.weight, combiner.value.bias)
    got = torch.autograd.grad((combined * weights).sum(), inputs, retain_graph=True)
    expected = torch.autograd.grad((reference * weights).sum(), inputs)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_batch_invariance_in_pytorch(variant):
    model = make_tiny_model(variant)
    lengths = [37, 120, 5, 64, 1]
    input_ids, attention_mask = ragged_batch(lengths, VOCAB)
    with torch.no_grad():
        batched = model(input_ids, attention_mask)
        for row, length in enumerate(lengths):
            alone = model(input_ids[row : row + 1, :length], attention_mask[row : row + 1, :length])
            torch.testing.assert_close(alone.logits[0], batched.logits[row], rtol=0, atol=1e-4)
            assert torch.equal(alone.kept_kv_counts[0], batched.kept_kv_counts[row])


@pytest.mark.parametrize("variant", ["p", "pf", "pfc"])
def test_one_training_step_reaches_every_parameter(variant):
    model = make_tiny_model(variant, combine_layer=3).train()
    input_ids, attention_mask = ragged_batch([40, 25, 12], VOCAB)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    output = model(input_ids, attention_mask, labels=torch.tensor([0, 1, 2]))
    output.loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, f"no gradient for {missing}"
    before = model.bert.combination_tokens.detach().clone() if variant == "pfc" else None
    optimizer.step()
    if before is not None:
        assert not torch.equal(before, model.bert.combination_tokens)


def test_gumbel_noise_only_in_training():
    model = make_tiny_model("pfc", combine_layer=2)
    input_ids, attention_mask = ragged_batch([30, 30], VOCAB)
    with torch.no_grad():
        first, second = (
            model(input_ids, attention_mask).logits,
            model(input_ids, attention_mask).logits,
        )
        assert torch.equal(first, second)
        model.train()
        noisy = [model(input_ids, attention_mask).logits for _ in range(4)]
    assert any(not torch.equal(noisy[0], other) for other in noisy[1:])


def test_config_presets_and_validation():
    assert CoreBertConfig.for_variant("pfc", num_hidden_layers=12).combine_layer == 11
    assert CoreBertConfig.for_variant("pf").combine_layer is None
    assert CoreBertConfig.for_variant("c", num_hidden_layers=6).pooling == "mean"
    assert (
        map_paper_layer(7, 6) == 4 and map_paper_layer(11, 6) == 6 and map_paper_layer(7, 12) == 7
    )
    with pytest.raises(ValueError, match="variant"):
        CoreBertConfig.for_variant("x")
    with pytest.raises(ValueError, match="combine_layer"):
        CoreBertConfig.for_variant("pfc", num_hidden_layers=4, combine_layer=5)
    with pytest.raises(ValueError, match="pooling"):
        CoreBertConfig.for_variant("pfc", pooling="pooler")
    with pytest.raises(ValueError, match="pruning"):
        CoreBertConfig(pruning="fuzzy", variant="p")


def test_training_gradients_stay_bounded_when_most_groups_are_empty():
    """8 combination tokens over 3-token documents: most groups receive no token."""
    model = make_tiny_model("pfc", combine_layer=3, num_combination_tokens=8).train()
    input_ids, attention_mask = ragged_batch([3, 3, 2, 3], VOCAB)
    model(input_ids, attention_mask, labels=torch.tensor([0, 1, 2, 0])).loss.backward()
    norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
    assert 0 < norm.item() < 50
