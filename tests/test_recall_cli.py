"""`mycelial recall --where/--context/-q/-v` and `ingest -v` on a real JSONL memory."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from core.cli import cli
from core.datasets import brown_documents


@pytest.fixture(scope="module")
def jsonl_memory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recallcli")
    path = folder / "brown.jsonl"
    brown = brown_documents()
    docs = [d for cat in ("news", "romance") for d in [x for x in brown if x.meta["category"] == cat][:3]]
    with open(path, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"id": d.doc_id, "text": "\n\n".join(d.sentences[:8]),
                                 "category": d.meta["category"], "year": 1961}) + "\n")
    mem = folder / "mem"
    # a torch memory: the tests below are about its torch-free query path (numpy forward pass)
    r = CliRunner().invoke(cli, ["ingest", str(path), "--memory", str(mem), "-q", "-v", "--embedder", "torch"])
    assert r.exit_code == 0, r.output
    assert "INFO mycelial.memory.ingest: ingest: 6 documents" in r.stderr  # -v: the library's log lines
    logging.getLogger("mycelial").setLevel(logging.WARNING)
    return mem, docs


def test_recall_where_context_json(jsonl_memory):
    mem, docs = jsonl_memory
    romance = {d.doc_id for d in docs if d.meta["category"] == "romance"}
    r = CliRunner().invoke(cli, ["recall", "the jury said the election was conducted", "--memory", str(mem),
                                 "--where", "category=romance", "--where", "year=1961", "--context", "1",
                                 "-k", "4", "--json", "-q"])
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    assert len(hits) == 4 and {h["doc_id"] for h in hits} <= romance
    assert all(h["metadata"] == {"category": "romance", "year": 1961} for h in hits)
    for h in hits:
        assert 1 <= len(h["context"]) <= 2
        assert {c["position"] for c in h["context"]} <= {h["position"] - 1, h["position"] + 1}
    # text output shows the metadata and the neighbours
    r = CliRunner().invoke(cli, ["recall", "the jury said", "--memory", str(mem), "--where", "category=news",
                                 "--context", "1", "-k", "1", "--mode", "similar"])
    assert r.exit_code == 0, r.output
    assert 'meta: {"category": "news", "year": 1961}' in r.stdout
    # the neighbours are named by chunk id, as the hit is ("chunk 60" above "after [60]", its position, read as itself)
    args = ["recall", "the jury said", "--memory", str(mem), "--where", "category=news", "--context", "1", "-k", "1",
            "--mode", "similar"]
    hit = json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)[0]
    assert f"chunk {hit['chunk_id']}" in r.stdout and hit["context"]
    for c in hit["context"]:
        side = "before" if c["position"] < hit["position"] else "after"
        assert f"     {side} (chunk {c['chunk_id']}): " in r.stdout, r.stdout
    # a year given as text is not the number 1961: nothing matches
    r = CliRunner().invoke(cli, ["recall", "jury", "--memory", str(mem), "--where", 'year="1961"', "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []


@pytest.mark.parametrize("args, message", [(["--where", "category"], "KEY=VALUE"),
                                            (["--where", "=news"], "KEY=VALUE"),
                                            (["--context", "-1"], "--context")])
def test_recall_bad_options(jsonl_memory, args, message):
    mem, _ = jsonl_memory
    r = CliRunner().invoke(cli, ["recall", "jury", "--memory", str(mem), *args])
    assert r.exit_code == 2 and message in r.output
    assert "Traceback" not in r.output


_RUN = ("import os, sys\nfrom core.cli import main\nsys.argv = ['mycelial'] + sys.argv[1:]\ntry:\n    main()\n"
        "finally:\n    open(os.environ['MODULES_OUT'], 'w').write(' '.join(m for m in ('torch', "
        "'sentence_transformers', 'transformers', 'onnxruntime', 'tqdm', 'asyncio') if m in sys.modules))\n")


def _start(args, tmp_path, name):
    """The CLI in a fresh process (as a user runs it), started: :func:`_finish` waits for it."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")}
    env["MODULES_OUT"] = str(tmp_path / f"{name}.modules")
    proc = subprocess.Popen([sys.executable, "-c", _RUN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    return proc, args, tmp_path / f"{name}.modules"


def _finish(started):
    """(result, heavy modules it imported) of a process :func:`_start` began."""
    proc, args, modules = started
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), modules.read_text().split()


def _run(args, tmp_path, name):
    return _finish(_start(args, tmp_path, name))


QUERY = ["recall", "what did the jury say about the election", "-k", "5", "--json"]


@pytest.fixture(scope="module")
def torch_recalls(jsonl_memory, tmp_path_factory):
    """QUERY with ``--embedder torch``, loud and with -q: two processes side by side (each imports torch and
    loads the model, ~10 s), shared by the two tests below."""
    mem, _ = jsonl_memory
    tmp = tmp_path_factory.mktemp("torch_recalls")
    args = QUERY + ["--memory", str(mem), "--embedder", "torch"]
    loud, quiet = _start(args, tmp, "loud"), _start(args + ["-q"], tmp, "quiet")
    return _finish(loud), _finish(quiet)


def test_quiet_silences_the_model_loading_bar(torch_recalls):
    """With --embedder torch the model loads by sentence-transformers (and draws its bar) unless -q is given."""
    (loud, _), (quiet, _) = torch_recalls
    assert loud.returncode == 0 and quiet.returncode == 0, loud.stderr + quiet.stderr
    assert "Loading weights" in loud.stderr
    assert "Loading weights" not in quiet.stderr and quiet.stderr.strip() == ""
    assert json.loads(quiet.stdout) == json.loads(loud.stdout)


def test_recall_imports_no_torch_and_matches_torch(jsonl_memory, torch_recalls, tmp_path):
    """A query on a torch memory: numpy query embedding and codes, no torch import, the hits torch gives."""
    mem, _ = jsonl_memory
    fast, fast_mods = _run(QUERY + ["--memory", str(mem), "-q"], tmp_path, "fast")
    _, (exact, exact_mods) = torch_recalls  # the same query with --embedder torch -q
    assert fast.returncode == 0 and exact.returncode == 0, fast.stderr + exact.stderr
    # -q: nothing but the answer; no torch, no model library, no progress bar library (tqdm.auto imports asyncio:
    # ~0.05 s of every query)
    assert fast.stderr == "" and fast_mods == []
    assert "torch" in exact_mods and "sentence_transformers" in exact_mods
    a, b = json.loads(fast.stdout), json.loads(exact.stdout)
    assert [h["chunk_id"] for h in a] == [h["chunk_id"] for h in b] and len(a) == 5
    for x, y in zip(a, b):
        assert abs(x["score"] - y["score"]) < 1e-4
        assert x["why"].get("phrases") == y["why"].get("phrases")


def test_batch_recall_without_a_cached_export_stays_torch_free(jsonl_memory, tmp_path, monkeypatch):
    """--queries uses the ONNX export only once it is cached; before that numpy, never a 10 s export."""
    mem, _ = jsonl_memory
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"id": 1, "query": "the jury said"}\n{"id": 2, "query": "a quiet evening at home"}\n')
    monkeypatch.setenv("MYCELIAL_CACHE_DIR", str(tmp_path / "empty_cache"))
    res, mods = _run(["recall", "--queries", str(qfile), "--memory", str(mem), "-k", "2", "--json", "-q"],
                     tmp_path, "batch")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert mods == [] and not (tmp_path / "empty_cache" / "onnx").exists()
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["id"] for r in lines] == [1, 2] and all(len(r["hits"]) == 2 for r in lines)


