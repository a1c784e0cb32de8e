"""corebert's model: BERT with fuzzy key/value pruning and token combining (docs/method.md).

`model.variants` imports neither torch nor transformers; the names below load the network's
modules (and register them with transformers' Auto classes) on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .variants import VARIANTS, map_paper_layer

if TYPE_CHECKING:
    from .configuration import CoreBertConfig
    from .modeling import CoreBertForSequenceClassification, CoreBertModel

_LAZY = {
    "CoreBertConfig": "model.configuration",
    "CoreBertModel": "model.modeling",
    "CoreBertForSequenceClassification": "model.modeling",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")


__all__ = [
    "VARIANTS",
    "CoreBertConfig",
    "CoreBertForSequenceClassification",
    "CoreBertModel",
    "map_paper_layer",
]
