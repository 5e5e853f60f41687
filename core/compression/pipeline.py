"""The compression pipeline: WikiText-2 -> sentences -> embeddings -> VQ-VAE codes + FAISS OPQ+PQ.

Stage one of three (``pipeline``, ``decode``, ``evaluate``); each stage reads what the
previous one wrote to ``config.artifacts_dir``, so they can be run, timed and re-run on
their own. Everything is written atomically and nothing is pickled: arrays as ``.npy``
(read back with ``allow_pickle=False``), text and summaries as JSON, the VQ-VAE as
safetensors, the FAISS index with ``faiss.write_index``.

Files written here:

=========================  ======================================================
``codes.npy``              the VQ-VAE codes of the test items: (n_test, heads), uint8 up to 256
                           codes a head, uint16 above
``opq_codes.npy``          FAISS ``OPQ{M},PQ{M}`` codes of the same items: uint8 (n_test, M)
``opq_pq.index``           the trained OPQ+PQ codec (rotation + codebooks, no items)
``vqvae.safetensors``      the trained VQ-VAE, with ``vqvae_train_config.json``
``test_embeddings.npy``    the original float32 embeddings of the test items (the input)
``items.json``             test sentences and articles (ground truth for evaluation)
``reference.json``         every sampled sentence (the similarity decoder's vocabulary)
``reference_embeddings.npy`` their embeddings
``pipeline.json``          config, counts, bytes in/out, ratios and mean cosine of both
                           methods, the ``method`` decode and evaluate use and why, timings
=========================  ======================================================

Both methods are always built and measured in the same run; ``compression_method``
(default ``auto``: the higher mean cosine on the held-out items) picks the result.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core._io import atomic_replace_from
from core.compression.artifacts import (DECODE_WRITES, EVALUATE_WRITES, MARKER, exclusive, foreign_file, mark,
                                        save_json, save_npy)
from core.compression.codecs import (FAISS_ADVISED, build_opq_index, opq_decode, opq_encode, resolve_device,
                                     save_vqvae, single_thread, train_config, vqvae_decode, vqvae_encode)
from core.compression.config import PipelineConfig
from core.config import data_dir
from core.datasets import read_wikitext
from core.text import count

FLOAT32_BYTES = 4
_SPLIT_STEMS = {"train": "wiki.train", "validation": "wiki.valid", "test": "wiki.test"}


# ---------------------------------------------------------------------------- data
def wikitext_files(config: PipelineConfig) -> list[Path]:
    """The WikiText file(s) that ``data_path`` and ``dataset_split`` select.

    ``data_path`` may be a file (read as is) or a folder in the standard layout
    (``wiki.train.raw`` / ``wiki.valid.tokens`` ...; raw preferred over tokens).
    """
    path = Path(config.data_path).expanduser() if config.data_path else data_dir() / "wikitext2"
    if path.is_file():
        return [path]
    if not path.is_dir():
        hint = "" if config.data_path else (" (the default under the shared data; set MYCELIAL_DATA_DIR to the "
                                            "folder holding wikitext2/, or data_path in the config)")
        what = "is neither a WikiText file nor a folder" if path.exists() else "does not exist"  # a typo said "neither"
        raise FileNotFoundError(f"data_path {path} {what}{hint}")
    splits = _SPLIT_STEMS if config.dataset_split == "all" else {config.dataset_split: _SPLIT_STEMS[config.dataset_split]}
    files = []
    for stem in splits.values():
        for ext in (".raw", ".tokens"):
            if (path / f"{stem}{ext}").is_file():
                files.append(path / f"{stem}{ext}")
                break
    if not files:
        raise FileNotFoundError(
            f"no WikiText file for dataset_split={config.dataset_split!r} in {path} "
            f"(looked for {', '.join(s + '.raw/.tokens' for s in splits.values())})")
    return files


@dataclass
class Corpus:
    """Sampled sentences, the article of each, and the held-out (test) mask."""

    sentences: list[str]
    doc_ids: list[str]
    is_test: np.ndarray
    available: int = 0  # sentences the data holds, before the sample


def load_sentences(config: PipelineConfig, log: Callable = print) -> tuple[list[str], list[str]]:
    """Read and sentence-split the WikiText file(s); keep a seeded sample of ``sample_size``."""
    return _sample(config, *_all_sentences(config), log)


def _all_sentences(config: PipelineConfig) -> tuple[list[str], list[str]]:
    """Every sentence of the WikiText file(s), with its article."""
    sentences, doc_ids = [], []
    files = wikitext_files(config)
    for path in files:
        try:
            for doc in read_wikitext(path):
                sentences += doc.sentences
                doc_ids += [doc.doc_id] * len(doc.sentences)
        except UnicodeDecodeError as exc:
            raise ValueError(f"data file {path} is not UTF-8 text (byte {exc.start}); expected a WikiText "
                             f"file") from None
    if not sentences:
        raise ValueError(f"no WikiText article found in {', '.join(map(str, files))}: expected "
                         f"' = Title = ' heading lines, each followed by the article's paragraphs")
    return sentences, doc_ids


def _sample(config: PipelineConfig, sentences: list[str], doc_ids: list[str], log: Callable):
    """A seeded sample of ``sample_size`` sentences (all of them when the data holds fewer)."""
    if len(sentences) > config.sample_size:
        rng = np.random.default_rng(config.seed)
        keep = np.sort(rng.choice(len(sentences), config.sample_size, replace=False))
        sentences = [sentences[i] for i in keep]
        doc_ids = [doc_ids[i] for i in keep]
    elif len(sentences) < config.sample_size:
        log(f"note: sample_size={config.sample_size} but only {len(sentences)} sentences available; using all")
    return sentences, doc_ids


def split_by_article(doc_ids: list[str], test_fraction: float, seed: int) -> np.ndarray:
    """Boolean test mask: whole articles, in seeded random order, until ``test_fraction`` is reached.

    Holding out articles (not sentences) keeps a test sentence's own article out of training.
    """
    ids = np.asarray(doc_ids)
    articles, counts = np.unique(ids, return_counts=True)
    if articles.size < 2:
        raise ValueError("the sample holds a single article; a split by article needs at least two")
    order = np.random.default_rng(seed).permutation(articles.size)
    target = test_fraction * ids.size
    chosen, total = [], 0
    for j in order:
        if total >= target:
            break
        if total + counts[j] > ids.size - 1:   # never take every sentence
            continue
        chosen.append(articles[j])
        total += counts[j]
    return np.isin(ids, chosen)


def _enough_to_train(config: PipelineConfig, corpus: Corpus) -> None:
    """The config checks ``sample_size``; the data may hold fewer sentences than that (a FAISS RuntimeError
    after the training, or an abort)."""
    n_train = int((~corpus.is_test).sum())
    need = max(config.embedding_dimension, config.vqvae_num_embeddings)
    if n_train < need:
        # FAISS's OPQ rotation aborts the process (SIGABRT, "munmap_chunk(): invalid pointer") below d rows
        why = (f"vqvae_num_embeddings={config.vqvae_num_embeddings} codes a head" if need > config.embedding_dimension
               else f"FAISS's OPQ training aborts the process on fewer rows than the {need} dimensions")
        if corpus.available > len(corpus.sentences):  # the sample is the limit, not the data (it said "more data")
            source, fix = (f"sample_size={config.sample_size} of the {corpus.available:,} sentences of "
                           f"{', '.join(map(str, wikitext_files(config)))} gave", "raise sample_size")
        else:
            source, fix = (f"{', '.join(map(str, wikitext_files(config)))} gave",
                           "give more data (data_path, dataset_split)")
        raise ValueError(f"{source} {len(corpus.sentences)} sentences, {n_train} for training once test_fraction="
                         f"{config.test_fraction} held out whole articles; need at least {need} ({why}): {fix}")


def _fits_in_memory(config: PipelineConfig, n_train: int, total: int | None = None) -> None:
    """Refuse a VQ-VAE this machine cannot hold: a typo (``vqvae_hidden_dim`` 1024000) or 4,096 codes x 64
    heads went on to embed, then died allocating (a torch traceback, or the kernel killed the process).

    The k-means seeding holds ~3 (heads, samples, codes) float tensors (1.7 GB measured at 64 x 8,000 x
    256); training holds the weights 4 times (weights, gradients, Adam's two moments).
    """
    d, h, e, k, heads = (config.embedding_dimension, config.vqvae_hidden_dim, config.vqvae_embedding_dim,
                         config.vqvae_num_embeddings, config.vqvae_num_heads)
    samples = min(n_train, train_config(config).kmeans_samples)
    kmeans = 3 * 4 * heads * samples * k
    weights = 4 * 4 * (2 * (d * h + h * e) + k * e)
    total = total or _available_memory()
    if kmeans + weights > total:
        raise ValueError(
            f"the VQ-VAE would need about {(kmeans + weights) / 2**30:.1f} GB ({kmeans / 2**30:.1f} GB for the k-means "
            f"of {count(heads, 'head')} x {samples:,} samples x {k:,} codes, {weights / 2**30:.1f} GB for training "
            f"{config.vqvae_hidden_dim:,}/{config.vqvae_embedding_dim:,}-wide layers), more than the "
            f"{total / 2**30:.1f} GB available: lower vqvae_num_embeddings, vqvae_num_heads or vqvae_hidden_dim")


def _available_memory() -> int:
    """Bytes the kernel says a new allocation can take (MemAvailable), else the machine's memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def load_corpus(config: PipelineConfig, log: Callable = print) -> Corpus:
    every = _all_sentences(config)
    sentences, doc_ids = _sample(config, *every, log)
    return Corpus(sentences, doc_ids, split_by_article(doc_ids, config.test_fraction, config.seed), len(every[0]))


# ---------------------------------------------------------------------------- stage
def run_pipeline(config: PipelineConfig, progress: bool = True, log: Callable = print) -> dict:
    """Embed, split, train, compress and index; returns (and writes) the run summary."""
    single_thread()
    out = config.artifacts
    timings, t0 = {}, time.perf_counter()

    if out.exists() and not out.is_dir():  # mkdir's "File exists" named no setting
        raise ValueError(f"artifacts_dir {out} is a file; give a folder (created if missing)")
    foreign = foreign_file(out)   # before the embedding, not after it
    if foreign is not None:
        raise ValueError(f"{foreign} exists and was not written by `mycelial pipeline` (artifacts_dir {out} has no "
                         f"{MARKER}); nothing was written: set artifacts_dir to a new or empty folder")
    resolve_device(config.device)  # before the data and the embedding
    corpus = load_corpus(config, log)
    _enough_to_train(config, corpus)  # before the embedding; FAISS raised a RuntimeError after the training
    _fits_in_memory(config, int((~corpus.is_test).sum()))
    try:
        out.mkdir(parents=True, exist_ok=True)  # after the data is found: a failed run leaves no empty folder
        mark(out)
    except OSError as exc:
        raise ValueError(f"artifacts_dir {out} cannot be written: {exc.strerror or exc}") from None
    with exclusive(out, "pipeline"):
        return _build(config, corpus, progress, log, timings, t0)


def _build(config: PipelineConfig, corpus: Corpus, progress: bool, log: Callable, timings: dict, t0: float) -> dict:
    """The run proper, in a folder this process holds."""
    import faiss

    from core.embedding import TextEmbedder
    from core.reasoning.vqvae.diverged import TrainingDiverged
    from core.reasoning.vqvae.train import train_vqvae

    out = config.artifacts
    # pipeline.json is written last, as the mark of a complete run, and decode's and evaluate's files belong to the
    # previous run: without them, decode/evaluate after an interrupted or failed run refuse instead of mixing two
    # runs, and no metrics.json/metrics.md/PNG of the previous run sits beside this run's artifacts
    for stale in ("pipeline.json",) + DECODE_WRITES + EVALUATE_WRITES:
        (out / stale).unlink(missing_ok=True)
    n, n_test = len(corpus.sentences), int(corpus.is_test.sum())
    log(f"loaded {n} sentences from {len(set(corpus.doc_ids))} articles "
        f"({', '.join(p.name for p in wikitext_files(config))}); "
        f"{n_test} held out from {len(set(np.asarray(corpus.doc_ids)[corpus.is_test]))} articles")
    timings["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    embedder = TextEmbedder(device=resolve_device(config.device))
    X = embedder.embed(corpus.sentences, show_progress=progress)
    if X.shape[1] != config.embedding_dimension:
        raise ValueError(f"the embedder gives {X.shape[1]}-d vectors but embedding_dimension="
                         f"{config.embedding_dimension}")
    timings["embed"] = time.perf_counter() - t
    X_train, X_test = X[~corpus.is_test], X[corpus.is_test]

    t = time.perf_counter()
    tconf = train_config(config)
    if resolve_device(config.device) != "cpu":  # the note said "used for embedding" of the CPU-only backends too
        used = ("used for embedding only" if embedder.backend == "torch" else
                f"not used: the {embedder.backend} embedding backend runs on the CPU (only 'torch' takes a device)")
        log(f"note: VQ-VAE training runs on the CPU (train_vqvae has no device option); device="
            f"{config.device} is {used}")
    try:
        model, history = train_vqvae(X_train, tconf, progress=progress)
    except TrainingDiverged as exc:  # named by the pipeline config's key, not TrainConfig's learning_rate
        raise ValueError(exc.naming("vqvae_learning_rate")) from None
    timings["train"] = time.perf_counter() - t

    t = time.perf_counter()
    codes = vqvae_encode(model, X_test)
    R_vq = vqvae_decode(model, codes)
    save_vqvae(model, tconf, out)
    save_npy(out / "codes.npy", codes)
    save_npy(out / "test_embeddings.npy", X_test)
    save_npy(out / "reference_embeddings.npy", X)
    test_idx = np.flatnonzero(corpus.is_test)
    save_json(out / "items.json", {"sentences": [corpus.sentences[i] for i in test_idx],
                                   "doc_ids": [corpus.doc_ids[i] for i in test_idx],
                                   "reference_index": test_idx.tolist()})
    save_json(out / "reference.json", {"sentences": corpus.sentences, "doc_ids": corpus.doc_ids,
                                       "is_test": corpus.is_test.tolist()})
    timings["compress"] = time.perf_counter() - t

    t = time.perf_counter()
    index = build_opq_index(X_train, X_train[:0], config.pq_M, config.opq_iterations, progress=progress)
    if X_train.shape[0] < FAISS_ADVISED:  # FAISS said it once per sub-quantizer (48 lines at PQ16)
        log(f"note: FAISS OPQ{config.pq_M},PQ{config.pq_M} learned its 256 codes a sub-quantizer from "
            f"{X_train.shape[0]:,} training sentences, fewer than the {FAISS_ADVISED:,} FAISS advises; a larger "
            f"sample_size may raise its cosine")
    opq_codes = opq_encode(index, X_test)
    R_opq = opq_decode(index, opq_codes)
    save_npy(out / "opq_codes.npy", opq_codes)
    index_path = out / "opq_pq.index"
    tmp = index_path.with_name(f".{index_path.name}.tmp")
    try:
        faiss.write_index(index, str(tmp))      # the trained codec only; the items' codes are opq_codes.npy
        atomic_replace_from(tmp, index_path)
    finally:
        tmp.unlink(missing_ok=True)             # interrupted (Ctrl-C, full disk): it stayed beside the artifacts
    timings["faiss"] = time.perf_counter() - t

    methods = _byte_counts(out, n_test, config)
    methods["vqvae"]["mean_cosine"] = _mean_cosine(X_test, R_vq)
    methods["opq_pq"]["mean_cosine"] = _mean_cosine(X_test, R_opq)
    method, reason = choose_method(config.compression_method, methods)
    summary = {"method": method, "method_reason": reason, "bytes_in": methods["vqvae"]["bytes_in"]}
    summary.update({k: methods[method][k] for k in _CHOSEN_KEYS})
    summary.update({
        "methods": methods,
        "config": config.to_dict(), "n_sentences": n, "n_train": int(X_train.shape[0]), "n_test": n_test,
        "n_articles": len(set(corpus.doc_ids)), "data_files": [str(p) for p in wikitext_files(config)],
        "text_bytes_test": sum(len(corpus.sentences[i].encode("utf-8")) for i in test_idx),
        "train_final": {k: v for k, v in history[-1].items() if isinstance(v, (int, float))},
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    })
    save_json(out / "pipeline.json", summary)
    vq, pq = methods["vqvae"], methods["opq_pq"]
    log(f"VQ-VAE ({count(config.vqvae_num_heads, 'head')} x {count(config.vqvae_num_embeddings, 'code')}, "
        f"{vq['code_dtype']}): {vq['bytes_in']:,} bytes in (float32 embeddings file) -> {vq['bytes_out']:,} bytes out "
        f"(codes.npy): {vq['compression_ratio']:.1f}x ({_per_item(vq['bytes_per_item'])}; "
        f"{vq['compression_ratio_with_model']:.2f}x counting the {vq['model_bytes']:,}-byte decoder); "
        f"mean cosine {vq['mean_cosine']:.3f}")
    log(f"FAISS OPQ{config.pq_M},PQ{config.pq_M}: {pq['bytes_out']:,} bytes out (opq_codes.npy): "
        f"{pq['compression_ratio']:.1f}x ({_per_item(pq['bytes_per_item'])}; "
        f"{pq['compression_ratio_with_model']:.2f}x counting the {pq['model_bytes']:,}-byte index); "
        f"mean cosine {pq['mean_cosine']:.3f}")
    log(f"method: {method} ({reason})")
    return summary


def _per_item(n: int) -> str:
    """``1 byte/item``, ``64 bytes/item`` (a 1-head run said "1 bytes/item")."""
    return f"{count(n, 'byte')}/item"


_CHOSEN_KEYS = ("codes_file", "bytes_out", "bytes_per_item", "compression_ratio", "payload_ratio",
                "model_bytes", "compression_ratio_with_model", "mean_cosine")
METHOD_NAMES = {"vqvae": "VQ-VAE", "opq_pq": "FAISS OPQ+PQ"}


def choose_method(requested: str, methods: dict) -> tuple[str, str]:
    """The method decode and evaluate use, and why: the one asked for, or (``auto``) the
    higher mean reconstruction cosine on the held-out items, both having been measured."""
    cos = {m: methods[m]["mean_cosine"] for m in ("vqvae", "opq_pq")}
    seen = f"mean cosine on the {methods['vqvae']['n_items']} held-out items: VQ-VAE {cos['vqvae']:.4f}, " \
           f"OPQ+PQ {cos['opq_pq']:.4f}"
    if requested != "auto":
        return requested, f"compression_method={requested!r} in the config; {seen}"
    best = "vqvae" if cos["vqvae"] >= cos["opq_pq"] else "opq_pq"
    return best, f"compression_method='auto' took the better one; {seen}"


def _mean_cosine(X: np.ndarray, R: np.ndarray) -> float:
    num = np.sum(X.astype(np.float64) * R, axis=1)
    return float(np.mean(num / (np.linalg.norm(X, axis=1) * np.linalg.norm(R, axis=1) + 1e-12)))


def _byte_counts(out: Path, n_test: int, config: PipelineConfig) -> dict:
    """Bytes in and out of each method, counted from the files as written.

    VQ-VAE codes are stored as uint8 up to 256 codes a head and as uint16 above (2 bytes a
    code); ``compression_ratio`` counts those stored bytes. ``packed_*`` says what
    ceil(log2 K) bits a code would give if the codes were bit-packed (not done here).
    """
    bytes_in = (out / "test_embeddings.npy").stat().st_size
    payload_in = n_test * config.embedding_dimension * FLOAT32_BYTES
    K = config.vqvae_num_embeddings
    bits = max(1, (K - 1).bit_length())
    files = {"vqvae": ("codes.npy", "vqvae.safetensors", config.bytes_per_item),
             "opq_pq": ("opq_codes.npy", "opq_pq.index", config.pq_M)}
    methods = {}
    for name, (codes_file, model_file, per_item) in files.items():
        bytes_out = (out / codes_file).stat().st_size
        model_bytes = (out / model_file).stat().st_size
        methods[name] = {
            "codes_file": codes_file, "n_items": n_test, "bytes_in": bytes_in, "bytes_out": bytes_out,
            "bytes_per_item": per_item, "compression_ratio": bytes_in / bytes_out,
            "payload_ratio": payload_in / (n_test * per_item), "model_file": model_file,
            "model_bytes": model_bytes, "compression_ratio_with_model": bytes_in / (bytes_out + model_bytes)}
    methods["vqvae"].update({
        "code_dtype": "uint8" if config.code_bytes == 1 else "uint16", "bits_per_code": bits,
        "packed_bytes_per_item": (config.vqvae_num_heads * bits + 7) // 8,
        "packed_payload_ratio": payload_in / (n_test * ((config.vqvae_num_heads * bits + 7) // 8))})
    methods["opq_pq"].update({"code_dtype": "uint8", "bits_per_code": 8})
    return methods
