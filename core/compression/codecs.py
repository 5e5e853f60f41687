"""The two codecs the pipeline compares: its VQ-VAE and FAISS ``OPQ{M},PQ{M}``.

Training, saving and loading the VQ-VAE (safetensors, nothing unpickled), coding with it
in batches, and building the FAISS index at the same byte budget.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core._io import atomic_write_bytes
from core.compression.artifacts import damaged, existing
from core.compression.config import PipelineConfig


def resolve_device(device: str) -> str:
    """The torch device ``device`` names; one this machine lacks is a ``ValueError`` (``device: "cuda"``
    on a machine without CUDA ran on the CPU without a word)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= count:
            raise ValueError(f"device={device!r} but torch sees {count} CUDA device(s) here; use 'cpu' or 'auto'")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' but torch has no MPS (Apple GPU) backend here; use 'cpu' or 'auto'")
    return device


def train_config(config: PipelineConfig):
    """The :class:`TrainConfig` the pipeline keys translate into."""
    from core.reasoning.vqvae.train import TrainConfig

    return TrainConfig(input_dim=config.embedding_dimension, hidden_dim=config.vqvae_hidden_dim,
                       latent_dim=config.vqvae_embedding_dim, num_heads=config.vqvae_num_heads,
                       codebook_size=config.vqvae_num_embeddings, epochs=config.vqvae_epochs,
                       warmup_epochs=min(1, config.vqvae_epochs - 1),
                       batch_size=config.batch_size, learning_rate=config.vqvae_learning_rate,
                       seed=config.seed, num_threads=1,
                       # the orthogonal loss compares every code with every code of every
                       # other head: (heads * K)^2 cosines per step, 1 GB at 64 heads; with
                       # heads in separate latent slices it adds nothing the split does not give
                       orthogonal_weight=0.0)


def save_vqvae(model, tconf, folder: Path) -> None:
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(folder / "vqvae.safetensors", save(state))
    tconf.to_json(folder / "vqvae_train_config.json")


def load_vqvae(folder: Path, config: PipelineConfig | None = None):
    """The VQ-VAE a pipeline run trained, in eval mode (safetensors: nothing is unpickled).

    With ``config`` (the run's), ``vqvae_train_config.json`` must be the one it implies: an edited
    ``hidden_dim`` of 10**6 would otherwise build a model of gigabytes before the weights are read.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from core.reasoning.vqvae.train import TrainConfig, build_model

    card = existing(folder / "vqvae_train_config.json")
    try:
        tconf = TrainConfig.from_json(card)
    except ValueError as exc:
        raise damaged(card, str(exc).replace(f"training config {card} is ", "")[:300]) from None
    if config is not None:
        want, got = train_config(config).to_dict(), tconf.to_dict()
        differ = [k for k in want if got.get(k) != want[k]]
        if differ:
            raise damaged(card, f"{differ[0]}={got.get(differ[0])!r} where the run's config gives {want[differ[0]]!r}")
    model = build_model(tconf)
    path = existing(folder / "vqvae.safetensors")
    try:
        model.load_state_dict(load(path.read_bytes()))
    except (SafetensorError, RuntimeError, ValueError) as exc:  # truncated, overwritten, or another model's
        raise damaged(path, str(exc).strip().splitlines()[0][:200]) from None
    return model.eval()


def vqvae_encode(model, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Codes (n, heads) of ``X``: uint8 when the codebooks hold <= 256 codes, else uint16."""
    was_training = model.training
    model.eval()
    try:
        return model.encode_codes(X, batch)
    finally:
        model.train(was_training)


def vqvae_decode(model, codes: np.ndarray, batch: int = 4096) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = [model.decode_indices(torch.from_numpy(codes[s:s + batch].astype(np.int64))).cpu().numpy()
               for s in range(0, codes.shape[0], batch)]
    return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


def check_codes(codes: np.ndarray, heads: int, codebook_size: int, path) -> None:
    """Codes read back from ``path`` must have the dtype, width and range the model implies."""
    from core.reasoning.vqvae.layers import code_dtype

    want = code_dtype(codebook_size)
    if codes.ndim != 2 or codes.dtype != want or codes.shape[1] != heads:
        raise ValueError(f"{path} must hold {want} codes of shape (n, {heads}) for a {heads}-head, "
                         f"{codebook_size}-code VQ-VAE, got {codes.dtype} {codes.shape}; re-run the pipeline")
    if codes.size and int(codes.max()) >= codebook_size:
        raise ValueError(f"{path} holds code {int(codes.max())}, outside [0, {codebook_size - 1}]; re-run the pipeline")


def opq_encode(index, X: np.ndarray) -> np.ndarray:
    """FAISS OPQ+PQ codes of ``X``: uint8 (n, M), one byte per sub-quantizer."""
    return np.ascontiguousarray(index.sa_encode(np.ascontiguousarray(X, dtype=np.float32)))


