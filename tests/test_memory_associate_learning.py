"""Learning from use (reinforce, decay, undo, forget) and bridges, on the shipped real sample memory."""
from __future__ import annotations

import json
import math
import shutil

import pytest
from _server_helpers import QUESTION

from core.memory import SemanticMemory
from core.memory.learning import DAY, UnknownChunkError

RELATED = "Who was the Roman emperor who chose Trajan to succeed him?"


@pytest.fixture
def mem(sample_mem):
    return sample_mem


def _ranking(mem, query, mode="hybrid", k=10):
    return [(h.chunk_id, h.score) for h in mem.recall(query, k=k, mode=mode)]


def _rank(ranking, chunk_id):
    return [c for c, _ in ranking].index(chunk_id)


def test_reinforce_lifts_a_chunk_and_undo_restores_the_ranking_exactly(mem):
    before = {m: _ranking(mem, QUESTION, m) for m in ("hybrid", "associative", "similar")}
    before_related = _ranking(mem, RELATED)
    target = before["hybrid"][6][0]
    eid = mem.reinforce(QUESTION, [target], rate=0.5)
    after = _ranking(mem, QUESTION)
    assert _rank(after, target) < 6, (before["hybrid"], after)
    hit = next(h for h in mem.recall(QUESTION, k=10) if h.chunk_id == target)
    # every query node x chunk node pair got one event of rate 0.5: the weight is exactly the rate; the score
    # is the sum why names, and the path says what use added
    assert hit.why["reinforcement_weight"] == pytest.approx(0.5, abs=1e-4)
    # asked again, its answer weight is the event's: the edges add reinforce_weight x 0.5 and the answer part
    # moves it half way to just above the best score (learning._answers)
    assert hit.why["answer_weight"] == pytest.approx(0.5, abs=1e-4)
    assert hit.why["reinforcement"] > mem.reinforce_weight * 0.5
    assert hit.score == pytest.approx(dict(before["hybrid"])[target] + hit.why["reinforcement"], abs=1e-4)
    assert hit.score == pytest.approx(hit.why["similarity"] + hit.why["lift"] + hit.why["reinforcement"], abs=1e-4)
    assert hit.why_text.endswith(f"; confirmed by use +{hit.why['reinforcement']:.2f}"), hit.why_text
    related = _ranking(mem, RELATED, k=20)
    assert target in dict(related)  # a related question (shared concept 'trajan') reaches it
    if target in dict(before_related):  # and scores it higher, never ranks it lower
        assert dict(related)[target] > dict(before_related)[target] + 0.01
        assert _rank(related, target) <= _rank(before_related, target)
    assert _rank(_ranking(mem, QUESTION, "associative", k=50), target) <= \
        _rank(before["associative"] + [(target, 0)], target)
    assert _ranking(mem, QUESTION, "similar") == before["similar"]  # plain cosine is never touched
    assert mem.unreinforce(eid) is True
    assert mem.reinforcements() == []
    for m in ("hybrid", "associative", "similar"):
        assert _ranking(mem, QUESTION, m) == before[m]
    assert _ranking(mem, RELATED) == before_related
    assert mem.unreinforce(eid) is False


def test_a_reinforced_hits_score_is_exactly_the_sum_of_its_parts(mem):
    # why["reinforcement"] was rounded to 4 decimals while the score used the exact value: the parts missed the
    # score by up to 3.3e-5 on a real memory (the README says the score is a sum a reader can check)
    hits = mem.recall(QUESTION, k=10)
    mem.reinforce(QUESTION, [hits[3].chunk_id, hits[7].chunk_id], rate=0.37)
    mem.reinforce(RELATED, [hits[5].chunk_id], rate=0.29)
    checked = 0
    for mode in ("hybrid", "associative"):
        for q in (QUESTION, RELATED):
            for h in mem.recall(q, k=10, mode=mode):
                if not h.why.get("reinforcement"):
                    continue
                base = h.why["similarity"] + h.why["lift"] if mode == "hybrid" else h.why["association"]
                assert h.score == pytest.approx(base + h.why["reinforcement"], rel=1e-12, abs=1e-15), (mode, h.why)
                checked += 1
    assert checked >= 4


