"""corebert's model: BERT with fuzzy key/value pruning and token combining (paper.md)."""

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from .configuration import VARIANTS, CoreBertConfig, map_paper_layer
from .modeling import CoreBertForSequenceClassification, CoreBertModel

AutoConfig.register(CoreBertConfig.model_type, CoreBertConfig, exist_ok=True)
AutoModel.register(CoreBertConfig, CoreBertModel, exist_ok=True)
AutoModelForSequenceClassification.register(
    CoreBertConfig, CoreBertForSequenceClassification, exist_ok=True
)

__all__ = [
    "VARIANTS",
    "CoreBertConfig",
    "CoreBertForSequenceClassification",
    "CoreBertModel",
    "map_paper_layer",
]
