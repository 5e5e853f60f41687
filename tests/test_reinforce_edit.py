"""A reinforcement follows its passage through an edit, and one that still goes is said: a one-word fix in the passage
a `reinforce` named, then `ingest --sync`, printed "1 replaced" alone, and the event was gone (`unreinforce 1`: "no
reinforcement event 1"). And `ingest --sync` after a moved folder no longer advises forgetting the copies it then
forgets itself. Real memory, real WikiText sentences."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.cli import cli
from core.memory import SemanticMemory
from core.memory._follow import close


@pytest.fixture(scope="module")
def paras(wiki_docs):
    """Four real paragraphs of different articles, each one chunk: the sentences of an article from its second on,
    up to 60-120 word pieces (two of them pass the 96 a chunk merges paragraphs to)."""
    from core.memory.chunking import chunk_text, count_tokens

    out = []
    for doc in wiki_docs[:12]:
        para = ""
        for s in doc.sentences[1:]:
            para = f"{para} {s}".strip()
            if count_tokens([para])[0] >= 60:
                break
        if count_tokens([para])[0] <= 120:
            out.append(para)
    assert len(chunk_text("\n\n".join(out[:4]))) == 4
    return out[:4]


def _edit(text: str) -> str:
    """``text`` with one word fixed, as a typo fix would."""
    words = text.split()
    words[len(words) // 2] += "s"
    return " ".join(words)


def _setup(tmp_path, paras):
    """A folder with one file of three paragraphs, its memory, and an event naming the second paragraph."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "doc.txt").write_text("\n\n".join(paras[:3]), encoding="utf-8")
    mem = tmp_path / "mem"
    assert CliRunner().invoke(cli, ["ingest", str(notes), "--memory", str(mem), "-q"]).exit_code == 0
    with SemanticMemory(mem) as m:
        cid = int(m.store_.document("doc.txt")["chunk_ids"][1])
        eid = m.reinforce(paras[1], [cid])
    return notes, mem, cid, eid


def test_a_one_word_fix_of_the_reinforced_passage_keeps_the_event_on_the_edited_chunk(tmp_path, paras):
    notes, mem, cid, eid = _setup(tmp_path, paras)
    (notes / "doc.txt").write_text("\n\n".join([paras[0], _edit(paras[1]), paras[2]]), encoding="utf-8")
    r = CliRunner().invoke(cli, ["ingest", str(notes), "--memory", str(mem), "-q", "--sync"])
    assert r.exit_code == 0 and "1 replaced" in r.output and "note:" not in r.output, r.output
    with SemanticMemory(mem) as m:
        new = int(m.store_.document("doc.txt")["chunk_ids"][1])
        assert new != cid and [(e["id"], e["chunk_ids"]) for e in m.reinforcements()] == [(eid, [new])]
        hit = next(h for h in m.recall(paras[1], k=3) if h.chunk_id == new)
        assert hit.why.get("reinforcement", 0) > 0  # it still lifts the passage, now the edited one
        assert m.unreinforce(eid)


def test_a_rewritten_passage_drops_the_event_and_every_report_says_so(tmp_path, paras):
    notes, mem, cid, eid = _setup(tmp_path, paras)
    (notes / "doc.txt").write_text("\n\n".join([paras[0], paras[3], paras[2]]), encoding="utf-8")
    r = CliRunner().invoke(cli, ["ingest", str(notes), "--memory", str(mem), "-q", "--sync"])
    assert r.exit_code == 0, r.output
    assert (f"note: reinforcement {eid} dropped: its passage of doc.txt changed (`mycelial reinforce` the new one to "
            f"keep the feedback)") in r.output, r.output
    with SemanticMemory(mem) as m:
        assert m.reinforcements() == []
        eid2 = m.reinforce(paras[3], [int(m.store_.document("doc.txt")["chunk_ids"][1])])
        rep = m.ingest([{"id": "doc.txt", "title": "doc", "text": "\n\n".join([paras[0], paras[1], paras[2]])}])
    assert rep.reinforcements_dropped == {eid2: "doc.txt"}  # the Python API's report, and its dict for HTTP
    assert rep.to_dict()["reinforcements_dropped"] == [{"event": eid2, "document": "doc.txt"}]
    json.dumps(rep.to_dict())


