"""Attention that exports as ONNX Runtime's fused `MultiHeadAttention` contrib operator.

Used at inference wherever a layer's attention probabilities are not needed for scoring (the
layer before Lc, the layers after Lc, every layer of `bert`): the operator adds the packed
Q/K/V bias, splits heads, masks padded keys and runs softmax(QK^T / sqrt(d)) V in one kernel
(ONNX Runtime's CPU and CUDA providers), where the explicit graph needs bias Adds, Reshapes,
Transposes, a scaled MatMul, Softmax and a second MatMul. PyTorch computes the same thing, so
parity holds against the explicit path; training never takes this path (it has no backward).
"""

from __future__ import annotations

import torch

# ONNX Runtime's contrib operator domain and the opset the export declares for it.
CONTRIB_DOMAIN = "com.microsoft"
CONTRIB_OPSET = 1
_INT32 = 6  # onnx.TensorProto.INT32: the operator's key padding mask type


def reference_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bias: torch.Tensor,
    key_mask: torch.Tensor | None,
    num_heads: int,
) -> torch.Tensor:
    """query (B, Q, D), key/value (B, K, D) before their biases, bias (3D,) = [b_q, b_k, b_v],
    key_mask (B, K) bool or None. Returns the context (B, Q, D), heads merged."""
    size = query.shape[-1]
    b_q, b_k, b_v = bias.split(size)

    def heads(x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, H, T, hs)
        return x.view(x.shape[0], x.shape[1], num_heads, size // num_heads).transpose(1, 2)

    logits = heads(query + b_q) @ heads(key + b_k).transpose(-1, -2) * (size // num_heads) ** -0.5
    if key_mask is not None:
        logits = logits.masked_fill(~key_mask[:, None, None, :], torch.finfo(logits.dtype).min)
    context = torch.softmax(logits, dim=-1) @ heads(value + b_v)  # (B, H, Q, hs)
    return context.transpose(1, 2).reshape(query.shape)


class _MultiHeadAttention(torch.autograd.Function):
    """Forward: `reference_attention`. Export: one `com.microsoft::MultiHeadAttention` node."""

    @staticmethod
    def forward(ctx, query, key, value, bias, key_mask, num_heads):
        return reference_attention(query, key, value, bias, key_mask, num_heads)

    @staticmethod
    def symbolic(g, query, key, value, bias, key_mask, num_heads):
        inputs = [query, key, value, bias]
        if key_mask is not None and not key_mask.node().mustBeNone():
            inputs.append(g.op("Cast", key_mask, to_i=_INT32))  # (B, K): 1 attend, 0 padding
        context = g.op(f"{CONTRIB_DOMAIN}::MultiHeadAttention", *inputs, num_heads_i=num_heads)
        context.setType(query.type())  # (B, Q, D), like the queries
        return context


def fused_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bias: torch.Tensor,
    key_mask: torch.Tensor | None,
    num_heads: int,
) -> torch.Tensor:
    """Multi-head attention that exports as one fused operator (shapes: `reference_attention`)."""
    return _MultiHeadAttention.apply(query, key, value, bias, key_mask, num_heads)