def test_reinforcement_survives_reopen_and_forget_drops_it(mem, sample_built):
    _, embedder, codec = sample_built
    base = _ranking(mem, QUESTION)
    target = base[5][0]
    eid = mem.reinforce(QUESTION, [target, base[7][0]], rate=0.3)
    boosted = _ranking(mem, QUESTION)
    folder = mem.folder
    mem.close()
    with SemanticMemory(folder, embedder=embedder, codec=codec, read_only=True) as ro:
        assert [e["id"] for e in ro.reinforcements()] == [eid]
        again = _ranking(ro, QUESTION)
        assert [c for c, _ in again] == [c for c, _ in boosted]
        assert [s for _, s in again] == pytest.approx([s for _, s in boosted], abs=1e-5)
    with SemanticMemory(folder, embedder=embedder, codec=codec) as m:
        doc = m.store_.chunk_rows([target])[target]["doc_key"]
        assert m.forget(doc)
        left = m.reinforcements()
        gone = set(m.store_.chunk_rows([target, base[7][0]]))
        assert all(set(e["chunk_ids"]) <= gone for e in left)
        if not gone:
            assert left == []


def test_weights_halve_after_one_half_life(mem):
    base = _ranking(mem, QUESTION)
    cid = base[0][0]
    mem.reinforce(QUESTION, [cid], rate=0.8)
    created = mem.reinforcements()[0]["created"]
    assert mem.reinforcement_half_life == 30.0  # the documented default
    w = lambda days: mem.reinforcements(now=created + days * DAY)[0]["weight"]  # noqa: E731
    assert w(0) == pytest.approx(0.8)
    assert w(30) == pytest.approx(0.4)
    assert w(60) == pytest.approx(0.2)
    mem.reinforcement_half_life = 2
    assert w(2) == pytest.approx(0.4) and w(4) == pytest.approx(0.2)
    mem.reinforcement_half_life = None
    assert w(1000) == pytest.approx(0.8)
    # the per-batch schedule: one call halves every weight now; tiny events are dropped
    assert mem.decay_reinforcements(1) == 1
    assert w(0) == pytest.approx(0.4)
    boost = lambda: next(h for h in mem.recall(QUESTION, k=5) if h.chunk_id == cid).why["reinforcement_weight"]  # noqa: E731
    assert boost() == pytest.approx(0.4, abs=1e-4)  # recall reads the decayed weight
    mem.reinforcement_half_life = 1e-9  # a day's decay in 86 microseconds: the event no longer counts
    assert _ranking(mem, QUESTION) == base
    mem.reinforcement_half_life = None
    assert mem.decay_reinforcements(6) == 0  # 0.4 / 64 < 0.01
    assert mem.reinforcements() == []
    with pytest.raises(ValueError, match="half_life"):
        mem.reinforcement_half_life = 0


def test_two_events_combine_by_the_soft_bound(mem):
    cid = _ranking(mem, QUESTION)[3][0]
    mem.reinforce(QUESTION, [cid], rate=0.5)
    mem.reinforce(QUESTION, [cid], rate=0.5)
    hit = next(h for h in mem.recall(QUESTION, k=10) if h.chunk_id == cid)
    assert hit.why["reinforcement_weight"] == pytest.approx(1 - 0.5 * 0.5, abs=1e-4)



