"""The pure pruning/combining maths on hand-made inputs whose answers are worked out by hand."""

from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from model import reduction


def test_importance_scores_average_heads_and_real_queries_only():
    probs = torch.zeros(1, 2, 3, 4)  # (B, H, Q, K)
    probs[0, 0, 0] = torch.tensor([0.4, 0.6, 0.0, 0.0])
    probs[0, 0, 1] = torch.tensor([0.2, 0.8, 0.0, 0.0])
    probs[0, 1, 0] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    probs[0, 1, 1] = torch.tensor([0.0, 0.0, 1.0, 0.0])
    probs[0, :, 2] = torch.tensor([0.0, 0.0, 0.0, 1.0])  # a padding query: must not count
    query_mask = torch.tensor([[True, True, False]])
    received = reduction.received_attention(probs, query_mask)
    # head 0 mean over queries: [0.3, 0.7, 0, 0]; head 1: [0.5, 0, 0.5, 0]; mean of heads:
    expected = torch.tensor([[0.4, 0.35, 0.25, 0.0]])
    torch.testing.assert_close(reduction.importance_scores(received, query_mask), expected)
    # the last key is a combination token: it is not scored
    scores = reduction.importance_scores(received, query_mask, num_slots=3)
    torch.testing.assert_close(scores, expected[:, :3])


def test_received_attention_ignores_padding_queries_whatever_they_attend():
    probs = torch.softmax(torch.randn(2, 3, 10, 6), dim=-1)
    query_mask = torch.arange(10).unsqueeze(0) < torch.tensor([[10], [7]])
    scrambled = probs.clone()
    scrambled[1, :, 7:] = torch.softmax(torch.randn(3, 3, 6), dim=-1)
    torch.testing.assert_close(
        reduction.received_attention(scrambled, query_mask),
        reduction.received_attention(probs, query_mask),
    )


@given(st.integers(1, 4096), st.sampled_from([0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0]))
def test_ratio_budget_is_floor_of_t_times_p(count, keep_ratio):
    expected = max(1, int(Fraction(count) * Fraction(str(keep_ratio))))
    assert reduction.ratio_budget(torch.tensor([count]), keep_ratio).item() == expected


def test_ratio_budget_schedule_from_the_paper():
    counts, schedule = torch.tensor([512]), []
    for _ in range(6):
        schedule.append(counts.item())
        counts = reduction.ratio_budget(counts, 0.9)
    assert schedule == [512, 460, 414, 372, 334, 300]


@settings(deadline=None, max_examples=60)
@given(
    st.lists(st.floats(0, 1, allow_nan=False, width=32), min_size=1, max_size=40),
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0]),
    st.integers(0, 5),
)
def test_masked_quantile_matches_torch_quantile_on_the_real_entries(values, q, padding):
    row = torch.tensor(values + [9.0] * padding)
    mask = torch.tensor([True] * len(values) + [False] * padding)
    got = reduction.masked_quantile(row.unsqueeze(0), mask.unsqueeze(0), q)
    torch.testing.assert_close(got, torch.quantile(torch.tensor(values), q).reshape(1))


def test_fuzzy_memberships_by_hand():
    scores = torch.tensor([[0.0, 0.1, 0.2, 0.3, 0.5]])
    importance, unimportance = reduction.fuzzy_memberships(
        scores, torch.tensor([0.1]), torch.tensor([0.3])
    )
    torch.testing.assert_close(importance, torch.tensor([[0.0, 0.0, 0.5, 1.0, 1.0]]))
    torch.testing.assert_close(unimportance, torch.tensor([[1.0, 1.0, 0.5, 0.0, 0.0]]))


def test_fuzzy_memberships_with_equal_quantiles_are_a_step():
    importance, unimportance = reduction.fuzzy_memberships(
        torch.tensor([[0.1, 0.2, 0.3]]), torch.tensor([0.2]), torch.tensor([0.2])
    )
    torch.testing.assert_close(importance, torch.tensor([[0.0, 0.0, 1.0]]))
    torch.testing.assert_close(unimportance, torch.tensor([[1.0, 1.0, 0.0]]))