def test_the_rule_tells_an_edit_from_another_passage(paras):
    assert close(paras[1], _edit(paras[1])) and close(paras[1], paras[1] + " Indeed.")
    assert not any(close(a, b) for a in paras for b in paras if a is not b)
    assert not close("", "")


def test_sync_after_a_moved_folder_names_the_move_not_a_copy_to_forget(tmp_path, paras):
    notes = tmp_path / "notes"
    (notes / "news").mkdir(parents=True)
    for i in (0, 1):
        (notes / "news" / f"n{i}.txt").write_text(paras[i], encoding="utf-8")
    (notes / "keep.txt").write_text(paras[2], encoding="utf-8")
    mem = tmp_path / "mem"
    assert CliRunner().invoke(cli, ["ingest", str(notes), "--memory", str(mem), "-q"]).exit_code == 0
    (notes / "archive").mkdir()
    (notes / "news").rename(notes / "archive" / "news")
    (notes / "dup").mkdir()
    (notes / "dup" / "keep.txt").write_text(paras[2], encoding="utf-8")  # a real second copy: still advised
    r = CliRunner().invoke(cli, ["ingest", str(notes), "--memory", str(mem), "-q", "--sync"])
    assert r.exit_code == 0, r.output
    assert ("note: 2 documents moved (news/n0.txt -> archive/news/n0.txt, news/n1.txt -> archive/news/n1.txt): "
            "stored under the new id, and --sync forgot the old one") in r.output, r.output
    assert "note: 1 document stored again under another id (dup/keep.txt as keep.txt)" in r.output, r.output
    assert r.output.index("forgot news/n0.txt") < r.output.index("note: 2 documents moved"), r.output


def test_the_http_report_names_a_dropped_reinforcement(tmp_path, paras, embedder):
    import httpx
    from _server_helpers import LiveServer, finished_job

    srv = LiveServer([str(tmp_path / "up")])
    try:
        url = f"{srv.url}/v1/memories/up"

        def post(texts, query=""):
            doc = {"id": "doc", "title": "doc", "text": "\n\n".join(texts)}
            r = httpx.post(f"{url}/documents{query}", json=[doc], timeout=120)
            assert r.status_code in (201, 202), r.text
            return r.json() if r.status_code == 201 else finished_job(httpx.get, f"{srv.url}{r.headers['Location']}")

        def reinforce(query, chunk):
            return httpx.post(f"{url}/reinforce", json={"query": query, "chunk_ids": [chunk]}, timeout=60).json()["event"]

        assert post(paras[:3])["reinforcements_dropped"] == []
        chunk = httpx.get(f"{url}/document", params={"id": "doc"}, timeout=30).json()["chunks"][1]["chunk_id"]
        event = reinforce(paras[1], chunk)
        assert post([paras[0], _edit(paras[1]), paras[2]])["reinforcements_dropped"] == []  # it followed the edit
        assert post([paras[0], paras[3], paras[2]])["reinforcements_dropped"] == [{"event": event, "document": "doc"}]
        chunk = httpx.get(f"{url}/document", params={"id": "doc"}, timeout=30).json()["chunks"][1]["chunk_id"]
        event = reinforce(paras[3], chunk)
        job = post(paras[:3], "?background=true")
        assert job["report"]["reinforcements_dropped"] == [{"event": event, "document": "doc"}], job
    finally:
        srv.stop()


def test_one_process_recalls_the_moved_event_on_its_new_chunk(tmp_path, paras):
    """The events' caches (edges and answers) were keyed by the table's counts and lengths: an event moved from
    chunk 7 to chunk 9 in the same process (a server: recall, an edited upload, recall) kept naming chunk 7."""
    notes, mem, cid, eid = _setup(tmp_path, paras)
    with SemanticMemory(mem) as m:
        before = next(h for h in m.recall(paras[1], k=3) if h.chunk_id == cid)
        assert before.why["confirmed"] == "this query" and before.why.get("answer_weight", 0) > 0
        m.ingest([{"id": "doc.txt", "title": "doc", "text": "\n\n".join([paras[0], _edit(paras[1]), paras[2]])}])
        new = int(m.store_.document("doc.txt")["chunk_ids"][1])
        assert len(str(new)) == len(str(cid)) and [e["chunk_ids"] for e in m.reinforcements()] == [[new]]
        hit = next(h for h in m.recall(paras[1], k=3) if h.chunk_id == new)
        assert hit.why["confirmed"] == "this query" and hit.why.get("answer_weight", 0) > 0