def test_repeated_confirmations_are_walked_once_with_the_same_boost(mem):
    """Each reinforce is a row (undo takes its id), but recall walked every event's node pairs: 5,000
    confirmations of one answer made a recall 28x slower (7 -> 200 ms). Events of the same nodes are one group."""
    ranking = _ranking(mem, QUESTION)
    cid, other = ranking[3][0], ranking[5][0]
    for _ in range(100):  # ~10 ms each; the sum of the rates (1.0) is well above the bound (0.634)
        mem.reinforce(QUESTION, [cid], rate=0.01)
    assert len(mem.reinforcements()) == 100 and len(mem._reinforcement_edges()) == 1
    why = {h.chunk_id: h.why.get("reinforcement_weight") for h in mem.recall(QUESTION, k=10)}
    assert why[cid] == pytest.approx(1 - 0.99 ** 100, abs=1e-4)  # the soft bound over every event
    mem.reinforce(QUESTION, [other], rate=0.5)
    assert len(mem._reinforcement_edges()) == 2  # one per distinct (query nodes, chunk nodes)


@pytest.mark.parametrize("bad", [
    dict(query="", chunk_ids=[1]), dict(query="   ", chunk_ids=[1]), dict(query=None, chunk_ids=[1]),
    dict(query="q", chunk_ids=[]), dict(query="q", chunk_ids="12"), dict(query="q", chunk_ids=[True]),
    dict(query="q", chunk_ids=[1.5]), dict(query="q", chunk_ids=5),
    dict(query="q", chunk_ids=[1], rate=0), dict(query="q", chunk_ids=[1], rate=1),
    dict(query="q", chunk_ids=[1], rate=-0.5), dict(query="q", chunk_ids=[1], rate=math.nan),
    dict(query="q", chunk_ids=[1], rate=True)])
def test_reinforce_bad_input(mem, bad):
    with pytest.raises(ValueError):
        mem.reinforce(**bad)
    assert mem.reinforcements() == []


def test_unknown_chunk_is_a_lookup_error_and_stores_nothing(mem):
    cid = _ranking(mem, QUESTION)[0][0]
    with pytest.raises(UnknownChunkError, match="999999"):
        mem.reinforce(QUESTION, [cid, 999999])
    assert mem.reinforcements() == []
    with pytest.raises(ValueError):
        mem.unreinforce("1")
    # ids past SQLite's 64-bit range were an OverflowError (a CLI traceback, an HTTP 500)
    with pytest.raises(UnknownChunkError, match=str(2 ** 70)):
        mem.reinforce(QUESTION, [cid, 2 ** 70, -2 ** 64])
    assert mem.unreinforce(10 ** 22) is False and mem.reinforcements() == []


def test_a_reinforcement_follows_its_chunk_when_the_document_is_edited(tmp_path, embedder, sample_built):
    # re-ingesting an edited document stores its chunks again under new ids: the event kept the old ids,
    # was still listed at full weight and lifted nothing (one typo fixed elsewhere lost what was learned)
    _, _, codec = sample_built
    paras = ["Zebulon Quartz kept the lighthouse of Vask for forty years.",
             "Storm petrels nest on the cliffs below the lighthouse.",
             "The ferry from Tessary calls at Vask twice a week."]
    doc = {"id": "vask", "title": "Vask", "text": "\n\n".join(paras)}
    other = {"id": "pellow", "title": "Pellow", "text": "The harbour of Pellow freezes late in winter."}
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as m:
        m.ingest([doc, other])
        query = "who kept the lighthouse"
        hit = next(h for h in m.recall(query, k=5) if h.text == paras[0])
        eid = m.reinforce(query, [hit.chunk_id, m.recall("harbour of Pellow", k=1)[0].chunk_id])
        assert next(h for h in m.recall(query, k=5) if h.text == paras[0]).why["reinforcement"] > 0
        m.ingest([dict(doc, text="\n\n".join(paras[:2] + ["The ferry from Tessary calls at Vask every week."]))])
        now = next(h for h in m.recall(query, k=5) if h.text == paras[0])
        assert now.chunk_id != hit.chunk_id  # stored again under a new id
        event = next(e for e in m.reinforcements() if e["id"] == eid)
        assert now.chunk_id in event["chunk_ids"] and hit.chunk_id not in event["chunk_ids"], event
        assert now.why.get("reinforcement", 0) > 0, now.why
        # the reinforced paragraph itself edited: that chunk leaves the event, as on forget
        m.ingest([dict(doc, text="\n\n".join(["Zebulon Quartz kept the Vask light."] + paras[1:]))])
        event = next(e for e in m.reinforcements() if e["id"] == eid)
        assert now.chunk_id not in event["chunk_ids"] and len(event["chunk_ids"]) == 1, event