def opq_decode(index, codes: np.ndarray) -> np.ndarray:
    """Vectors (n, d) from OPQ+PQ codes; the inverse of :func:`opq_encode` up to quantisation."""
    if codes.ndim != 2 or codes.dtype != np.uint8 or codes.shape[1] != index.sa_code_size():
        raise ValueError(f"OPQ codes must be uint8 of shape (n, {index.sa_code_size()}), "
                         f"got {codes.dtype} {codes.shape}; re-run the pipeline")
    return np.ascontiguousarray(index.sa_decode(np.ascontiguousarray(codes)), dtype=np.float32)


def opq_pq(d: int, M: int):
    """An untrained FAISS ``OPQ{M},PQ{M}`` index without polysemous training.

    ``index_factory`` turns polysemous training on: it only reorders the centroids for Hamming
    search, which we never run (the decoded vectors are identical), and it cost 27 s of the 27.8 s
    PQ16 training took on 975 vectors, 108 s of 137 s at PQ64 (one thread).
    """
    import faiss

    index = faiss.index_factory(d, f"OPQ{M},PQ{M}")
    faiss.downcast_index(index.index).do_polysemous_training = False
    return index


def faiss_quantizers(d: int, m: int) -> dict:
    """Makers of the FAISS quantizers we compare against at ``m`` bytes: PQ, OPQ+PQ, RQ, LSQ (8 bits a code)."""
    import faiss

    return {f"FAISS PQ{m}x8": lambda: faiss.IndexPQ(d, m, 8),
            f"FAISS OPQ{m},PQ{m}": lambda: opq_pq(d, m),
            f"FAISS RQ{m}x8": lambda: faiss.IndexResidualQuantizer(d, m, 8),
            f"FAISS LSQ{m}x8": lambda: faiss.IndexLocalSearchQuantizer(d, m, 8)}


def build_opq_index(X_train: np.ndarray, X_add: np.ndarray, M: int, iterations: int = 20, progress: bool = False):
    """A trained FAISS ``OPQ{M},PQ{M}`` index (M bytes per vector) holding ``X_add`` (may be empty).

    FAISS runs on one OpenMP thread: on a shared 2-core machine more threads spin
    against each other and run many times slower. ``progress`` shows a tqdm timer while it trains
    (84 s at the defaults; FAISS reports nothing until it is done).
    """
    if progress:
        from core.text import count

        return _timed(f"train FAISS OPQ{M},PQ{M} ({count(iterations, 'round')})",
                      lambda: build_opq_index(X_train, X_add, M, iterations))
    import faiss

    faiss.omp_set_num_threads(1)
    index = opq_pq(X_train.shape[1], M)
    opq = faiss.downcast_VectorTransform(index.chain.at(0))
    opq.niter = iterations
    # FAISS k-means and the OPQ rotation start from fixed internal seeds: training is deterministic
    opq.pq = _quiet_pq(X_train.shape[1], M)  # the one the rotation's training uses (its own by default)
    faiss.downcast_index(index.index).pq.cp.min_points_per_centroid = 1
    try:
        index.train(X_train)
    finally:
        opq.pq = None  # not owned by the index: no pointer to a Python object that goes away
    index.add(X_add)
    return index


def _timed(desc: str, work):
    """``work()``, with a tqdm bar counting the seconds it takes: FAISS's training has no progress callback,
    but it releases the GIL, so it runs in a thread while this one ticks."""
    import threading

    from tqdm.auto import tqdm

    result, error = [], []

    def run():
        try:
            result.append(work())
        except BaseException as exc:  # raised again in the caller's thread
            error.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    with tqdm(desc=desc, unit="s", bar_format="{desc}: {elapsed} elapsed") as bar:
        while worker.is_alive():
            worker.join(0.5)
            bar.update(0)
    if error:
        raise error[0]
    return result[0]


FAISS_ADVISED = 39 * 256  # FAISS's advice: 39 training vectors for each of a sub-quantizer's 256 codes


def _quiet_pq(d: int, M: int):
    """A ``PQ{M}`` whose k-means does not warn below :data:`FAISS_ADVISED` vectors.

    FAISS printed "WARNING clustering N points to 256 centroids: please provide at least 9984 training points"
    once per sub-quantizer and rotation round (48 lines at PQ16); the pipeline says it once, in its own words.
    The codes are the same (the setting only decides the warning).
    """
    import faiss

    pq = faiss.ProductQuantizer(d, M, 8)
    pq.cp.min_points_per_centroid = 1
    return pq


def faiss_reconstruct(index) -> np.ndarray:
    return np.ascontiguousarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)


def single_thread() -> None:
    """One torch and one FAISS thread: on a shared 2-core machine, more spin against each
    other and run many times slower (measured up to 20x); on an idle one it costs ~1.5x."""
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
