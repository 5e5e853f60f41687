"""A numpy forward pass of a BERT sentence-transformers model, for a query or a few.

A command-line recall embeds one short query. Importing torch and sentence-transformers
and loading the model costs 3-5 s; ONNX Runtime needs a one-time export (torch again)
and ~0.4 s to build its session. The model is small (6 layers of 384 for
all-MiniLM-L6-v2), so numpy runs it from the memory-mapped safetensors file in tens of
milliseconds per query, with the model's own tokenizer (``tokenizers``, no torch).

The forward pass is Hugging Face's ``BertModel`` in eval mode (post-LayerNorm encoder,
exact erf GELU), then what the packaged ``modules.json`` says: mean pooling over the
tokens, L2 normalisation. Vectors equal torch's to float32 rounding (tests require
cosine >= 0.9999 on real text). Texts run one at a time, unpadded: meant for queries, not
for ingesting a corpus (use ``backend="onnx"`` or torch for that).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from core._numpy_nn import gelu, layer_norm, read_safetensors


class NumpyBertEncoder:
    """Tokenize, run BERT in numpy, mean-pool and normalise; one text at a time.

    Parameters
    ----------
    model_dir : path
        A sentence-transformers folder with ``config.json``, ``model.safetensors`` and
        ``tokenizer.json`` whose modules are Transformer -> mean Pooling -> Normalize
        (``core.embedding.onnx_equivalent`` checks that).
    """

    def __init__(self, model_dir, max_seq_length: int | None = None):
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if cfg.get("model_type") != "bert" or cfg.get("hidden_act", "gelu") != "gelu" \
                or cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{model_dir}: the numpy runtime runs BERT models with absolute positions and "
                             f"erf GELU, not {cfg.get('model_type')!r}/{cfg.get('hidden_act')!r}")
        if max_seq_length is None:
            st = model_dir / "sentence_bert_config.json"
            max_seq_length = json.loads(st.read_text()).get("max_seq_length", 256) if st.is_file() else 256
        self.max_seq_length = min(int(max_seq_length), int(cfg["max_position_embeddings"]))
        self.dim = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        w, _ = read_safetensors(model_dir / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
        # views of the memory map: nothing is copied, pages are read as the forward pass touches them
        self.w = {k[len(prefix):]: v for k, v in w.items() if k.startswith(prefix)}
        if any(v.dtype != np.float32 for k, v in self.w.items() if k.endswith((".weight", ".bias"))):
            raise ValueError(f"{model_dir}: the numpy runtime reads float32 weights only")
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _forward(self, ids: np.ndarray, types: np.ndarray) -> np.ndarray:
        w, n, eps = self.w, len(ids), self.eps
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][types]).astype(np.float32)
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        hd = self.dim // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            q, k, v = (self._linear(x, f"{p}.attention.self.{t}").reshape(n, self.heads, hd).transpose(1, 0, 2)
                       for t in ("query", "key", "value"))
            scores = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(hd))  # (heads, n, n)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            ctx = (scores / scores.sum(axis=-1, keepdims=True)) @ v  # (heads, n, hd)
            att = self._linear(ctx.transpose(1, 0, 2).reshape(n, self.dim), f"{p}.attention.output.dense")
            x = layer_norm(att + x, w[f"{p}.attention.output.LayerNorm.weight"],
                            w[f"{p}.attention.output.LayerNorm.bias"], eps)
            h = self._linear(gelu(self._linear(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
            x = layer_norm(h + x, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"], eps)
        return x

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-norm float32 rows (len(texts), dim): mean of the token vectors, normalised.

        BLAS runs at one thread meanwhile (process-wide, restored after): matrices of one
        text are too small to share, and on a loaded 2-core machine a second BLAS thread
        only waits for a core (one query: 160 ms with two threads, 35 ms with one, load 7).
        """
        from threadpoolctl import threadpool_limits

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            for row, enc in enumerate(self.tokenizer.encode_batch(list(texts))):
                hidden = self._forward(np.asarray(enc.ids, dtype=np.int64), np.asarray(enc.type_ids, dtype=np.int64))
                pooled = hidden.mean(axis=0)
                out[row] = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return out