def test_read_only_memory_cannot_reinforce(sample_built):
    folder, embedder, codec = sample_built
    with SemanticMemory(folder, embedder=embedder, codec=codec, read_only=True) as ro:
        with pytest.raises(ValueError, match="read-only"):
            ro.reinforce(QUESTION, [1])
        assert ro.reinforcements() == []


# -- bridges -------------------------------------------------------------------------------
def test_bridges_paths_and_weights(mem):
    paths = mem.bridges("Nero", "Domitian", k=5)
    assert 1 <= len(paths) <= 5
    strengths = [p["strength"] for p in paths]
    assert strengths == sorted(strengths, reverse=True)
    for p in paths:
        assert p["path"][0] == "nero" and p["path"][-1] == "domitian"
        assert len(p["weights"]) == len(p["path"]) - 1 <= 3
        assert len(set(p["path"])) == len(p["path"])
        assert p["strength"] == pytest.approx(math.prod(p["weights"]), rel=1e-3)
        for a, b, w in zip(p["path"], p["path"][1:], p["weights"]):  # each edge is an association
            assoc = {x["concept"]: x["weight"] for x in mem.associations(a, k=10_000)}
            assert assoc[b] == pytest.approx(w, abs=1e-4)
    direct = mem.bridges("nerva", "trajan")
    assert direct[0]["path"] == ["nerva", "trajan"]


def test_bridges_bad_input(mem):
    assert mem.bridges("nerva", "no such concept anywhere") == []
    for bad in [dict(concept_a="", concept_b="nerva"), dict(concept_a="nerva", concept_b="  "),
                dict(concept_a="nerva", concept_b="trajan", k=0), dict(concept_a="nerva", concept_b="trajan", k=-1),
                dict(concept_a="nerva", concept_b="Nerva")]:
        with pytest.raises(ValueError):
            mem.bridges(**bad)


# -- the command line ----------------------------------------------------------------------
@pytest.fixture
def folder(sample_built, tmp_path):
    shutil.copytree(sample_built[0], tmp_path / "c")
    return str(tmp_path / "c")


def _run(*args):
    from click.testing import CliRunner

    from core.cli import cli

    return CliRunner().invoke(cli, list(args))


def test_cli_associate_bridges_and_help(folder):
    from core.cli.associate import COMMANDS

    for command in COMMANDS:
        assert command.help and "Example:" in command.help
    r = _run("associate", "Nerva", "--memory", folder, "-k", "3", "--json")
    assert r.exit_code == 0, r.output
    assoc = json.loads(r.stdout)
    assert 1 <= len(assoc) <= 3 and all(0 < a["weight"] <= 1 for a in assoc)
    r = _run("associate", "Nerva", "--memory", folder, "-k", "3")
    assert r.exit_code == 0 and assoc[0]["written"] in r.output.splitlines()[0]  # as the text writes it
    assoc = json.loads(_run("associate", "Nerva", "--memory", folder, "-k", "200", "--json").stdout)
    lines = _run("associate", "Nerva", "--memory", folder, "-k", "200").stdout.splitlines()
    assert any(a["chunks"] == 1 for a in assoc) and len(lines) == len(assoc)
    for a, line in zip(assoc, lines):  # it said "(1 chunks)"
        assert line.endswith(f"({a['chunks']} chunk{'' if a['chunks'] == 1 else 's'})"), line
    r = _run("bridges", "nero", "domitian", "--memory", folder)
    assert r.exit_code == 0 and r.output.startswith("0.") and "—" in r.output and "→ Domitian" in r.output
    for bad, msg, code in [(["associate", "  ", "--memory", folder], "is blank", 2),  # a usage error (exit 2)
                           (["bridges", "nero", "", "--memory", folder], "is empty", 2),
                           (["associate", "nero", "--memory", folder + "/nope"], "no memory", 1)]:
        r = _run(*bad)
        assert r.exit_code == code and msg in r.output and "Traceback" not in r.output, r.output