def test_text_output_names_the_chunk_ids_reinforce_takes(jsonl_memory):
    mem, _ = jsonl_memory
    run = CliRunner().invoke
    query = "the jury said the election was conducted"
    hits = json.loads(run(cli, ["recall", query, "--memory", str(mem), "-k", "3", "--json", "-q"]).stdout)
    text = run(cli, ["recall", query, "--memory", str(mem), "-k", "3", "-q"]).stdout
    heads = [line for line in text.splitlines() if line[:5].strip().rstrip(".").isdigit()]
    assert [line.rsplit("chunk ", 1)[1] for line in heads] == [str(h["chunk_id"]) for h in hits]
    r = run(cli, ["reinforce", query, str(hits[-1]["chunk_id"]), "--memory", str(mem)])
    assert r.exit_code == 0, r.output
    event = r.stdout.split(":")[0].split()[-1]  # "reinforcement 3: 1 chunks, ..."
    assert run(cli, ["unreinforce", event, "--memory", str(mem)]).exit_code == 0


def test_recall_help_describes_the_embedder_a_query_can_use():
    # recall shared ingest's text: "for a new memory openvino-int8, or torch with a warning ..." (a query makes no
    # memory, and a memory refuses any backend but its own)
    out = " ".join(CliRunner().invoke(cli, ["recall", "--help"]).output.split())
    assert "new memory" not in out and "another is refused" in out, out


def _why_sums(text: str) -> list[tuple[float, float]]:
    """(printed score, the sum its `why:` line shows) per hit: `cosine A + association B (+ reinforcement C)`."""
    lines, out = text.splitlines(), []
    for i, line in enumerate(lines):
        if line[:5].strip().rstrip(".").isdigit():
            score = float(line.split()[1])
            why = next(w for w in lines[i + 1:] if w.strip().startswith("why: ")).strip()[5:].split(";")[0]
            if why.startswith("association"):  # associative: the association is the score; the cosine in brackets
                out.append((score, float(why.split()[1])))
                continue
            out.append((score, sum(float(part.split()[-1]) for part in why.split(" + "))))
    return out


def test_the_why_line_adds_up_to_the_score_in_every_mode(jsonl_memory):
    # hybrid printed "1.269 ... why: cos 0.634; assoc 1.307": the raw association, not the 0.634 it added
    mem, _ = jsonl_memory
    run = CliRunner().invoke
    query = "the jury said the election was conducted"
    for mode in ("hybrid", "similar", "associative"):
        text = run(cli, ["recall", query, "--memory", str(mem), "-k", "4", "-q", "--mode", mode]).stdout
        sums = _why_sums(text)
        assert len(sums) == 4 and all(abs(s - t) <= 0.0021 for s, t in sums), (mode, text)
        if mode == "hybrid":
            assert "+ association" in text, text  # some hit was lifted (this query names Brown's news)
    hits = json.loads(run(cli, ["recall", query, "--memory", str(mem), "-k", "4", "--json", "-q"]).stdout)
    for h in hits:  # the data the line is made of: score = cosine + lift in hybrid
        assert abs(h["score"] - h["why"]["similarity"] - h["why"]["lift"]) < 1e-6, h["why"]
    r = run(cli, ["reinforce", query, str(hits[-1]["chunk_id"]), "--memory", str(mem)])
    event = r.stdout.split(":")[0].split()[-1]
    try:
        text = run(cli, ["recall", query, "--memory", str(mem), "-k", "4", "-q"]).stdout
        assert "+ reinforcement" in text and all(abs(s - t) <= 0.0031 for s, t in _why_sums(text)), text
    finally:
        assert run(cli, ["unreinforce", event, "--memory", str(mem)]).exit_code == 0
