"""`MycelialVQVAE`: the codec users hold, float32 (n, 384) <-> uint8 codes (n, 4).

It loads the MonolithWiki weights shipped inside the package (offline, read-only), falls
back to the legacy MonolithV13 when those are missing or broken, and later also carries
the Hebbian ``network`` that the codes feed. Weights are read with safetensors (legacy ``.pth`` files
by parsing their pickle opcodes, :mod:`core.reasoning.vqvae._pth`): nothing is ever unpickled;
the reading and checking of a model file is in ``_model_file.py``.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from core._io import atomic_write_bytes, atomic_write_text, read_json
from core._validation import NotFittedError, check_codes, check_embeddings, check_flags
from core.reasoning.mycelial import _model_file
from core.reasoning.mycelial._checks import MAX_REFINE, check_search  # noqa: F401 - MAX_REFINE kept importable here
from core.reasoning.mycelial._model_file import _paths, _read_model
from core.reasoning.vqvae.layers import code_dtype

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "vqvae" / "weights"
DEFAULT_WEIGHTS = "monolith_wiki.safetensors"
LEGACY_WEIGHTS = ("monolith_v13.safetensors", "monolith_v13_trained.pth")
# bytes per vector -> shipped MonolithWiki weights (heads of 256 codes; 8 and 16 are optional extras)
BUDGET_WEIGHTS = {4: DEFAULT_WEIGHTS, 8: "monolith_wiki_8b.safetensors", 16: "monolith_wiki_16b.safetensors"}
MAX_ABS = 1e15  # |value| of an embedding; from ~1e19 float32 overflows inside the encoder
MODEL_CLASSES = _model_file.MODEL_CLASSES  # kept importable from here; the file reader owns it


def read_card(path: str | Path) -> dict:
    """The JSON card saved beside a model (:meth:`MycelialVQVAE.save`): config, data, metrics."""
    return read_json(_paths(path)[1], "model card")


def _user_path(path) -> Path:
    """A path as a shell user means it: ``~`` is the home folder (it made a folder named ``~``), and an
    empty path is an error (it was the working folder)."""
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    if str(path) == "":
        raise ValueError("path is empty; give a .safetensors file or a model folder")
    return Path(path).expanduser()


def _json_value(v):
    """numpy numbers and arrays in a model card (metrics are often numpy scalars) as JSON values."""
    if isinstance(v, (np.generic, np.ndarray)):
        return v.tolist()
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


def _budget_of(model) -> int:
    """Bytes a vector of the model's codes take (heads x 1 byte, 2 past 256 codes)."""
    return model.num_heads * np.dtype(code_dtype(model.codebook_size)).itemsize


def _heads(model) -> str:
    return f"{model.num_heads} heads of {model.codebook_size} codes ({_budget_of(model)} bytes a vector)"


def _row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.maximum(norms, 1e-12)