def test_cli_reinforce_recall_explain_and_undo(folder):
    r = _run("recall", QUESTION, "--memory", folder, "-k", "8", "--json")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    target = hits[6]["chunk_id"]
    r = _run("reinforce", QUESTION, str(target), "--memory", folder, "--rate", "0.6")
    assert r.exit_code == 0, r.output
    eid = int(r.stdout.split()[1].rstrip(":"))
    r = _run("recall", QUESTION, "--memory", folder, "-k", "8", "--explain")
    assert r.exit_code == 0, r.output
    assert "path: query" in r.output and "reinforcement weight 0.600 (confirmed for this query)" in r.output
    assert "answer weight 0.600" in r.output  # asked again: the passage answers this question with the rate
    assert "seed passages" in r.output and "score " in r.output
    r = _run("reinforcements", "--memory", folder)
    assert str(eid) in r.output and "\n1 event; half-life 30 days" in r.output, r.output  # "1 events", "30.0 days"
    with SemanticMemory(folder) as m:
        m.reinforcement_half_life = 1
    try:
        r = _run("reinforcements", "--memory", folder)
        assert "half-life 1 day\n" in r.output, r.output  # it said "1 days"
    finally:
        with SemanticMemory(folder) as m:
            m.reinforcement_half_life = 30.0
    assert _run("unreinforce", str(eid), "--memory", folder).exit_code == 0
    r = _run("unreinforce", str(eid), "--memory", folder)
    assert r.exit_code == 1 and "no reinforcement event" in r.output
    r = _run("reinforce", QUESTION, "987654", "--memory", folder)
    assert r.exit_code == 1 and "unknown chunk ids [987654]" in r.output
    assert _run("reinforce", QUESTION, "x", "--memory", folder).exit_code == 2
    assert _run("reinforce", QUESTION, "1", "--memory", folder, "--rate", "1").exit_code == 2


def test_cli_reinforcements_prints_a_stored_query_as_one_plain_line(folder):
    from click.testing import CliRunner

    from core.cli import cli

    # a query sent to POST /reinforce by anyone holding the token came back raw on the terminal of whoever ran
    # `mycelial reinforcements`: escape sequences (clear screen, set the window title) and line breaks
    r = _run("recall", QUESTION, "--memory", folder, "-k", "1", "--json")
    chunk = json.loads(r.stdout)[0]["chunk_id"]
    query = "\x1b[2J\x1b]0;owned\x07who adopted\nTrajan?\tand why\x1b[0m"
    r = _run("reinforce", query, str(chunk), "--memory", folder)
    assert r.exit_code == 0, r.output
    eid = r.stdout.split()[1].rstrip(":")
    out = CliRunner().invoke(cli, ["reinforcements", "--memory", folder], color=True).stdout  # as on a terminal
    line = next(x for x in out.splitlines() if x.lstrip().startswith(eid + " "))
    assert line.endswith("who adopted\\nTrajan?\\tand why") and "\x1b" not in out and "\x07" not in out, out
    assert _run("unreinforce", eid, "--memory", folder).exit_code == 0


