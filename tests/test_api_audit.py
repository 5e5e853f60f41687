"""The Python API under a demanding first afternoon: bad arguments are named (ValueError/TypeError) and
change nothing; valid ones (numpy scalars, a DataFrame row's ids) work. Real SQLite, FAISS and model."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from core.memory import RecallConfig, SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

DOCS = [
    {"id": "rush", "title": "Rush", "text": "Rush were a Canadian rock band formed in Toronto. Neil Peart was "
                                            "their drummer and lyricist; Geddy Lee sang and played bass."},
    {"id": "nero", "title": "Nero", "text": "Nero was Roman emperor after Claudius. His mother Agrippina "
                                            "arranged his adoption; Seneca was his tutor in Rome."},
    {"id": "None", "text": "A record whose id is the word None: the harbour committee of Zanzibar met."},
    {"id": "quokka", "text": "Quokkas live on Rottnest Island near Perth, in Western Australia."},
]


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


@pytest.fixture(scope="module")
def mem(tmp_path_factory, embedder, codec):
    m = SemanticMemory(tmp_path_factory.mktemp("audit") / "m", embedder=embedder, codec=codec)
    m.ingest(DOCS)
    yield m
    m.close()


def _state(m) -> tuple:
    s = m.stats()
    return s["documents"], s["chunks"], s["index_vectors"], s["network"]["events"]


def test_ingest_refuses_bytes_and_non_iterables_naming_the_source(mem):
    # b"..." was iterated byte by byte (one "expected a path, dict or Record, got int" per byte); None and 5
    # failed with "'NoneType' object is not iterable"; progress="no" showed a bar
    before = _state(mem)
    for bad in (b"Rush were a band", None, 5):
        with pytest.raises(TypeError, match=r"source must be a path, a list of paths or an iterable of records"):
            mem.ingest(bad)
    with pytest.raises(ValueError, match="progress must be True or False, got 'no'"):
        mem.ingest([{"id": "p", "text": "a progress flag given as a word"}], progress="no")
    assert _state(mem) == before and mem.recall("who drummed for Rush?", k=1)[0].doc_id == "rush"


def test_text_given_as_the_source_is_told_to_be_a_record(mem):
    # ingest("Rush were ...") read the sentence as a path: "no such file or folder", and no word of records
    rep = mem.ingest("Rush were a Canadian rock band from Toronto.")
    assert [e.message for e in rep.errors] == ["no such file or folder; to ingest text, pass records: "
                                               "ingest([{'id': 'note-1', 'text': ...}])"], rep
    assert [e.message for e in mem.ingest("no_such_notes/").errors] == ["no such file or folder"]


def test_an_empty_path_is_an_error_not_the_working_directory(mem, tmp_path, monkeypatch):
    # Path("") is Path("."): ingest("") (an empty variable) read every file under the working directory, recursively
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "diary.txt").write_text("Dear diary, the Pemba lighthouse keeper came to tea today.")
    monkeypatch.chdir(tmp_path)
    before = _state(mem)
    for source in ("", [""], ["  "]):
        rep = mem.ingest(source)
        assert [e.message for e in rep.errors] == ["empty path; give '.' to mean the working directory"], rep
        assert rep.documents == 0 and _state(mem) == before


def test_sync_of_an_empty_path_forgets_nothing(tmp_path, monkeypatch, embedder, codec):
    # `mycelial ingest "" notes/ --sync` synced the working directory: "" forgot the documents of its deleted files
    from core.memory.documents import sync_folder

    notes = tmp_path / "notes"
    notes.mkdir()
    for name in ("a", "b"):
        (notes / f"{name}.txt").write_text(f"Note {name}: the Pemba lighthouse was painted {name}-white.")
    monkeypatch.chdir(notes)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as m:
        assert m.ingest(".").documents == 2
        (notes / "b.txt").unlink()
        with pytest.raises(ValueError, match="--sync needs a folder; an empty path is not one"):
            sync_folder(m, "")
        assert m.stats()["documents"] == 2
        assert sync_folder(m, ".") == ["b.txt"]


def test_a_dataframe_rows_numpy_id_and_metadata_are_ingested_as_numbers(mem):
    # np.int64 ids were refused ('"id" must be a string or integer, got int64'); np.int64 metadata was stored as the
    # string "1990", so where={"year": 1990} matched nothing; where={"year": np.int64(1990)} was refused
    rep = mem.ingest([{"id": np.int64(77), "text": "The lighthouse keeper of Zanzibar retired after forty years.",
                       "year": np.int64(1990), "ok": np.bool_(True), "score": np.float32(0.5)}])
    assert rep.documents == 1 and not rep.errors, rep
    for year in (1990, np.int64(1990)):
        hits = mem.recall("lighthouse keeper", k=3, where={"year": year})
        assert [h.doc_id for h in hits] == ["77"], hits
    assert hits[0].metadata == {"year": 1990, "ok": True, "score": 0.5}
    assert mem.forget(77)


def test_metadata_json_cannot_hold_is_one_error_and_the_other_records_are_stored(mem):
    # a tuple key failed the whole ingest (a TypeError from json.dumps; the good record before it was lost too);
    # a set, bytes or an object were stored as their str() ("{1, 2}", "b'x'", an object's memory address)
    import datetime

    from core.memory.records import Record

    good = {"id": "meta-good", "text": "The Pemba ferry timetable of 1961, its first page.",
            "when": datetime.date(1961, 5, 1), "nested": {"tags": ("ferry", np.int64(3))}}
    bad = [{"id": "meta-tuple", "text": "A Pemba ferry ticket.", (1, 2): "t"},
           {"id": "meta-set", "text": "A Pemba ferry ticket.", "tags": {1, 2}},
           {"id": "meta-bytes", "text": "A Pemba ferry ticket.", "metadata": {"raw": b"xx"}},
           {"id": "meta-deep", "text": "A Pemba ferry ticket.", "nested": {1: "x"}},
           Record(doc_id="meta-rec", text="A Pemba ferry ticket.", meta={"obj": object()})]
    before = _state(mem)
    rep = mem.ingest([bad[0], good, *bad[1:]])
    assert rep.documents == 1 and len(rep.errors) == 5, rep
    said = " | ".join(str(e) for e in rep.errors)
    for part in ("key (1, 2) is tuple", "'tags' holds a set", "'raw' holds a bytes", "key 1 is int",
                 "'obj' holds a object"):
        assert part in said, said
    hit = mem.recall("Pemba ferry timetable", k=1, where={"when": "1961-05-01"})[0]
    assert hit.doc_id == "meta-good" and hit.metadata == {"when": "1961-05-01", "nested": {"tags": ["ferry", 3]}}
    assert mem.forget("meta-good") and _state(mem) == before


def test_documents_and_document_list_and_read_what_the_memory_holds(mem):
    # the CLI and HTTP listed and read documents; Python had to import them from a private module
    ids = [d["id"] for d in mem.documents()]
    assert ids == sorted(ids) and {"rush", "nero", "None", "quokka"} <= set(ids)
    assert [d["id"] for d in mem.documents(prefix="n")] == ["nero"]
    page = mem.documents(limit=2, offset=1, with_meta=True)
    assert [d["id"] for d in page] == ids[1:3] and all("meta" in d for d in page)
    doc = mem.document("rush")
    assert doc["title"] == "Rush" and " ".join(c["text"] for c in doc["chunks"]) == DOCS[0]["text"]
    assert mem.document("no such id") is None
    for bad in (dict(limit=0), dict(offset=-1), dict(limit=True), dict(with_meta="yes")):
        with pytest.raises(ValueError):
            mem.documents(**bad)
    with pytest.raises(TypeError):
        mem.documents(prefix=5)
    with pytest.raises(TypeError):
        mem.document(None)


def test_a_record_whose_metadata_alone_changed_is_updated(mem):
    # the content hash covers text and title only: the record was counted unchanged and kept its old metadata,
    # so where={"category": "new"} found nothing after the user corrected it and ingested it again
    rec = {"id": "meta-edit", "text": "The Pemba lighthouse logbook of 1990, page one.", "category": "old"}
    assert mem.ingest([rec]).documents == 1
    saved = sorted(p.name for p in mem.folder.glob("*.npz"))
    rep = mem.ingest([{**rec, "category": "new", "year": np.int64(1990)}])
    assert (rep.documents, rep.replaced, rep.unchanged, rep.chunks) == (1, 1, 0, 0), rep
    hits = mem.recall("Pemba lighthouse logbook", k=1, where={"category": "new"})
    assert [h.doc_id for h in hits] == ["meta-edit"] and hits[0].metadata == {"category": "new", "year": 1990}
    assert sorted(p.name for p in mem.folder.glob("*.npz")) == saved  # no chunk changed: no derived file rewritten
    rep = mem.ingest([{**rec, "category": "new", "year": 1990}])
    assert (rep.documents, rep.unchanged) == (0, 1), rep
    assert mem.forget("meta-edit")


def test_ingest_vectors_refuses_a_string_of_ids_or_texts_and_bad_items(mem):
    # ids="abc" stored three documents 'a', 'b', 'c'; texts="abc" gave them the texts 'a', 'b', 'c'; texts=[1, 2, 3]
    # failed in the chunker ("'int' object has no attribute 'split'"); a lone surrogate was a UnicodeEncodeError;
    # batch_size="5" a TypeError from '<'
    X = np.random.default_rng(3).standard_normal((3, 384)).astype(np.float32)
    before = _state(mem)
    cases = [(("abc", X), {}, TypeError, "ids must be a list .* got str 'abc'"),
             ((None, X), {}, TypeError, "ids must be a list"),
             ((["v1", "v2", "v3"], X), {"texts": "abc"}, TypeError, "texts must be a list .* got str"),
             ((["v1", "v2", "v3"], X), {"texts": [1, 2, 3]}, ValueError, "texts must hold strings .* got int 1"),
             ((["v1", "v2\ud800", "v3"], X), {}, ValueError, r"ids\[1\] holds an unpaired surrogate"),
             ((["v1", "v2", "v3"], X), {"texts": ["x", None, "y\udc80"]}, ValueError, r"texts\[2\] holds an unpaired"),
             # a NUL in a text was stored (a record's text with one is refused)
             ((["v1", "v2", "v3"], X), {"texts": ["x\x00y", None, "z"]}, ValueError, r"texts\[0\] contains a NUL"),
             ((["v1", "v2", "v3"], X), {"batch_size": "5"}, ValueError, "batch_size must be a whole number"),
             ((["v1", "v2", "v3"], X), {"batch_size": 1.5}, ValueError, "batch_size must be a whole number")]
    for args, kwargs, exc, message in cases:
        with pytest.raises(exc, match=message):
            mem.ingest_vectors(*args, **kwargs)
    assert _state(mem) == before
    assert mem.ingest_vectors(["v1", "v2", "v3"], X, texts=["x", None, "y"], batch_size=np.int64(2)).documents == 3
    assert mem.forget_many(["v1", "v2", "v3"]) == ["v1", "v2", "v3"] and _state(mem)[:3] == before[:3]


def test_ingest_vectors_names_a_repeated_id(mem):
    # "ids must be unique" left the user to search their ids (1 and "1" are one document id)
    X = np.random.default_rng(4).standard_normal((3, 384)).astype(np.float32)
    before = _state(mem)
    with pytest.raises(ValueError, match="ids must be unique: '1' is at positions 0 and 2"):
        mem.ingest_vectors([1, "u2", "1"], X)
    assert _state(mem) == before


def test_a_record_object_is_checked_like_a_dict_record(mem):
    # a Record given directly skipped the dict's checks: an int id or a None title failed the whole ingest
    # ("unsupported operand type(s) for +: 'int' and 'str'"), an empty id was stored as the document ""
    from mycelial import Record

    before = _state(mem)
    rep = mem.ingest([Record("", "A record with an empty id about the Zanzibar lighthouse.", ""),
                      Record("r-none", None, ""),
                      Record(42, "Record forty-two names the lighthouse of Pemba island.", None)])
    assert [(e.line, e.message) for e in rep.errors] == [
        (1, 'missing "id"'), (2, 'missing "text" (a string or a list of paragraphs)')], rep
    assert rep.documents == 1 and mem.store_.document("42") is not None and mem.store_.document("") is None
    assert mem.forget(42) and _state(mem) == before


def test_where_finds_metadata_keys_holding_a_quote_a_backslash_or_a_newline(mem):
    # SQLite's JSON path `$."a\\"b"` matches no document: where={'a"b': 'v'} (or a backslash, a newline) found
    # nothing although the documents hold the key, silently
    keys = ['say "hi"', "C:\\notes", "two\nlines", "plain.dotted"]
    mem.ingest([{"id": f"odd{i}", "text": f"Odd key {i}: the lighthouse log of Pemba.", k: "v"}
                for i, k in enumerate(keys)])
    for i, k in enumerate(keys):
        assert [h.doc_id for h in mem.recall("lighthouse log", k=3, where={k: "v"})] == [f"odd{i}"], k
    assert [h.doc_id for h in mem.recall("lighthouse log", k=3, where={k: "v" for k in keys[:2]})] == []
    assert mem.forget_many([f"odd{i}" for i in range(len(keys))]) == [f"odd{i}" for i in range(len(keys))]


def test_a_query_with_a_lone_surrogate_is_named(mem, embedder):
    # recall, recall_batch and reinforce failed in the embedding cache: "'utf-8' codec can't encode character"
    with pytest.raises(ValueError, match=r"^query holds an unpaired surrogate \('\\ud800' at character 4\)"):
        mem.recall("Rush\ud800 drummer")
    with pytest.raises(ValueError, match=r"^queries\[1\] holds an unpaired surrogate"):
        mem.recall_batch(["Rush", "Nero\udc80"])
    with pytest.raises(ValueError, match=r"^query \(the question the chunks answered\) holds an unpaired"):
        mem.reinforce("who\ud800", [mem.recall("Rush", k=1)[0].chunk_id])
    with pytest.raises(ValueError, match=r"texts\[0\] holds an unpaired surrogate"):
        embedder.embed(["a\ud800b"])
    assert mem.reinforcements() == []


def test_recall_takes_numpy_numbers_and_names_a_bad_query_text(mem):
    # min_score=np.float32(0.3) (a score read back from numpy) was "must be a finite number"; query_text=5 an
    # AttributeError ('isascii'); exclude=[10**20] an OverflowError inside numpy
    plain = [h.chunk_id for h in mem.recall("Neil Peart drummer", k=5, min_score=0.3)]
    assert plain and [h.chunk_id for h in mem.recall("Neil Peart drummer", k=5, min_score=np.float32(0.3))] == plain
    q = mem.embed_queries(["Neil Peart drummer"])[0]
    for bad in (5, b"Rush"):
        with pytest.raises(ValueError, match="query_text must be a non-empty string"):
            mem.recall_vector(q, k=2, query_text=bad)
    assert len(mem.recall_vector(q, k=2, query_text="")) == 2  # no phrases, as before
    assert [h.chunk_id for h in mem.recall("Neil Peart drummer", k=5, min_score=0.3, exclude=[10 ** 20])] == plain
    for recall in (lambda e: mem.recall("Neil Peart drummer", exclude=e), lambda e: mem.recall_batch(["x"], exclude=e)):
        with pytest.raises(ValueError, match="exclude holds -5: chunk ids are never negative"):  # left nothing out
            recall([3, -5])


def test_recall_batch_checks_its_queries_and_mode_before_embedding(mem):
    # None and 5 were "'NoneType' object is not iterable"; a mode typo passed when the list was empty (and was
    # found only after every query had been embedded)
    for bad in (None, 5):
        with pytest.raises(ValueError, match="queries must be a list of query strings"):
            mem.recall_batch(bad)
    with pytest.raises(ValueError, match="mode must be one of"):
        mem.recall_batch([], mode="hybird")
    assert [len(h) for h in mem.recall_batch(("Rush", "Nero"), k=1)] == [1, 1]


def test_forget_refuses_what_is_not_a_document_id(mem):
    # forget(None) forgot the document "None" (str(None)); forget(b"rush") and forget(["rush"]) looked up
    # "b'rush'" and "['rush']" and said False; forget_many(["rush", None]) forgot "rush" and ignored None
    before = _state(mem)
    for bad in (None, b"rush", ["rush"], 1.5):
        with pytest.raises(TypeError, match="a document id is a string"):
            mem.forget(bad)
    with pytest.raises(TypeError, match="got NoneType None"):
        mem.forget_many(["rush", None])
    with pytest.raises(TypeError, match="doc_ids must be a list of document ids, got NoneType"):
        mem.forget_many(None)
    with pytest.raises(ValueError, match="unpaired surrogate"):  # was a UnicodeEncodeError inside SQLite
        mem.forget("rush\ud800")
    assert _state(mem) == before and mem.store_.document("None") is not None
    assert mem.forget_many([]) == []


def test_hits_given_for_ids_are_named_with_the_field_to_take(mem):
    # reinforce(query, hits) printed every hit whole (text, why) in "got [Hit(...)]" without saying what to pass;
    # forget_many(hits) looked up str(hit) and said nothing was found
    hits = mem.recall("who drummed for Rush?", k=2)
    with pytest.raises(ValueError, match=r"\[h\.chunk_id for h in hits\]\), got \[Hit\(") as info:
        mem.reinforce("who drummed for Rush?", hits)
    assert len(str(info.value)) < 400
    with pytest.raises(TypeError, match="take hit.doc_id"):
        mem.forget_many(hits)
    assert mem.reinforcements() == [] and mem.store_.document("rush") is not None


def test_bridges_width_is_a_whole_number(mem):
    # width=-1 cut the strongest associates' list short of its last one, 2.5 was read as 2, None a TypeError
    for bad in (-1, 2.5, None, True):
        with pytest.raises(ValueError, match="width must be a whole number of at least 0"):
            mem.bridges("rush", "nero", width=bad)
    assert isinstance(mem.bridges("rush", "nero", width=0), list)


def test_reinforcements_now_is_a_time(mem):
    with pytest.raises(ValueError, match="now must be a time in seconds"):  # was "could not convert string to float"
        mem.reinforcements(now="yesterday")
    with pytest.raises(ValueError, match="now must be a time in seconds"):  # NaN: every event at its full weight
        mem.reinforcements(now=math.nan)


def test_recall_config_refuses_knobs_that_cannot_work():
    # fusion_weight=nan ranked unrelated passages first in hybrid; candidates=0 made associative recall return
    # nothing; seed_temperature=0 divided by zero; candidates="5" failed inside a comparison during recall
    for kwargs, message in [({"fusion_weight": math.nan}, "fusion_weight must be a finite number of at least 0"),
                            ({"candidates": 0}, "candidates must be a whole number of at least 1"),
                            ({"candidates": "5"}, "candidates must be a whole number"),
                            ({"seed_hits": -1}, "seed_hits must be a whole number of at least 0"),
                            ({"seed_temperature": 0}, "seed_temperature must be a positive number"),
                            ({"neighbour_weight": 2.0}, "neighbour_weight must be a number from 0 to 1"),
                            ({"seed_codes_from_hits": "no"}, "seed_codes_from_hits must be True or False")]:
        with pytest.raises(ValueError, match=f"RecallConfig.{message}"):
            RecallConfig(**kwargs)
    with pytest.raises(ValueError, match="RecallConfig.restart"):
        dataclasses.replace(RecallConfig(), restart=-0.5)
    assert dataclasses.replace(RecallConfig(), neighbour_weight=0.0, fusion_weight=0.0).candidates == 100


def test_the_folder_argument_is_checked_and_a_tilde_is_home(tmp_path, monkeypatch, embedder, codec):
    # None failed inside pathlib ("expected str, bytes or os.PathLike object"); "" meant the working directory;
    # "~/mem" made a folder named "~" in the working directory
    with pytest.raises(TypeError, match="folder must be a path .* got NoneType"):
        SemanticMemory(None, embedder=embedder, codec=codec)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(ValueError, match="folder must name a folder, got an empty path"):
        SemanticMemory("", embedder=embedder, codec=codec)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with SemanticMemory("~/mem", embedder=embedder, codec=codec) as m:
        assert m.folder == tmp_path / "home" / "mem"
    assert (tmp_path / "home" / "mem" / "mycelial.json").is_file() and list((tmp_path / "work").iterdir()) == []


def test_a_closed_memory_refuses_a_second_with(tmp_path, embedder, codec):
    # the second `with mem:` entered, and every call in it failed with "memory store ... is closed"
    m = SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec)
    with m:
        m.ingest(DOCS[:1])
    with pytest.raises(ValueError, match=r"is closed; open it again with SemanticMemory\("):
        with m:
            pass
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as again:
        assert again.stats()["documents"] == 1
        assert again.associations("neil peart")


def test_associations_graph_and_bridges_of_a_closed_memory_say_it_is_closed(tmp_path, embedder, codec):
    # they answered from the network left in memory after close(), while recall and stats said "store is closed"
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as m:
        m.ingest(DOCS[:2])
        assert m.associations("neil peart")
    for call in (lambda: m.associations("neil peart"), lambda: m.graph("neil peart"),
                 lambda: m.bridges("neil peart", "geddy lee")):
        with pytest.raises(ValueError, match=r"is closed; open it again with SemanticMemory\("):
            call()


def test_a_read_only_memory_catches_up_at_refresh(tmp_path, embedder, codec):
    # refresh() returned False on a read_only=True memory, so it never recalled what another object or process
    # wrote after it opened (its index and network stayed as they were at open)
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as writer:
        writer.ingest(DOCS)
        reader = SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec, read_only=True)
        assert reader.refresh() is False  # nothing new
        writer.ingest([{"id": "pemba", "text": "The lighthouse of Pemba island was lit again in 1998."}])
        assert reader.refresh() is True
        assert reader.recall("Pemba lighthouse", k=1)[0].doc_id == "pemba"
        assert reader.stats()["index_vectors"] == writer.stats()["index_vectors"]
        writer.forget("pemba")
        assert reader.refresh() is True and "pemba" not in [h.doc_id for h in reader.recall("Pemba lighthouse", k=3)]
        assert reader.stats()["index_vectors"] == writer.stats()["index_vectors"]
        reader.close()