class MycelialVQVAE:
    """A trained VQ-VAE as a codec: ``encode`` to uint8 codes, ``decode`` back to vectors.

    Parameters
    ----------
    model : MonolithWiki or MonolithV13
        A trained model; it is put in eval mode.
    network : object, optional
        The Hebbian network the codes feed (added by the reasoning layer).

    Examples
    --------
    >>> mvq = MycelialVQVAE.load_default()
    >>> codes = mvq.encode(np.eye(2, 384, dtype=np.float32))
    >>> codes.shape, codes.dtype
    ((2, 4), dtype('uint8'))
    >>> mvq.decode(codes).shape
    (2, 384)
    """

    def __init__(self, model=None, network=None):
        self.model = model
        self.network = network

    # -- loading ------------------------------------------------------------------------
    @classmethod
    def load_default(cls, weights_dir: str | Path | None = None, bytes: int = 4) -> "MycelialVQVAE":
        """Load the shipped MonolithWiki weights; fall back to MonolithV13 (4 bytes only).

        Parameters
        ----------
        weights_dir : path, optional
            Folder to look in instead of the package's ``vqvae/weights``.
        bytes : {4, 8, 16}, default=4
            Code bytes per vector (heads of 256 codes). 8 and 16 load the larger
            optional models, which trade size for reconstruction quality.

        Raises
        ------
        ValueError
            ``bytes`` is not a shipped budget.
        FileNotFoundError or ValueError
            When no model loads; the message lists what was tried and why it failed.
        """
        if not isinstance(bytes, (int, np.integer)) or isinstance(bytes, bool) or bytes not in BUDGET_WEIGHTS:
            raise ValueError(f"bytes={bytes!r} is not a shipped budget; choose one of "
                             f"{sorted(BUDGET_WEIGHTS)}")
        folder = _user_path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
        if bytes != 4:  # no legacy fallback: it would silently change the code width
            path = folder / BUDGET_WEIGHTS[bytes]
            try:
                model = _read_model(path, path.with_suffix(".json"))
            except FileNotFoundError as exc:
                raise FileNotFoundError(f"no {bytes}-byte VQ-VAE weights: {exc}") from None
            if _budget_of(model) != bytes:
                raise ValueError(f"{path} holds {_heads(model)}, not the {bytes} bytes its name promises")
            return cls(model)
        failures = []
        for i, name in enumerate((DEFAULT_WEIGHTS, *LEGACY_WEIGHTS)):
            path = folder / name
            try:
                model = _read_model(path, path.with_suffix(".json"))
            except Exception as exc:  # every reason is reported below
                failures.append(f"{path}: {exc}")
                continue
            if _budget_of(model) != 4:  # an 8-head model under the 4-byte name gave 8-byte codes, silently
                failures.append(f"{path}: holds {_heads(model)}, not the 4 bytes its name promises")
                continue
            if i > 0:
                warnings.warn(f"MonolithWiki weights did not load ({failures[0]}); "
                              f"using the legacy MonolithV13 from {path}", stacklevel=2)
            return cls(model)
        raise FileNotFoundError("no VQ-VAE weights could be loaded; tried:\n  " + "\n  ".join(failures)
                                + "\nReinstall the package or train one with `mycelial train`.")

    @classmethod
    def load(cls, path: str | Path) -> "MycelialVQVAE":
        """Load a model saved by :meth:`save` (a ``.safetensors`` file or a folder), or a legacy ``.pth``."""
        path = _user_path(path)
        if path.suffix == ".pth":
            return cls(_read_model(path))
        if path.suffix == ".json" and path.with_suffix(".safetensors").is_file():  # the card given for its weights
            path = path.with_suffix(".safetensors")
        if path.is_file() and path.suffix != ".safetensors":
            raise ValueError(f"{path} is not a weights file: give a .safetensors file (its .json beside it) "
                             f"or a folder holding model.safetensors")
        weights, config = _paths(path)
        if path.is_dir() and not weights.is_file():
            found = sorted(p.name for p in path.glob("*.safetensors"))
            if found:
                raise FileNotFoundError(f"no model.safetensors in {path}; it holds {', '.join(found[:5])}: "
                                        f"give one of them, e.g. {path / found[0]}")
        return cls(_read_model(weights, config))

    def save(self, path: str | Path, card: dict | None = None, dtype: str = "float32") -> Path:
        """Write safetensors weights (config in their metadata) and a JSON config beside them.

        Parameters
        ----------
        path : path
            A ``.safetensors`` file (the JSON goes beside it, same stem) or a folder
            (``model.safetensors`` + ``config.json``).
        card : dict, optional
            Extra entries for the JSON (metrics, data, training config).
        dtype : {"float32", "float16"}
            Storage precision; float16 halves the file and loads back as float32.

        Both files are written atomically. Returns the weights path.

        Raises
        ------
        FileExistsError
            When either file exists and is not a saved model's (a project's own ``config.json``):
            it was replaced without a word. Nothing is written.
        """
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        if card is not None and not isinstance(card, dict):
            raise TypeError(f"card must be a dict of extra JSON entries, got {type(card).__name__}")
        from safetensors.torch import save

        model = self._checked_model()
        weights, config_path = _paths(_user_path(path))
        foreign = _model_file.foreign_file(weights, config_path)
        if foreign is not None:
            raise FileExistsError(f"{foreign}; nothing was written: save to a new file or folder")
        info = {"model_class": type(model).__name__, "model_config": model.config}
        # the card is serialised before anything is written: a value JSON cannot hold used to fail
        # after the weights were replaced, leaving them beside the previous model's card
        try:
            card_text = json.dumps({**info, **{k: v for k, v in (card or {}).items() if k not in info}}, indent=2, default=_json_value) + "\n"
        except (TypeError, ValueError) as exc:
            raise TypeError(f"card cannot be written as JSON: {exc}") from None
        tensors = {k: (v.half() if dtype == "float16" and v.is_floating_point() else v).detach().cpu().contiguous()
                   for k, v in model.state_dict().items()}
        for k, v in tensors.items():  # beyond float16's 65504 the file held inf, and load called it damaged
            if v.is_floating_point() and not np.isfinite(v.numpy()).all():  # numpy: see _model_file._finite
                raise ValueError(f"tensor {k} does not fit {dtype} (values beyond its range or NaN); "
                                 f"save it as float32")
        atomic_write_bytes(weights, save(tensors, metadata={"config": json.dumps(info)}))
        atomic_write_text(config_path, card_text)
        return weights

    # -- properties ---------------------------------------------------------------------
    def _checked_model(self):
        if self.model is None:
            raise NotFittedError("This MycelialVQVAE has no model. Use MycelialVQVAE.load_default() "
                                 "or MycelialVQVAE.load(path).")
        return self.model

    @property
    def num_heads(self) -> int:
        return self._checked_model().num_heads

    @property
    def codebook_size(self) -> int:
        return self._checked_model().codebook_size

    @property
    def dim(self) -> int:
        return self._checked_model().config["input_dim"]

    # -- codec --------------------------------------------------------------------------
    def encode(self, X, refine: int = 0, candidates: int | None = None, pairs: int = 0,
               batch_size: int = 4096, beam: int = 1) -> np.ndarray:
        """Codes of embeddings ``X`` (numpy or torch, shape (n, dim) or (dim,)).

        Parameters
        ----------
        X : array-like of shape (n, dim) or (dim,), float
        refine : int, default=0
            Number of ICM sweeps that re-pick codes to minimise the *decoded*
            reconstruction error (:meth:`MonolithWiki.refine_indices`). Slower (a few ms
            per vector) but better codes for a database that is encoded once; 0 keeps
            the plain encoder, whose codes equal the model's forward pass.
        candidates : int, optional
            Codes tried per head and sweep when refining, 1 to ``codebook_size`` (16 when
            not given); needs ``refine``: the plain encoder has no candidates to try.
        pairs : int, default=0
            After refining, re-pick each pair of heads jointly from this many codes per
            head, at most ``candidates``; needs ``refine``. ``refine=2, candidates=32,
            pairs=12`` takes ~23 ms a vector and beats FAISS LSQ's reconstruction (README).
        beam : int, default=1
            Residual-quantizer models only: keep this many partial code sums per stage
            (beam search in the latent) instead of the greedy stage-by-stage codes.

        A search option the encoding would not use (``candidates`` or ``pairs`` without
        ``refine``, ``pairs`` above ``candidates``, more candidates than a codebook holds,
        ``beam=0``) is a ``ValueError``: it was ignored or cut down without a word.

        Returns
        -------
        ndarray of shape (n, num_heads), dtype uint8 (uint16 for codebooks past 256 codes):
        the dtype ``decode``, the network's ``reason`` and ``MycelialVQVAE.reason`` use too
        """
        model = self._checked_model()
        X = check_embeddings(X, self.dim, "embeddings")
        big = max(float(X.max()), -float(X.min()))  # np.abs(X) copied the whole batch just to check it
        if big > MAX_ABS:  # the encoder's LayerNorm squares them: inf, then NaN, then codes 0 0 0 0, silently
            row = int(np.argmax(np.abs(X).max(axis=1)))
            raise ValueError(f"embeddings hold a value of {big:.3g} (row {row}); the codec reads unit-length "
                             f"rows and values beyond {MAX_ABS:g} overflow it: normalise them first")
        candidates = check_search(refine, candidates, pairs, beam, self.codebook_size)
        beam = int(beam)
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if model.training:
            model.eval()
        # uint16 past 256 codes: a 512-code model's code 300 was stored as 44 without a word
        dtype = code_dtype(self.codebook_size)
        if X.shape[0] <= batch_size and not refine:  # fast path: one vector must stay well under 0.3 ms
            with torch.inference_mode():
                return np.ascontiguousarray(model._encode_indices(torch.from_numpy(X), beam).numpy(), dtype=dtype)
        if refine:  # candidates x hidden activations per row
            batch_size = min(batch_size, 512 if not pairs else max(16, 65536 // (pairs + 1) ** 2))
            if pairs:  # rows x (p+1)^2 trials x hidden floats: 16 rows at pairs=candidates=256 were 4.3 GB
                p = min(int(pairs), int(candidates), self.codebook_size)
                batch_size = min(batch_size, max(1, 65536 // (p + 1) ** 2) if p > 63 else batch_size)
        out = np.empty((X.shape[0], self.num_heads), dtype=dtype)
        with torch.inference_mode():
            for s in range(0, X.shape[0], batch_size):
                xb = torch.from_numpy(X[s:s + batch_size])
                idx = model._encode_indices(xb, beam)
                if refine:
                    idx = model.refine_indices(xb, idx, sweeps=int(refine), candidates=int(candidates),
                                               pairs=int(pairs))
                out[s:s + batch_size] = idx.numpy()
        return out

    def decode(self, codes, batch_size: int = 8192) -> np.ndarray:
        """Reconstructed embeddings (n, dim) float32 of ``codes`` (n, num_heads) in [0, codebook_size)."""
        model = self._checked_model()
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        codes = check_codes(codes, self.num_heads, self.codebook_size, "codes")
        if model.training:
            model.eval()
        out = np.empty((codes.shape[0], self.dim), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, codes.shape[0], batch_size):
                out[s:s + batch_size] = model.decode_indices(torch.from_numpy(codes[s:s + batch_size])).numpy()
        return out

    # -- the Hebbian network ------------------------------------------------------------
    def _checked_network(self):
        """The network, created on first use with this codec's heads and codebook size."""
        if self.network is None:
            from core.reasoning.mycelial.network import MycelialConfig, MycelialReasoning

            self.network = MycelialReasoning(
                MycelialConfig(num_heads=self.num_heads, codebook_size=self.codebook_size))
        config = self.network.config
        if (config.num_heads, config.codebook_size) != (self.num_heads, self.codebook_size):
            raise ValueError(
                f"network has {config.num_heads} heads x {config.codebook_size} codes but the VQ-VAE "
                f"has {self.num_heads} x {self.codebook_size}; build the network with matching sizes")
        return self.network

    def observe(self, X, groups=None) -> np.ndarray:
        """Encode embeddings and let each row's codes co-activate in the network.

        Parameters
        ----------
        X : array-like of shape (n, dim) or (dim,), float
        groups : array-like of shape (n,), optional
            Rows sharing a group id within the network's ``window`` also co-activate
            (e.g. neighbouring chunks of one document).

        Returns
        -------
        codes : ndarray of shape (n, num_heads), dtype uint8
        """
        codes = self.encode(X)
        self._checked_network().observe(codes, groups=groups)
        return codes

    def reason(self, X, steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Encode, then complete each pattern through the network (winner-take-all per head).

        Returns
        -------
        refined : ndarray of shape (n, num_heads), dtype uint8 (uint16 past 256 codes), as ``encode``'s
            The code each head's partners point to; the original where a head got no signal.
        activation : ndarray of shape (n, num_heads * codebook_size), float32 in [0, 1]
        """
        codes = self.encode(X)
        return self._checked_network().reason(codes, steps=steps)

    def full_pipeline(self, X, observe: bool = True, steps: int | None = None) -> dict:
        """Embeddings -> codes -> (observe) -> reason -> decoded vectors, in one call.

        Returns a dict with ``codes`` and ``refined_codes`` (uint8 (n, heads)),
        ``activation`` (float32 (n, nodes)), ``reconstruction`` and ``refined_reconstruction``
        (float32 (n, dim)), and the mean cosine of each reconstruction to the input
        (``cosine``, ``refined_cosine``), so a caller sees what the network's completion costs
        or gains against the plain codec.
        """
        check_flags(observe=observe)  # observe="no" is truthy: it taught the network
        X = check_embeddings(X, self.dim, "embeddings")
        codes = self.observe(X) if observe else self.encode(X)
        refined, activation = self._checked_network().reason(codes, steps=steps)  # encode's dtype
        recon, refined_recon = self.decode(codes), self.decode(refined)
        return {
            "codes": codes,
            "refined_codes": refined,
            "activation": activation,
            "reconstruction": recon,
            "refined_reconstruction": refined_recon,
            "cosine": float(np.mean(_row_cosine(X, recon))),
            "refined_cosine": float(np.mean(_row_cosine(X, refined_recon))),
        }

    def __repr__(self) -> str:
        name = type(self.model).__name__ if self.model is not None else None
        return f"MycelialVQVAE(model={name}, network={type(self.network).__name__ if self.network else None})"
