"""`SemanticMemory`'s arguments, checked before its folder is touched (a bad one named, never half a memory)."""
from __future__ import annotations

import numpy as np

from core.memory.types import RecallConfig


def check_settings(**values) -> None:
    """Whole numbers the memory needs; named here, before the folder is touched (``train_at=10`` made
    every ingest log a failed FAISS training, ``train_at=0`` failed with 'X is an empty batch')."""
    from core.memory.chunking import MAX_READ, _SPECIAL
    from core.memory.index import MIN_LISTS

    # max_tokens=0 made the folder, then failed at the first ingest ("max_tokens=0 is too small"); 10000 was
    # taken, and the model cut every chunk past its 256 word pieces without a word
    least = {"train_at": MIN_LISTS, "batch_size": 1, "rerank": 1, "nprobe": 1, "max_tokens": _SPECIAL + 5}
    most = {"max_tokens": MAX_READ}
    whys = {"train_at": " (the vector index trains that many lists)",
            "max_tokens": f" (word pieces a chunk may hold, [CLS] and [SEP] included; the model reads at most "
                          f"{MAX_READ}; default 128)"}
    for name, value in values.items():
        if value is None and name == "nprobe":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least[name] \
                or value > most.get(name, value):
            span = f"from {least[name]} to {most[name]}" if name in most else f"of at least {least[name]}"
            raise ValueError(f"{name} must be a whole number {span}{whys.get(name, '')}, got {value!r}")


def check_parts(embedder, codec, recall_config, network_config=None) -> None:
    """The objects a memory is given, named before the folder is touched: ``embedder="torch"`` opened the
    memory unchecked (a string has no backend to compare) and failed at the first recall with
    "'str' object has no attribute 'embed'"."""
    if embedder is not None and not callable(getattr(embedder, "embed", None)):
        hint = f"TextEmbedder(backend={embedder!r})" if isinstance(embedder, str) else "TextEmbedder()"
        raise TypeError(f"embedder must be a TextEmbedder, e.g. {hint}, got {type(embedder).__name__}")
    if codec is not None and (not callable(getattr(codec, "encode", None)) or not hasattr(codec, "num_heads")):
        raise TypeError(f"codec must be a MycelialVQVAE, e.g. MycelialVQVAE.load_default(), got {type(codec).__name__}")
    if network_config is not None:  # a dict made the folder and its SQLite store, then failed
        from core.reasoning.mycelial import MycelialConfig

        if not isinstance(network_config, MycelialConfig):
            raise TypeError(f"network_config must be a MycelialConfig, e.g. MycelialConfig(**{network_config!r}), "
                            f"got {type(network_config).__name__}" if isinstance(network_config, dict) else
                            f"network_config must be a MycelialConfig, got {type(network_config).__name__}")
    if recall_config is not None and not isinstance(recall_config, RecallConfig):
        raise TypeError(f"recall_config must be a RecallConfig, e.g. RecallConfig(**{recall_config!r}), "
                        f"got {type(recall_config).__name__}" if isinstance(recall_config, dict) else
                        f"recall_config must be a RecallConfig, got {type(recall_config).__name__}")