def test_fuzzy_prunable_is_u_below_the_protection_line():
    # Nine candidates 0.1 .. 0.9: a = 25th pct = 0.3, b = 75th pct = 0.7, so the line is
    # a + 0.1 (b - a) = 0.34: only 0.1, 0.2, 0.3 are unimportant; the padding slot never is.
    scores = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.0]])
    candidates = torch.tensor([[True] * 9 + [False]])
    prunable = reduction.fuzzy_prunable(scores, candidates, (0.25, 0.75), (0.01, 0.9))
    assert prunable.tolist() == [[True, True, True] + [False] * 7]


def test_fuzzy_prunable_honours_the_protection_line_exactly():
    # a = 1.0, b = 2.0 -> line at 1.1. 1.09 is under it (mu_U = 0.91), 1.11 above (0.89).
    scores = torch.tensor([[0.5, 1.0, 1.0, 1.09, 1.11, 2.0, 2.0, 3.0, 1.0]])
    candidates = torch.ones_like(scores, dtype=torch.bool)
    low = reduction.masked_quantile(scores, candidates, 0.25)
    high = reduction.masked_quantile(scores, candidates, 0.75)
    torch.testing.assert_close(torch.cat([low, high]), torch.tensor([1.0, 2.0]))
    prunable = reduction.fuzzy_prunable(scores, candidates, (0.25, 0.75), (0.01, 0.9))
    assert prunable.tolist() == [[True, True, True, True, False, False, False, False, True]]


def test_fuzzy_budget_removes_at_most_the_unimportant_tokens():
    counts = torch.tensor([100, 100, 10])
    prunable = torch.tensor([50, 3, 0])
    # the ratio budget asks to remove 10, 10 and 1
    assert reduction.fuzzy_budget(counts, prunable, 0.9).tolist() == [90, 97, 10]


@settings(deadline=None, max_examples=80)
@given(st.lists(st.floats(0, 1, allow_nan=False, width=32), min_size=2, max_size=64))
def test_fuzzy_selection_never_removes_a_protected_token(values):
    scores = torch.tensor([values])
    valid = torch.ones_like(scores, dtype=torch.bool)
    prunable = reduction.fuzzy_prunable(scores, valid, (0.25, 0.75), (0.01, 0.9))
    keep = reduction.fuzzy_budget(valid.sum(-1), prunable.sum(-1), 0.9)
    index, kept_mask = reduction.select_top_tokens(scores, valid, keep)
    kept = set(index[kept_mask].tolist())
    removed = set(range(len(values))) - kept
    assert not any(not prunable[0, j] for j in removed), "a protected token was pruned"
    assert len(removed) == min(len(values) - int(len(values) * 0.9), int(prunable.sum()))


