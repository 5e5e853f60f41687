"""The compression pipeline's settings: ``vqvae_config.json`` read, defaulted and validated.

The keys keep the meaning the seed gave them (``device``, ``dataset_split``,
``sample_size``, ``batch_size``, ``test_fraction``, ``pq_M``, ``vqvae_hidden_dim``,
``vqvae_embedding_dim``, ``vqvae_num_embeddings``, ``vqvae_learning_rate``,
``vqvae_epochs``, ``embedding_dimension``); a few more say where data and artifacts
live and how many quantizer heads (bytes per item) the VQ-VAE uses. Every check happens
here, once, so the stages can trust the values: an unknown key, a wrong type or an
impossible combination is a ``ValueError`` that names the key.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core._io import read_config
from core.config import EMBEDDING_DIM, PROJECT_ROOT

DEFAULT_CONFIG_PATH = PROJECT_ROOT / "vqvae_config.json"
MIN_TRAIN = 1000
SPLITS = ("train", "validation", "test", "all")
_DEVICE = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")
METHODS = ("auto", "vqvae", "opq_pq")
MAX_CODEBOOK = 65_536
MAX_SEED = 2**64 - 1
MAX_NEIGHBOURS = 100
# generous ceilings (50x the defaults, 10x FAISS's own 50 OPQ rounds): 10**8 epochs ran with an ETA of ~15,763
# hours, 10**6 OPQ rounds for days, both without a word; no setting past these has ever helped the codecs
MAX_BOUNDS = {"vqvae_epochs": 1000, "opq_iterations": 500}


@dataclass
class PipelineConfig:
    """Settings of ``scripts/pipeline.py``, ``decode.py`` and ``evaluate.py``.

    Parameters
    ----------
    device : str, default="cpu"
        Torch device for VQ-VAE training and coding: ``cpu``, ``cuda``, ``cuda:N``,
        ``mps`` or ``auto``.
    dataset_split : {"all", "train", "validation", "test"}, default="all"
        Which WikiText-2 file(s) of ``data_path`` to read; ``all`` reads every split
        present (the shared data holds ``test`` raw and ``validation`` tokens).
    sample_size : int, default=10000
        Sentences taken (a seeded random sample) before the train/test split.
    batch_size : int, default=256
        Mini-batch size of VQ-VAE training and of embedding.
    test_fraction : float, default=0.2
        Share of sentences held out for compression and evaluation. Whole articles are
        held out, so no test sentence has a training sentence of its own article.
    pq_M : int, default=64
        Sub-quantizers (bytes per vector) of the FAISS OPQ+PQ index; divides
        ``embedding_dimension``.
    vqvae_hidden_dim, vqvae_embedding_dim : int, default=1024, 512
        Width of the VQ-VAE's hidden layer and of its latent (split over the heads).
    vqvae_num_embeddings : int, default=256
        Codes per head, 2 to 65,536. Up to 256 a code is stored in one byte (uint8); above,
        in two (uint16), so 512 codes double the bytes per item (9 bits would do if packed).
    vqvae_num_heads : int, default=64
        Quantizer heads, i.e. codes per compressed item; divides ``vqvae_embedding_dim``.
    vqvae_learning_rate : float, default=1e-3
    vqvae_epochs : int, default=20
        At most 1,000.
    embedding_dimension : int, default=384
        Dimension of the sentence embeddings (all-MiniLM-L6-v2).
    data_path : str or None, default=None
        A WikiText file or a folder of ``wiki.<split>.(raw|tokens)`` files; ``None``
        means ``<data_dir>/wikitext2``.
    artifacts_dir : str, default="artifacts"
        Where the stages write and read their files (relative to the working folder).
    seed : int, default=0
    decode_neighbours : int, default=5
        Nearest reference sentences shown to the LLM when one is configured, at most 100 (10**9 put
        every reference sentence in every prompt, and a 150 MB ``decoded.json``).
    opq_iterations : int, default=10
        Alternations of the OPQ rotation training (FAISS's default is 50; 10 keeps the
        default run within minutes on a loaded 2-core machine); at most 500.
    compression_method : {"auto", "vqvae", "opq_pq"}, default="auto"
        Which codes ``decode`` and ``evaluate`` use as the result. Both are always built
        and reported; ``auto`` takes the one with the higher mean reconstruction cosine on
        the held-out items (at 64 bytes FAISS OPQ64,PQ64 has won: .898 vs .865).
    """

    device: str = "cpu"
    dataset_split: str = "all"
    sample_size: int = 10_000
    batch_size: int = 256
    test_fraction: float = 0.2
    pq_M: int = 64
    vqvae_hidden_dim: int = 1024
    vqvae_embedding_dim: int = 512
    vqvae_num_embeddings: int = 256
    vqvae_num_heads: int = 64
    vqvae_learning_rate: float = 1e-3
    vqvae_epochs: int = 20
    embedding_dimension: int = EMBEDDING_DIM
    data_path: str | None = None
    artifacts_dir: str = "artifacts"
    seed: int = 0
    decode_neighbours: int = 5
    opq_iterations: int = 10
    compression_method: str = "auto"

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> "PipelineConfig":
        """Raise ``ValueError`` naming the first bad key; return ``self`` when all is well."""
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), f.type)
        _positive_ints = ("sample_size", "batch_size", "pq_M", "vqvae_hidden_dim",
                          "vqvae_embedding_dim", "vqvae_num_heads", "vqvae_epochs",
                          "embedding_dimension", "decode_neighbours", "opq_iterations")
        for key in _positive_ints:
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        for key, bound in MAX_BOUNDS.items():
            if getattr(self, key) > bound:
                raise ValueError(f"{key} must be at most {bound:,}, got {getattr(self, key):,} (the default is "
                                 f"{getattr(PipelineConfig, key)}; more would run for hours without helping)")
        if not 0 <= self.seed <= MAX_SEED:  # torch's generators take 64 bits ("Overflow when unpacking long long")
            raise ValueError(f"seed must lie in [0, 2**64 - 1], got {self.seed}")
        for key in ("artifacts_dir", "data_path"):  # "" was the working folder
            if getattr(self, key) is not None and not getattr(self, key).strip():
                raise ValueError(f"{key} is empty; give a folder{' or file' if key == 'data_path' else ''}"
                                 f"{' (or null for the default)' if key == 'data_path' else ''}")
        if self.decode_neighbours > MAX_NEIGHBOURS:  # each is in every LLM prompt and in decoded.json
            raise ValueError(f"decode_neighbours must be at most {MAX_NEIGHBOURS}, got {self.decode_neighbours} "
                             f"(a paid LLM would read that many sentences for every item)")
        if not _DEVICE.match(self.device):
            raise ValueError(f"device must be 'cpu', 'auto', 'mps', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.dataset_split not in SPLITS:
            raise ValueError(f"dataset_split must be one of {SPLITS}, got {self.dataset_split!r}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {self.test_fraction}")
        if not 0.0 < self.vqvae_learning_rate < math.inf:  # Infinity (JSON accepts it) trained into NaN weights
            raise ValueError(f"vqvae_learning_rate must be a finite number > 0, got {self.vqvae_learning_rate}")
        if not 2 <= self.vqvae_num_embeddings <= MAX_CODEBOOK:
            raise ValueError(
                f"vqvae_num_embeddings must lie in [2, {MAX_CODEBOOK}] (codes are uint8 up to 256, "
                f"uint16 above), got {self.vqvae_num_embeddings}")
        if self.compression_method not in METHODS:
            raise ValueError(f"compression_method must be one of {METHODS}, got {self.compression_method!r}")
        if self.embedding_dimension != EMBEDDING_DIM:
            raise ValueError(
                f"embedding_dimension must be {EMBEDDING_DIM} (the all-MiniLM-L6-v2 embedder), "
                f"got {self.embedding_dimension}")
        if self.embedding_dimension % self.pq_M:
            raise ValueError(
                f"pq_M={self.pq_M} must divide embedding_dimension={self.embedding_dimension} "
                f"(FAISS PQ splits the vector into pq_M equal parts)")
        if self.vqvae_embedding_dim % self.vqvae_num_heads:
            raise ValueError(
                f"vqvae_num_heads={self.vqvae_num_heads} must divide "
                f"vqvae_embedding_dim={self.vqvae_embedding_dim}")
        n_test = int(round(self.sample_size * self.test_fraction))
        n_train = self.sample_size - n_test
        if n_test < 1:
            raise ValueError(
                f"sample_size={self.sample_size} with test_fraction={self.test_fraction} "
                f"leaves no test sentence")
        if n_train < MIN_TRAIN:
            raise ValueError(
                f"sample_size={self.sample_size} with test_fraction={self.test_fraction} leaves "
                f"{n_train} training sentences; need at least {MIN_TRAIN} (the 256-code FAISS PQ "
                f"codebooks, and FAISS's OPQ training crashes on a few hundred points)")
        return self

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_dict(cls, values: dict) -> "PipelineConfig":
        """Build from a mapping; unknown keys are an error (a typo must not pass silently)."""
        if not isinstance(values, dict):
            raise ValueError(f"the config must be a JSON object, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known keys: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def artifacts(self) -> Path:
        return Path(self.artifacts_dir).expanduser()  # "~/runs" made a folder named "~"

    @property
    def code_bytes(self) -> int:
        """Bytes one VQ-VAE code is stored in: 1 (uint8) up to 256 codes, else 2 (uint16)."""
        return 1 if self.vqvae_num_embeddings <= 256 else 2

    @property
    def bytes_per_item(self) -> int:
        """Bytes of one VQ-VAE-compressed item as stored: heads x code bytes."""
        return self.vqvae_num_heads * self.code_bytes


def _check_type(key: str, value, annotation) -> None:
    ann = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    optional = "None" in ann
    if value is None:
        if optional:
            return
        raise ValueError(f"{key} must not be null")
    if ann.startswith("int"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        want = "an integer"
    elif ann.startswith("float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        want = "a number"
    else:
        ok = isinstance(value, str)
        want = "a string"
    if not ok:
        raise ValueError(f"{key} must be {want}, got {value!r} ({type(value).__name__})")


def load_config(path: str | os.PathLike | None = None) -> PipelineConfig:
    """Read a pipeline config file; defaults when ``path`` is None and no default file exists.

    Parameters
    ----------
    path : path or None
        A JSON file. ``None`` reads ``vqvae_config.json`` at the project root when it
        exists, else uses the built-in defaults. A given path that does not exist is a
        ``FileNotFoundError``.
    """
    if path is None:
        if not DEFAULT_CONFIG_PATH.is_file():
            return PipelineConfig()
        path = DEFAULT_CONFIG_PATH
    return PipelineConfig.from_dict(_read(Path(path).expanduser()))


def _read(path: Path):
    """The file's JSON (a BOM is fine, a key given twice is an error): :func:`core._io.read_config`."""
    return read_config(path, "config file")
