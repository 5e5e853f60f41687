"""Shared fixtures: real sentences from ../shared/data and their (cached) embeddings.

The suite embeds through a private cache folder (``MYCELIAL_CACHE_DIR``, made here before anything
embeds, inherited by the CLI, server and Dask processes the tests start), seeded read-only by the
developer's cache (``MYCELIAL_CACHE_SEED``): a test that forgets a document purges the private copy,
never the developer's vectors (scripts such as VQ-VAE training with --cached-only rely on them).
The model exports (``onnx/``, ``openvino/``) are hard-linked, not rebuilt (see tests/_dev_cache.py), and
the session fails at its end if any file in the developer's cache changed while it ran.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from _dev_cache import changes, mirror_exports, other_users, stamps

# the developer's cache (their MYCELIAL_CACHE_DIR, else ~/.cache/mycelial; not made here when missing)
DEV_CACHE = Path(os.environ.get("MYCELIAL_CACHE_DIR") or Path.home() / ".cache" / "mycelial")


def _private_cache() -> None:
    _sweep_private_caches()
    private = tempfile.mkdtemp(prefix=f"mycelial-test-cache-{os.getpid()}-")
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    mirror_exports(DEV_CACHE, Path(private))
    os.environ.setdefault("MYCELIAL_CACHE_SEED", str(DEV_CACHE / "embeddings.sqlite"))
    os.environ["MYCELIAL_CACHE_DIR"] = private


def _sweep_private_caches() -> None:
    """Remove the private caches of test sessions that were killed (atexit never ran): each held the
    vectors its session embedded (a few MB), and they piled up in the temporary folder. Only those
    named by a process that is gone."""
    import glob
    import re

    for path in glob.glob(os.path.join(tempfile.gettempdir(), "mycelial-test-cache-*-*")):
        m = re.fullmatch(r"mycelial-test-cache-(\d+)-\w+", os.path.basename(path))
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)  # its exports are hard links: the developer's stay
        except (OSError, OverflowError):
            pass


_DEV_CACHE_AT_START = stamps(DEV_CACHE)
_private_cache()


@pytest.fixture(scope="session", autouse=True)
def _developer_cache_untouched():
    """Fail the session when a file in the developer's cache changed while it ran: a test, CLI, server or
    worker process that ignored MYCELIAL_CACHE_DIR, or a seed read that wrote. Only a warning when
    another process had that folder open at the start or the end (it may have made the change)."""
    users = other_users(DEV_CACHE)
    yield
    changed = changes(_DEV_CACHE_AT_START, stamps(DEV_CACHE))
    if not changed:
        return
    said = f"the developer's cache {DEV_CACHE} changed during the test session:\n  " + "\n  ".join(changed)
    users += other_users(DEV_CACHE)
    if users:
        warnings.warn(f"{said}\nother processes had it open, so it may be theirs:\n  " + "\n  ".join(users))
    else:
        pytest.fail(f"{said}\n(no other process had it open: a test process wrote there)", pytrace=False)

from core.datasets import wikitext_documents  # noqa: E402  (after the cache is chosen)
from core.embedding import TextEmbedder  # noqa: E402


@pytest.fixture(scope="session")
def embedder() -> TextEmbedder:
    """The real default model (all-MiniLM-L6-v2, offline), with the on-disk cache."""
    return TextEmbedder()


@pytest.fixture(scope="session")
def wiki_docs():
    """The 120 real WikiText-2 articles as Documents."""
    return wikitext_documents()


@pytest.fixture(scope="session")
def wiki_sample(wiki_docs, embedder):
    """(sentences, article index per sentence, float32 embeddings) for ~2,000 real sentences.

    Takes the first 20 sentences of each article, so every article is represented.
    """
    sentences, article = [], []
    for i, doc in enumerate(wiki_docs):
        for s in doc.sentences[:20]:
            sentences.append(s)
            article.append(i)
    X = embedder.embed(sentences)
    return sentences, np.asarray(article), X


@pytest.fixture
def tiny_train(tmp_path, wiki_sample) -> list[str]:
    """`mycelial train` arguments for a 2-epoch model of 1,200 real sentence vectors, up to ``--out``
    (the caller appends the folder): x.npy and cfg.json are written in ``tmp_path``."""
    import json

    np.save(tmp_path / "x.npy", wiki_sample[2][:1200])
    (tmp_path / "cfg.json").write_text(json.dumps(
        {"hidden_dim": 64, "latent_dim": 64, "epochs": 2, "kmeans_samples": 500, "kmeans_iters": 2}))
    return ["train", "--config", str(tmp_path / "cfg.json"), "--npy", str(tmp_path / "x.npy"), "--out"]


@pytest.fixture(scope="session")
def sample_built(tmp_path_factory, embedder):
    """(folder, embedder, codec): the shipped sample memory, built once for the tests that write to copies of it."""
    from _server_helpers import build_sample_memory

    from core.reasoning.mycelial import MycelialVQVAE

    codec = MycelialVQVAE.load_default()
    folder = tmp_path_factory.mktemp("sample_built") / "sample"
    build_sample_memory(folder, embedder, codec)
    return folder, embedder, codec


@pytest.fixture
def sample_mem(sample_built, tmp_path):
    """A private copy of the sample memory, open (reinforcements and forgets are written to it)."""
    from core.memory import SemanticMemory

    folder, embedder, codec = sample_built
    shutil.copytree(folder, tmp_path / "sample_copy")
    m = SemanticMemory(tmp_path / "sample_copy", embedder=embedder, codec=codec)
    yield m
    m.close()


@pytest.fixture(scope="session")
def untrained_60k(tmp_path_factory, wiki_sample):
    """(folder, unit vectors) of a memory of 60,000 real sentence vectors whose exact index is not trained:
    opened writable with ``train_at <= 60_000`` (or served: the default is 50k) it trains in the background,
    ~5.5 s of k-means on one thread and ~1 s filling the index. Built once (~10 s) for the Ctrl-C and the
    shutdown tests, which copy the folder (``shutil.copytree``) before they open it."""
    from _memory_helpers import untrained_memory

    folder = tmp_path_factory.mktemp("untrained") / "mem"
    return folder, untrained_memory(folder, wiki_sample, 60_000)


@pytest.fixture(scope="session")
def fresh_onnx_export(tmp_path_factory):
    """A cache folder whose ``onnx/`` this session exported from nothing (fp32, fused graph, int8), ~10-30 s:
    made once for the ONNX tests and the OpenVINO build (which starts from the fp32 file). Users copy its
    ``onnx/`` folder (``shutil.copytree``) into a cache of their own: a test may truncate or rebuild a file."""
    from core.embedding import default_model_path
    from core.embedding_onnx import exported_model

    root = tmp_path_factory.mktemp("fresh_onnx_export")
    mp = pytest.MonkeyPatch()
    mp.setenv("MYCELIAL_CACHE_DIR", str(root))
    try:
        exported_model(default_model_path(), quantized=True)
    finally:
        mp.undo()
    return root


@pytest.fixture(scope="session")
def dask_client():
    """A real Dask LocalCluster (2 worker processes, 1 thread each) and its client, started once for the
    session: its start and the model's load in each worker cost ~3 s, paid by each module that started its
    own. A test that kills a worker waits for the nanny's new one before it returns."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, launched once for the session (a launch per test cost 1-3 s, one per module ~1 s
    each for the four modules that drive it); every test opens its own page and context."""
    from _browser import chromium

    with chromium() as launched:
        yield launched