def test_select_top_tokens_never_ranks_padding_above_real_tokens():
    scores = torch.tensor([[0.1, 0.5, 0.9, 0.2], [0.3, 0.2, 99.0, 98.0]])
    valid = torch.tensor([[True, True, True, True], [True, True, False, False]])
    index, kept_mask = reduction.select_top_tokens(scores, valid, torch.tensor([3, 1]))
    assert index.shape == (2, 3)
    assert index[0].tolist() == [2, 1, 3]
    assert index[1, :1].tolist() == [0] and kept_mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_hard_assignment_gives_each_real_token_one_combination_token():
    logits = torch.randn(2, 4, 7)
    token_mask = torch.tensor([[True] * 7, [True] * 3 + [False] * 4])
    assignment = reduction.hard_assignment(logits, token_mask, training=False)
    assert torch.equal(assignment.sum(dim=1), token_mask.float())
    assert set(assignment.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(assignment.argmax(dim=1)[0], logits.argmax(dim=1)[0])


def test_hard_assignment_in_training_is_hard_forward_soft_backward():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 5, requires_grad=True)
    assignment = reduction.hard_assignment(
        logits, torch.ones(1, 5, dtype=torch.bool), training=True
    )
    torch.testing.assert_close(assignment.sum(dim=1), torch.ones(1, 5))
    assert torch.allclose(assignment, assignment.round(), atol=1e-6)
    (assignment * torch.arange(3.0).view(1, 3, 1)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_gather_tokens_picks_rows():
    hidden = torch.arange(24.0).view(1, 4, 6)
    picked = reduction.gather_tokens(hidden, torch.tensor([[3, 0]]))
    assert picked.tolist() == [[hidden[0, 3].tolist(), hidden[0, 0].tolist()]]


@pytest.mark.parametrize("keep_ratio", [0.0, 1.5])
def test_config_rejects_bad_keep_ratio(keep_ratio):
    from model import CoreBertConfig

    with pytest.raises(ValueError, match="keep_ratio"):
        CoreBertConfig(variant="p", keep_ratio=keep_ratio)


def test_selection_keeps_the_protected_token_even_when_it_scores_lowest():
    scores = torch.tensor([[0.0, 5.0, 4.0, 3.0], [0.0, 1.0, 2.0, 0.0]])
    valid = torch.tensor([[True, True, True, True], [True, True, True, False]])
    protected = torch.tensor([[True, False, False, False], [True, False, False, False]])
    index, kept_mask = reduction.select_top_tokens(scores, valid, torch.tensor([2, 1]), protected)
    assert index[0, :2].tolist() == [0, 1]
    assert index[1, 0].item() == 0 and kept_mask[1].tolist() == [True, False]


def test_an_unknown_pruning_rule_names_the_known_ones():
    with pytest.raises(ValueError, match="ratio, fuzzy"):
        reduction.pruning_rule("random")


def test_grouping_pools_each_group_to_a_damped_mean_and_an_empty_group_to_zero():
    logits = torch.tensor([[[5.0, 5.0, 0.0], [0.0, 0.0, 5.0], [-9.0, -9.0, -9.0]]])  # (1, 3, 3)
    values = torch.tensor([[[2.0], [4.0], [6.0]]])
    pooled, assignment = reduction.group_tokens(logits, values, torch.tensor([[True] * 3]))
    eps = reduction.GROUP_NORMALISATION_EPS
    expected = [[(2.0 + 4.0) / (2 + eps)], [6.0 / (1 + eps)], [0.0]]
    torch.testing.assert_close(pooled[0], torch.tensor(expected))
    assert assignment[0, 2].sum() == 0


def test_an_empty_group_does_not_amplify_the_gradient():
    """Straight-through: an empty group has a hard sum of 0 but a soft gradient; dividing by a
    tiny epsilon multiplied that gradient by 1 / eps (1e6 with eps = 1e-6)."""
    torch.manual_seed(0)
    logits = torch.randn(2, 8, 3, requires_grad=True)  # 8 groups, 3 tokens: >= 5 groups empty
    values = torch.randn(2, 3, 16)
    pooled, assignment = reduction.group_tokens(
        logits, values, torch.ones(2, 3, dtype=torch.bool), training=True
    )
    assert (assignment.detach().sum(dim=-1) == 0).sum() >= 10
    pooled.sum().backward()
    bound = values.abs().sum().item()  # |d pooled / d logits| <= sum |v| when the divisor >= 1
    assert 0 < logits.grad.norm().item() <= bound


def test_masked_quantiles_from_one_sort_match_torch_quantile_row_by_row():
    generator = torch.Generator().manual_seed(4)
    values = torch.rand(3, 9, generator=generator)
    mask = torch.rand(3, 9, generator=generator) > 0.3
    mask[2] = False  # a row without entries gives 0
    low, high = reduction.masked_quantiles(values, mask, (0.25, 0.75))
    for row in range(2):
        real = values[row][mask[row]]
        torch.testing.assert_close(low[row], torch.quantile(real, 0.25))
        torch.testing.assert_close(high[row], torch.quantile(real, 0.75))
    assert low[2] == 0 and high[2] == 0
