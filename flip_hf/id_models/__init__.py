"""The ID-based CTR model zoo of the FLIP paper: AFM, PNN, Wide&Deep, DCN, DeepFM, xDeepFM,
AFN, AutoInt and DCN-V2.

Every model maps `(B, F)` global feature ids to an instance representation
`(B, model.output_dim)`; the prediction layer (`Linear(output_dim, 1)`) belongs to the caller.
Importing this package registers all models:

```python
from flip_hf.id_models import build_id_model

model = build_id_model("dcnv2", num_fields=8, feature_vocab_size=16851)
```
"""

from .afm import AFM
from .afn import AFN
from .autoint import AutoInt
from .base import IDModelBase
from .dcn import DCN
from .dcnv2 import DCNv2
from .deepfm import DeepFM
from .defaults import DEFAULT_EMBEDDING_DIM, DEFAULT_MLP_HIDDEN_SIZES
from .pnn import PNN
from .registry import (
    ID_MODEL_REGISTRY,
    build_id_model,
    get_id_model_class,
    list_id_models,
    register_id_model,
    resolve_id_model_name,
)
from .wide_deep import WideDeep
from .xdeepfm import XDeepFM

__all__ = [
    "DEFAULT_EMBEDDING_DIM",
    "DEFAULT_MLP_HIDDEN_SIZES",
    "IDModelBase",
    "ID_MODEL_REGISTRY",
    "register_id_model",
    "build_id_model",
    "list_id_models",
    "get_id_model_class",
    "resolve_id_model_name",
    "AFM",
    "PNN",
    "WideDeep",
    "DCN",
    "DeepFM",
    "XDeepFM",
    "AFN",
    "AutoInt",
    "DCNv2",
]
