import torch

from model import VARIANTS

ALL_VARIANTS = list(VARIANTS)


def ragged_batch(lengths: list[int], vocab_size: int, seed: int = 0):
    """Right-padded [CLS] ... [SEP] documents of the given real lengths (ids 2 and 3)."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    input_ids = torch.randint(5, vocab_size, (len(lengths), width), generator=generator)
    attention_mask = torch.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        attention_mask[row, :length] = 1
        input_ids[row, 0] = 2
        input_ids[row, length - 1] = 3
        input_ids[row, length:] = 0
    return input_ids, attention_mask
