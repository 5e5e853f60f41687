"""Loose ends of the Python API found in an audit: each argument a user can get wrong is named when given,
and nothing is written. Real SQLite, FAISS and model."""
from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest

from core.memory import RecallConfig
from core.memory._recall import RecallMixin

# the audit's memory (its four records, one of them the id "None"), a fresh one for this module
from test_api_audit import _state, codec, mem  # noqa: E402,F401  (pytest fixtures)


def test_recall_batch_takes_exclude_as_recall_does(mem):
    # recall(exclude=) existed, recall_batch had no such argument (a TypeError): the same arguments now
    one, batch = inspect.signature(RecallMixin.recall), inspect.signature(RecallMixin.recall_batch)
    assert list(one.parameters)[2:] == list(batch.parameters)[2:]
    q = ["who drummed for Rush?", "who tutored Nero?"]
    first = [hits[0].chunk_id for hits in mem.recall_batch(q, k=1)]
    for mode in ("similar", "hybrid", "associative"):
        out = mem.recall_batch(q, k=3, mode=mode, exclude=iter(first))  # a generator serves every query
        assert all(h.chunk_id not in first for hits in out for h in hits), mode
        assert [[h.chunk_id for h in hits] for hits in out] == \
            [[h.chunk_id for h in mem.recall(t, k=3, mode=mode, exclude=first)] for t in q]
    with pytest.raises(ValueError, match="exclude must be a list of chunk ids"):
        mem.recall_batch(q, exclude="12")


def test_recall_config_is_checked_when_set_not_at_the_next_query(mem):
    # mem.recall_config = {...} and cfg.fusion_weight = nan were taken: the first failed inside the next recall
    # ("'dict' object has no attribute 'candidates'"), the second ranked by NaN without a word
    base = mem.recall_config
    before = [h.chunk_id for h in mem.recall("who drummed for Rush?", k=3)]
    for bad, err, message in (({"fusion_weight": 0.5}, TypeError, r"RecallConfig\(\*\*\{'fusion_weight': 0.5\}\)"),
                              ("hybrid", TypeError, "recall_config must be a RecallConfig, got str")):
        with pytest.raises(err, match=message):
            mem.recall_config = bad
        assert mem.recall_config is base
    for name, value, message in (("fusion_weight", float("nan"), "a finite number of at least 0"),
                                 ("phrase_weight", -1.0, "a finite number of at least 0"),
                                 ("candidates", "50", "a whole number of at least 1"),
                                 ("restart", 1.5, "a number from 0 to 1"),
                                 ("seed_temperature", 0.0, "a positive number"),
                                 ("seed_codes_from_hits", "yes", "True or False")):
        with pytest.raises(ValueError, match=f"RecallConfig.{name} must be {message}"):
            setattr(mem.recall_config, name, value)
    with pytest.raises(AttributeError, match="RecallConfig has no knob 'candiates'"):
        mem.recall_config.candiates = 50
    assert mem.recall_config == RecallConfig()
    assert [h.chunk_id for h in mem.recall("who drummed for Rush?", k=3)] == before
    # what worked still works: a new config, a replaced one, a knob set to a good value, None for the defaults
    import dataclasses

    mem.recall_config = dataclasses.replace(base, neighbour_weight=0.0)
    mem.recall_config.candidates = np.int64(50)
    assert mem.recall_config.candidates == 50 and mem.recall_config.neighbour_weight == 0.0
    mem.recall_config = None
    assert mem.recall_config == RecallConfig()
    assert [h.chunk_id for h in mem.recall("who drummed for Rush?", k=3)] == before