def test_cli_graph_of_a_concept(folder, tmp_path):
    import networkx as nx

    out = tmp_path / "fig"
    r = _run("graph", "--memory", folder, "--concept", "Nerva", "--depth", "2", "--out", str(out))
    assert r.exit_code == 0, r.output
    g = nx.read_graphml(out / "nerva.graphml")
    assert "nerva" in g and "domitian" in g and g.number_of_nodes() > 10
    assert all(0 < d["weight"] <= 1 for _, _, d in g.edges(data=True))
    assert (out / "nerva.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (out / "nerva.png").stat().st_size > 20_000
    for bad, msg in [(["graph", "--memory", folder, "--concept", "zzqx"], "not a concept"),
                     (["graph", "--memory", folder], "go together"), (["graph"], "NETWORK")]:
        r = _run(*bad)
        assert r.exit_code != 0 and msg in r.output and "Traceback" not in r.output
    # its own files are written again; a user's nerva.png in the folder (./ by default) is never replaced
    assert _run("graph", "--memory", folder, "--concept", "Nerva", "--out", str(out)).exit_code == 0
    (out / "nerva.png").write_bytes(b"my own picture")
    before = (out / "nerva.graphml").read_bytes()
    r = _run("graph", "--memory", folder, "--concept", "Nerva", "--depth", "2", "--out", str(out))
    assert r.exit_code == 1 and f"{out / 'nerva.png'} exists and was not written by `mycelial graph`" in r.output
    assert (out / "nerva.png").read_bytes() == b"my own picture" and (out / "nerva.graphml").read_bytes() == before


def test_the_walk_names_the_known_concepts_and_recall_reads_the_nodes_reinforce_stores(mem):
    """The walk's ``seed_phrases`` are the memory's concepts the query names: the page offered "vienna opera
    alice bob" as a concept to draw. Recall reuses the walk's codes and reads every query node reinforce()
    stores (a phrase not yet a concept too), with and without an explanation."""
    query = RELATED + " Vienna Opera Alice Bob"
    q = mem.embed_queries([query])[0]
    trace = mem._associate(q, query, *mem._vector_search(q, 20), set(), True)[1]
    stored = mem._query_nodes(query, q)
    assert "c:vienna opera alice bob" in stored and "vienna opera alice bob" not in trace["seed_phrases"]
    assert trace["seed_phrases"] and {f"c:{p}" for p in trace["seed_phrases"]} < set(stored)
    assert all(p in mem.graph_.vocab_ for p in trace["seed_phrases"])
    assert sorted(f"k:{h}:{c}" for h, c in trace["seed_codes"]) == sorted(n for n in stored if n.startswith("k:"))
    cid = _ranking(mem, query)[4][0]
    eid = mem.reinforce(query, [cid], rate=0.5)
    try:
        explained = next(h for h in mem.recall(query, k=10) if h.chunk_id == cid)
        plain = next(h for h in mem.recall_vector(q, k=10, query_text=query, explain=False) if h.chunk_id == cid)
        assert explained.why["reinforcement_weight"] == pytest.approx(0.5, abs=1e-4)
        assert plain.score == pytest.approx(explained.score, abs=1e-6)
    finally:
        mem.unreinforce(eid)


def test_an_unknown_concept_names_the_concepts_like_it(folder):
    # it said "no associations for 'emperorz' (not a concept of this memory, or never named with another)"
    r = _run("associate", "emperorz", "--memory", folder)
    assert r.exit_code == 1, r.output
    assert "no associations for 'emperorz' (not a concept of this memory; like it: emperor" in r.output, r.output
    like = r.output.split("like it: ")[1].rstrip(")\n").split(", ")
    assert 1 <= len(like) <= 5 and all("emperor" in c for c in like), like  # not 'romantic' for 'roman'
    for typo, meant in (("emperro", "emperor"), ("trajann", "trajan"), ("dom itian", "domitian")):
        r = _run("associate", typo, "--memory", folder)  # only plurals were offered; a typo got no hint
        assert r.exit_code == 1 and f"like it: {meant}" in r.output, r.output
    r = _run("bridges", "Nero", "xyzzy plugh", "--memory", folder)
    assert r.exit_code == 1 and r.output.strip() == \
        "no path between 'Nero' and 'xyzzy plugh' ('xyzzy plugh': not a concept of this memory)", r.output
    assert json.loads(_run("associate", "emperorz", "--memory", folder, "--json").stdout) == []  # data unchanged
    r = _run("associate", "emperors", "--memory", folder)  # a plural is read as its singular concept, and says so
    assert r.exit_code == 0 and "'emperors' is no concept of this memory; read as 'emperor'" in r.stderr, r.output
