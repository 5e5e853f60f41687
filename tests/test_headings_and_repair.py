"""A heading is not part of the name under it, and a repaired phrase column equals a clean ingest's."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from _memory_helpers import wiki_records

from core.memory import SemanticMemory
from core.memory.chunking import chunk_text
from core.memory.phrases import extract_phrases
from core.reasoning.mycelial import MycelialVQVAE

SAMPLE = Path(__file__).resolve().parents[1] / "core" / "memory" / "sample"


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def test_a_heading_and_the_name_opening_its_text_are_two_names():
    # the packaged sample: "# Nero\n\nNero (...) was Roman Emperor" once gave the concept 'nero nero'
    for name in ("nero", "nerva", "du_fu", "imagism"):
        first = chunk_text((SAMPLE / f"{name}.md").read_text(encoding="utf-8"))[0]
        found = extract_phrases(first)
        assert all(len(set(p.split())) == len(p.split()) for p in found), (name, found)
        assert found[0] == name.replace("_", " ")
    # a man page's section name does not join the first word under it ("description grep")
    man = chunk_text("DESCRIPTION\n       Grep searches the named input FILEs.\n\n"
                     "## Installation\n\nRun npm install first.")
    assert [p for c in man for p in extract_phrases(c)] == ["grep", "installation"]  # "Run" opens a sentence
    # a name wrapped inside one paragraph still spans the line break
    assert extract_phrases(chunk_text("The drummer was Neil\nPeart, who joined Rush.")[0]) == ["neil peart", "rush"]


def test_demo_memory_has_no_heading_names(tmp_path, embedder, codec):
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        mem.ingest([str(SAMPLE / "nero.md"), str(SAMPLE / "nerva.md")])
        names = [t for (t,) in mem.store_._conn.execute("SELECT text FROM concepts")]
        assert "nero" in names and "nerva" in names
        assert not [t for t in names if len(set(t.split())) < len(t.split())]
        hit = mem.recall("Which emperor adopted Trajan as his successor?", k=2, mode="hybrid")
        assert "'nero nero'" not in " ".join(h.why_text for h in hit).lower()


def _state(mem) -> dict:
    conn = mem.store_._conn
    ids = [c for (c,) in conn.execute("SELECT id FROM chunks ORDER BY id")]
    return {"concepts": conn.execute("SELECT id, text, df FROM concepts ORDER BY id").fetchall(),
            "phrases": conn.execute("SELECT id, phrases FROM chunks ORDER BY id").fetchall(),
            "counts": mem.network_.concept_counts_.tolist(),
            "incidence": [(c, sorted(mem.graph_.phrases_of_row(int(r)))) for c, r in
                          zip(ids, mem.graph_.rows_of(ids))]}


def test_repaired_phrases_keep_the_key_terms_of_a_clean_ingest(tmp_path, embedder, codec, wiki_docs):
    recs = wiki_records(wiki_docs, n_docs=3, n_sents=12)  # 12 chunks a document: key terms repeat
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec) as mem:
        mem.ingest(recs)
        clean = _state(mem)
        net = mem.network_
    lists = [json.loads(p) for _, p in clean["phrases"]]
    names = [set(extract_phrases(t)) for (t,) in sqlite3.connect(tmp_path / "m" / "memory.sqlite")
             .execute("SELECT text FROM chunks ORDER BY id")]
    keyed = [cid for (cid, _), ph, nm in zip(clean["phrases"], lists, names) if set(ph) - nm - {""}]
    assert len(keyed) >= 6  # chunks holding key terms (or a title), the part a name-only repair lost
    conn = sqlite3.connect(tmp_path / "m" / "memory.sqlite")  # the phrase columns of those chunks damaged
    conn.executemany("UPDATE chunks SET phrases = 'not json [' WHERE id = ?", [(c,) for c in keyed[::2]])
    conn.commit()
    conn.close()
    with pytest.warns(UserWarning, match="damaged columns"):
        mem = SemanticMemory(tmp_path / "m", embedder=embedder, codec=codec)
    with mem:
        assert mem.store_.damaged_chunks(4) == []
        assert _state(mem) == clean  # same phrases, concept ids, df, incidence and network counts
        assert mem.network_ == net


def test_a_garbled_marker_beside_a_store_is_written_again(tmp_path, embedder, codec):
    # mycelial.json only says "this folder is a memory"; garbled, it made the memory unopenable, and
    # `mycelial repair` refused too, though memory.sqlite beside it proves what the folder is
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=embedder, codec=codec) as mem:
        mem.ingest([str(SAMPLE / "nerva.md")])
    marker = folder / "mycelial.json"
    marker.write_bytes(marker.read_bytes()[:20] + b"\x00" * 40)
    with pytest.warns(UserWarning, match="mycelial.json is not valid JSON"):
        with SemanticMemory(folder, embedder=embedder, codec=codec, read_only=True) as mem:
            assert mem.recall("Who adopted Trajan?", k=1)[0].doc_id.endswith("nerva.md")
    assert b"\x00" in marker.read_bytes()  # a read-only open writes nothing
    from click.testing import CliRunner

    from core.cli import cli

    res = CliRunner().invoke(cli, ["stats", "-m", str(folder)])  # the CLI shows it as one line, no source
    assert res.exit_code == 0 and "Warning: memory marker" in res.output
    assert "UserWarning" not in res.output and "semantic.py" not in res.output
    with pytest.warns(UserWarning, match="written again"):
        SemanticMemory(folder, embedder=embedder, codec=codec).close()
    assert json.loads(marker.read_text())["format"] >= 1
    (tmp_path / "other").mkdir()  # without a store a garbled marker is still refused
    (tmp_path / "other" / "mycelial.json").write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        SemanticMemory(tmp_path / "other", embedder=embedder, codec=codec)