def test_ingest_vectors_refuses_a_nul_in_an_id_before_writing(mem, embedder):
    # ingest([{"id": "a\x00b", ...}]) was refused, ingest_vectors(["a\x00b"], X) stored a document no
    # command line or URL can name
    X = embedder.embed(["a vector for an id with a NUL", "and one for a good id"])
    before = _state(mem)
    for bad, message in (("a\x00b", r"ids\[0\] contains a NUL byte"),
                         ("a\udc80", r"ids\[0\] holds an unpaired surrogate \('\\udc80' at character 1\)"),
                         ("", "ids must be non-empty strings or integers"),
                         ("  ", "ids must be non-empty strings or integers"),
                         (b"v", "ids must be non-empty strings or integers"),
                         (None, "ids must be non-empty strings or integers")):
        with pytest.raises(ValueError, match=message):
            mem.ingest_vectors([bad, "good"], X)
    assert _state(mem) == before and mem.store_.document("good") is None
    assert mem.ingest_vectors(["a b", "good"], X).documents == 2


def test_masked_values_are_refused_not_encoded_from_beneath_the_mask(mem, embedder, codec):
    # numpy gives every function a masked array's raw data: the hidden values were encoded and stored
    from core.reasoning.mycelial import MycelialConfig, MycelialReasoning
    from core.reasoning.mycelial.numpy_codec import load_default_numpy

    X = embedder.embed(["a vector with a hidden value", "and a clean one"])
    mask = np.zeros(X.shape, dtype=bool)
    mask[1, 7] = True
    M = np.ma.masked_array(X, mask=mask)
    before = _state(mem)
    message = r"is a masked array with 1 masked value\(s\) \(first at row 1, column 7\); the mask would be ignored"
    with pytest.raises(ValueError, match="^embeddings " + message):
        mem.ingest_vectors(["m1", "m2"], M)
    with pytest.raises(ValueError, match=r"^query is a masked array"):
        mem.recall_vector(np.ma.masked_array(X[0], mask=mask[1]), k=1)
    assert _state(mem) == before and mem.store_.document("m1") is None
    for c in (codec, load_default_numpy()):
        with pytest.raises(ValueError, match="^embeddings " + message):
            c.encode(M)
        codes = c.encode(X)
        with pytest.raises(ValueError, match=r"^codes is a masked array with 1 masked value\(s\) \(first at row 0"):
            c.decode(np.ma.masked_array(codes, mask=[[False, True, False, False], [False] * 4]))
    net = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=256))
    with pytest.raises(ValueError, match=r"^codes is a masked array"):
        net.observe(np.ma.masked_array(codes, mask=[[False] * 4, [True] + [False] * 3]))
    with pytest.raises(ValueError, match=r"^groups is a masked array"):
        net.observe(codes, groups=np.ma.masked_array([0, 1], mask=[False, True]))
    assert net.n_events_ == 0
    # a masked array none of whose values is masked is its data
    assert mem.ingest_vectors(["m1", "m2"], np.ma.masked_array(X)).documents == 2
    np.testing.assert_array_equal(codec.encode(np.ma.masked_array(X, mask=False)), codec.encode(X))


def test_stats_while_another_process_writes_files_beside_it(mem):
    # stats() listed the folder, then took each file's size: a temporary file renamed or removed in
    # between (another process saving its state) was a FileNotFoundError (~1 call in 200 here)
    import subprocess
    import sys
    import time

    writer = subprocess.Popen([sys.executable, "-c", (
        "import os, sys\n"
        "d, n = sys.argv[1], 0\n"
        "while True:  # an atomic write: a temporary file, then renamed over the target\n"
        "    tmp = os.path.join(d, 'scratch.%d.tmp' % (n % 64))\n"
        "    with open(tmp, 'wb') as fh:\n"
        "        fh.write(b'x' * (n % 4096))\n"
        "    os.replace(tmp, os.path.join(d, 'scratch.bin')) if n % 2 else os.unlink(tmp)\n"
        "    n += 1\n"), str(mem.folder)])
    try:
        while not (mem.folder / "scratch.bin").exists():
            time.sleep(0.01)
        calls, end = 0, time.monotonic() + 4
        while time.monotonic() < end or calls < 500:
            s = mem.stats()
            assert s["bytes_on_disk"] > (mem.folder / "memory.sqlite").stat().st_size
            calls += 1
    finally:
        writer.kill()
        writer.wait()
    (mem.folder / "scratch.bin").unlink()
    for p in mem.folder.glob("scratch.*.tmp"):
        p.unlink()
    assert s["documents"] == mem.stats()["documents"]


