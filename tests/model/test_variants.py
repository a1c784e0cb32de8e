"""Variants and pruning rules: one registry each, no silent fall-through, no torch to list them."""

import subprocess
import sys
import textwrap

import pytest
import torch

from model import CoreBertConfig, reduction, variants
from tests.factories import make_tiny_model, tiny_config_kwargs
from tests.model.conftest import ragged_batch

VOCAB = tiny_config_kwargs()["vocab_size"]


def test_the_variant_list_loads_without_torch_or_transformers():
    script = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers"):
                    raise ImportError(f"{name} is blocked")

        sys.meta_path.insert(0, Block())
        from model import VARIANTS, map_paper_layer
        import training.args
        print(",".join(VARIANTS), map_paper_layer(7, 6))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["bert,p,pf,c,pfc", "4"]


def test_unknown_names_fail_with_the_known_ones_listed():
    with pytest.raises(ValueError, match="bert, p, pf, c, pfc"):
        variants.get_variant("pq")
    with pytest.raises(ValueError, match=r"none.*ratio.*fuzzy"):
        CoreBertConfig(pruning="random")


def test_a_stored_config_must_name_the_variant_its_values_make():
    config = CoreBertConfig.for_variant("pfc", **tiny_config_kwargs())
    assert CoreBertConfig.from_dict(config.to_dict()).variant == "pfc"
    with pytest.raises(ValueError, match="for_variant"):
        CoreBertConfig(variant="pfc")


def test_method_options_are_what_the_config_holds():
    config = CoreBertConfig.for_variant("pfc", keep_ratio=0.7, **tiny_config_kwargs())
    options = config.method_options()
    assert options["variant"] == "pfc" and options["keep_ratio"] == 0.7
    assert options["combine_layer"] == config.combine_layer
    assert CoreBertConfig.for_variant(**{**options, **tiny_config_kwargs()}).to_dict() == (
        config.to_dict()
    )


def keep_first_half(scores, candidate_mask, key_counts, config):
    """A throw-away rule: keep half of the keys/values (rounded up) at every pruning layer."""
    return (key_counts + 1) // 2


def test_a_registered_rule_runs_through_the_encoder(monkeypatch):
    """Adding a pruning rule touches two places: the rule table and a variant that names it."""
    monkeypatch.setitem(reduction.PRUNING_RULES, "half", keep_first_half)
    monkeypatch.setitem(variants.VARIANTS, "ph", variants.Variant("ph", "half", False, "keep half"))
    model = make_tiny_model("ph")
    assert model.config.variant == "ph"
    input_ids, attention_mask = ragged_batch([40, 9], VOCAB)
    with torch.no_grad():
        kept = model(input_ids, attention_mask).kept_kv_counts.tolist()
    assert kept == [[40, 20, 10, 5, 3], [9, 5, 3, 2, 1]]
