"""A file without a title of its own is titled by its name made readable (Du_Fu.txt is "Du Fu", its id stays
"Du_Fu.txt"); a heading, front matter or JSONL title stays as written; an older memory's unchanged files keep
their stored title and are not embedded again."""
from __future__ import annotations

import json

from click.testing import CliRunner

from core.cli import cli
from core.memory import SemanticMemory
from core.memory.readers import Record, document_id, read_paths

# the texts never name their poet: the concept "du fu" can only come from the file's name
POETS = {
    "Du_Fu.txt": "He was a prominent Chinese poet of the Tang dynasty.\n\n"
                 "His poems describe the An Lushan Rebellion and the suffering of ordinary people.\n",
    "Li_Bai.md": "A poet of the Tang dynasty, famous for his romantic verse about wine and the moon.\n",
    "Wang_Wei.txt": "A painter and poet who wrote quiet verse about mountains and rivers.\n",
}


def _poets(folder):
    folder.mkdir()
    for name, text in POETS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_name_title():
    from core.memory._names import name_title

    assert name_title("Du_Fu") == "Du Fu"
    assert name_title("__Li__Bai_") == "Li Bai"  # runs and ends
    assert name_title("release-notes_v1.2") == "release-notes v1.2"  # hyphens and dots stay
    assert name_title("Rock%20and%20roll") == "Rock and roll" and name_title("AT%26T") == "AT&T"
    assert name_title("Caf%C3%A9") == "Café" and name_title("AC%2FDC") == "AC/DC"
    assert name_title("100%_cotton") == "100% cotton" and name_title("bad%FF") == "bad%FF"  # not UTF-8: as written
    assert name_title("nul%00x") == "nul%00x" and name_title("a%0Ab") == "a%0Ab"  # no control character
    assert name_title("___") == "___" and name_title("cafe\u0301") == "caf\u00e9"


def test_only_a_title_from_the_name_is_changed(tmp_path):
    folder = _poets(tmp_path / "poets")
    (folder / "Own_Heading.md").write_text("# Tang_poetry\n\nVerse of the Tang dynasty.\n", encoding="utf-8")
    (folder / "Front_Matter.md").write_text("---\ntitle: snake_case_title\n---\nA note.\n", encoding="utf-8")
    (folder / "records.jsonl").write_text(json.dumps({"id": "r1", "title": "Han_Shan", "text": "A hermit."}) + "\n",
                                          encoding="utf-8")
    errors: list = []
    recs = {r.doc_id: r for r in read_paths([folder], errors)}
    assert errors == []
    assert {k: r.title for k, r in recs.items()} == {
        "Du_Fu.txt": "Du Fu", "Li_Bai.md": "Li Bai", "Wang_Wei.txt": "Wang Wei", "Own_Heading.md": "Tang_poetry",
        "Front_Matter.md": "snake_case_title", "r1": "Han_Shan"}


def test_a_query_naming_the_file_reaches_it_through_its_title(tmp_path, embedder):
    folder, mem_dir = _poets(tmp_path / "poets"), tmp_path / "mem"
    with SemanticMemory(mem_dir, embedder=embedder) as mem:
        mem.ingest([folder])
        assert "du fu" in mem.graph_.vocab_ and "du_fu" not in mem.graph_.vocab_
        hit = mem.recall("Du Fu", k=1, mode="associative")[0]
        assert (hit.doc_id, hit.title) == ("Du_Fu.txt", "Du Fu")
        assert "'Du Fu'" in hit.why_text, hit.why_text  # through the concept, not the vector alone
        assert "tang" in [a["concept"] for a in mem.associations("Li Bai")]
    listed = json.loads(_run("list", "--memory", mem_dir, "--json").stdout)
    assert [(d["id"], d["title"]) for d in listed] == [("Du_Fu.txt", "Du Fu"), ("Li_Bai.md", "Li Bai"),
                                                        ("Wang_Wei.txt", "Wang Wei")]
    assert json.loads(_run("get", "Du_Fu.txt", "--memory", mem_dir, "--json").stdout)["title"] == "Du Fu"
    r = _run("ingest", folder, "--memory", mem_dir, "-q", "--sync")  # the id is the file's name, as before
    assert r.exit_code == 0 and "3 unchanged" in r.output, r.output
    assert _run("forget", "Du_Fu.txt", "--memory", mem_dir).exit_code == 0


def test_an_older_memory_keeps_unchanged_files_as_they_are(tmp_path, embedder):
    """A memory made before names became readable: --sync of its unchanged files embeds nothing and keeps their
    title; an edited file takes the readable title."""
    folder, mem_dir = _poets(tmp_path / "poets"), tmp_path / "mem"
    old = []
    for name in POETS:  # what the older reader made of these files: the name as written
        doc_id, meta = document_id(folder / name, folder)
        old.append(Record(doc_id, POETS[name], name.rsplit(".", 1)[0], meta, str(folder / name), merge=True))
    with SemanticMemory(mem_dir, embedder=embedder) as mem:
        mem.ingest(old)
        chunks = {d: mem.store_.document(d)["chunk_ids"] for d in POETS}
    r = _run("ingest", folder, "--memory", mem_dir, "-q", "--sync")
    assert r.exit_code == 0 and "3 unchanged" in r.output, r.output
    with SemanticMemory(mem_dir, embedder=embedder) as mem:
        assert {d: mem.store_.document(d)["chunk_ids"] for d in POETS} == chunks
        assert mem.store_.count_chunks() == 3 and mem.store_.document("Du_Fu.txt")["title"] == "Du_Fu"
        (folder / "Du_Fu.txt").write_text(POETS["Du_Fu.txt"] + "\nHe is often called the Poet-Historian.\n",
                                          encoding="utf-8")
        report = mem.ingest([folder])
        assert (report.replaced, report.unchanged) == (1, 2)
        assert mem.store_.document("Du_Fu.txt")["title"] == "Du Fu"
        assert mem.store_.document("Li_Bai.md")["title"] == "Li_Bai"
        assert mem.recall("Du Fu", k=1, mode="associative")[0].doc_id == "Du_Fu.txt"