def test_recall_config_refuses_absurd_knobs_naming_the_range_and_its_bounds_keep_scores_finite(mem):
    # code_weight=1e308 made every associative score inf; phrase_weight=1e308 overflowed the walk's float32 mass;
    # candidates=10**12 asked numpy for 3.6 TiB at the first recall; seed_temperature=1e-308 overflowed the softmax
    for kwargs, message in [({"code_weight": 1e308}, "code_weight must be a finite number of at least 0 and at "
                                                     "most 1,000,000, got 1e+308"),
                            ({"phrase_weight": math.inf}, "phrase_weight must be a finite number of at least 0"),
                            ({"fusion_gain": 1e7}, "fusion_gain must be a finite number of at least 0 and at most "
                                                   "1,000,000"),
                            ({"df_power": 11.0}, "df_power must be a finite number of at least 0 and at most 10,"),
                            ({"seed_temperature": 1e-308}, "seed_temperature must be a positive number from 1e-06 "
                                                           "to 1,000,000"),
                            ({"fusion_floor": 2.0}, "fusion_floor must be a number from 0 to 1,"),
                            ({"candidates": 10**12}, "candidates must be a whole number of at least 1 and at most "
                                                     "1,000,000"),
                            ({"steps": 1001}, "steps must be a whole number of at least 0 and at most 1,000,")]:
        with pytest.raises(ValueError, match=f"RecallConfig.{re.escape(message)}"):
            RecallConfig(**kwargs)
    top = {k: 1_000_000 for k in ("phrase_weight", "query_phrase_weight", "code_weight", "fusion_weight",
                                  "fusion_gain", "concept_weight")}
    try:
        mem.recall_config = RecallConfig(**top, seed_temperature=1e-6, df_power=10, fusion_floor=1.0)
        for mode in ("associative", "hybrid"):
            scores = [h.score for h in mem.recall("Who was the drummer of Rush?", k=4, mode=mode)]
            assert scores and all(math.isfinite(s) for s in scores), (mode, scores)
    finally:
        mem.recall_config = RecallConfig()


def test_a_python_ingest_that_meets_problems_says_so_once_and_the_cli_does_not_repeat_it(mem, tmp_path):
    # mem.ingest("not/a/path") returned a report whose errors held it and said nothing: a notebook's typo in a
    # path ingested nothing without a visible word
    import subprocess
    import sys
    import warnings
    from pathlib import Path

    from core.memory import IngestWarning

    with pytest.warns(IngestWarning, match=r"ingest: not/a/path: no such file or folder \(0 documents stored"):
        report = mem.ingest("not/a/path")
    assert len(report.errors) == 1 and report.documents == 0
    with pytest.warns(IngestWarning, match=r"no such file or folder \(1 document stored;"):  # "1 documents"
        mem.ingest([{"id": "warn-one", "text": "The river Inn meets the Danube at Passau."}, "not/a/path"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean ingest warns nothing
        mem.ingest([{"id": "warn-ok", "text": "The river Danube flows east through Vienna and Budapest."}])
        folder = tmp_path / "notes"  # a file the folder does not read is a skip, said in the report: no problem
        folder.mkdir()
        (folder / "rivers.txt").write_text("The Rhine flows north through Basel, Cologne and Rotterdam.\n")
        (folder / "photo.license").write_text("CC-BY-4.0\n")
        skipped = mem.ingest(folder)
        assert skipped.documents == 1 and skipped.errors and all(e.skipped for e in skipped.errors)
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-m", "mycelial", "ingest", "not/a/path", "--memory", str(tmp_path / "m"),
                        "-q"], cwd=root, capture_output=True, text=True, timeout=300)
    assert "no such file or folder" in r.stderr + r.stdout and "IngestWarning" not in r.stderr, r.stderr
