"""benchmarks/model_speed.py's multiply-accumulate count, against the layer formula by hand."""

from types import SimpleNamespace

from benchmarks import model_speed

SHAPE = {"hidden_size": 4, "intermediate_size": 8, "num_hidden_layers": 6}


def combining(insert_combiner: bool = False) -> SimpleNamespace:
    return SimpleNamespace(num_combination_tokens=2, combine_layer=4, prune_queries=False,
                           insert_combiner=insert_combiner)  # fmt: skip


def test_an_inserted_combiner_adds_one_layer_over_the_combined_tokens():
    kept = [10.0, 9.0, 8.0, 0.0, 0.0, 0.0]
    replaced = model_speed.corebert_macs(SHAPE, combining(), kept, 10)
    inserted = model_speed.corebert_macs(SHAPE, combining(insert_combiner=True), kept, 10)
    # One BERT layer over m = 2 tokens: 2 * (2*4*4 + 2*4*8) + 2*2*4*4 + 2*2*2*4 = 288.
    assert inserted - replaced == 288 == model_speed.layer_macs(2, 2, 4, 8)


def test_layers_before_lc_count_every_query_over_the_kept_keys():
    kept = [10.0, 9.0, 8.0, 0.0, 0.0, 0.0]
    total = model_speed.corebert_macs(SHAPE, combining(), kept, 10)
    before = sum(model_speed.layer_macs(10 + 2, count + 2, 4, 8) for count in kept[:3])
    combiner = 2 * 10 * 4 * 4 + 2 * 2 * 4 * 4 + 2 * 2 * 10 * 4
    assert total == before + combiner + 2 * model_speed.layer_macs(2, 2, 4, 8)
