"""A moved folder: `mv notes notes2; ingest notes2` found its documents unchanged but kept root=notes, so
``--sync`` of notes2 could never forget a file deleted from it. Real folders, store and model."""
from __future__ import annotations

import shutil
from pathlib import Path

from core.memory import SemanticMemory
from core.memory.documents import list_documents, sync_folder
from core.reasoning.mycelial import MycelialVQVAE

TEXTS = {"a.txt": "The tide mill of Pellow grinds corn.", "sub/b.md": "# Wrens\n\nWrens nest in the ivy.",
         "sub/c.txt": "Lamps on Quarry Road burn gas.", "d.txt": "The harbour freezes late."}


def _folder(root):
    for name, text in TEXTS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_moved_folder_records_its_new_place_in_every_batch_then_sync_forgets(tmp_path, embedder):
    notes = _folder(tmp_path / "notes")
    codec = MycelialVQVAE.load_default()
    with SemanticMemory(tmp_path / "mem", embedder=embedder, codec=codec, chunks_per_commit=1) as mem:  # a batch a file
        assert mem.ingest(str(notes)).documents == 4
        moved = tmp_path / "notes2"
        shutil.move(str(notes), str(moved))
        (moved / "sub" / "c.txt").unlink()
        rep = mem.ingest(str(moved))
        assert (rep.documents, rep.unchanged, rep.replaced, rep.moved) == (0, 3, 0, 4), rep.to_dict()
        docs = {d["id"]: d for d in list_documents(mem, with_meta=True)}
        assert {d["root"] for d in docs.values()} == {str(moved.resolve())}
        assert {k: d["meta"]["path"] for k, d in docs.items()} == {k: str(moved / k) for k in TEXTS}
        assert {k: d["source"] for k, d in docs.items()} == {k: str(moved / k) for k in TEXTS}
        assert sync_folder(mem, moved) == ["sub/c.txt"]  # was [] (or refused: "ingested from .../notes")
        assert mem.ingest(str(moved)).moved == 0
        assert mem.stats()["documents"] == 3
    with SemanticMemory(tmp_path / "mem", embedder=embedder, codec=codec) as mem:  # committed
        assert {d["root"] for d in list_documents(mem)} == {str(moved.resolve())}


def test_a_folder_gone_is_not_taken_for_moved_by_one_file_another_folder_shares(tmp_path, embedder):
    # A unmounted (or renamed), B holding one file the same as A's: all of A's documents were moved to B and
    # `ingest B --sync` forgot the two B never held
    codec = MycelialVQVAE.load_default()
    a, b = _folder(tmp_path / "A"), tmp_path / "B"
    b.mkdir()
    shutil.copy(a / "a.txt", b / "a.txt")
    (b / "e.txt").write_text("Eels run up the Pellow stream in May.", encoding="utf-8")
    with SemanticMemory(tmp_path / "mem", embedder=embedder, codec=codec) as mem:
        assert mem.ingest(str(a)).documents == 4
        assert mem.ingest(str(b)).documents == 1  # a.txt: A's file is there, its document stays A's
        shutil.move(str(a), str(tmp_path / "A_away"))
        rep = mem.ingest(str(b))
        assert rep.moved == 1, rep.to_dict()  # a.txt alone
        assert sync_folder(mem, b) == []
        roots = {d["id"]: d["root"] for d in list_documents(mem)}
        assert roots == {"a.txt": str(b.resolve()), "e.txt": str(b.resolve()), "sub/b.md": str(a.resolve()),
                         "sub/c.txt": str(a.resolve()), "d.txt": str(a.resolve())}, roots
        rep = mem.ingest(str(tmp_path / "A_away"))  # A found again: its documents follow it
        assert rep.moved == 3 and rep.documents == 0, rep.to_dict()


def test_a_file_moved_by_itself_and_a_copy(tmp_path, embedder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    codec = MycelialVQVAE.load_default()
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "n.txt").write_text("A note on wrens.", encoding="utf-8")
    notes = _folder(tmp_path / "notes")
    with SemanticMemory(tmp_path / "mem", embedder=embedder, codec=codec) as mem:
        mem.ingest(["x/n.txt", str(notes)])
        shutil.copytree(notes, tmp_path / "copy")
        rep = mem.ingest(str(tmp_path / "copy"))  # the original is still there: its documents stay its own
        assert (rep.unchanged, rep.moved) == (4, 0)
        assert {d["root"] for d in list_documents(mem) if d["id"] in TEXTS} == {str(notes.resolve())}
        shutil.rmtree(tmp_path / "copy")
        (tmp_path / "y").mkdir()
        shutil.move("x/n.txt", "y/n.txt")
        rep = mem.ingest("y/n.txt")  # a new id (ids of single files are their path): not a move
        assert (rep.documents, rep.moved) == (1, 0)


def test_a_second_folder_with_the_same_file_name_does_not_replace_the_first_ones_document(tmp_path, embedder):
    """`ingest projA; ingest projB`, both holding notes.txt: B's file silently replaced A's document ("1 replaced")
    while A's file was still there. It is refused with its reason; once A's file is gone it replaces as before."""
    codec = MycelialVQVAE.load_default()
    a, b = tmp_path / "projA", tmp_path / "projB"
    for folder, text in ((a, "The tide mill of Pellow grinds corn."), (b, "Lamps on Quarry Road burn gas.")):
        folder.mkdir()
        (folder / "notes.txt").write_text(text, encoding="utf-8")
    with SemanticMemory(tmp_path / "mem", embedder=embedder, codec=codec) as mem:
        assert mem.ingest(str(a)).documents == 1
        rep = mem.ingest([str(b), {"id": "r1", "text": "Wrens nest in the ivy."}])
        assert (rep.documents, rep.replaced) == (1, 0), rep.to_dict()  # the record; not B's notes.txt
        assert len(rep.errors) == 1 and "projA" in str(rep.errors[0]) and "mycelial forget" in str(rep.errors[0])
        assert mem.store_.document("notes.txt")["source"] == str(a / "notes.txt")
        assert "Pellow" in mem.recall("tide mill", k=1)[0].text
        (a / "notes.txt").write_text("The tide mill of Pellow grinds barley.", encoding="utf-8")
        assert mem.ingest(str(a)).replaced == 1  # an edit of its own file still replaces it
        shutil.rmtree(a)
        rep = mem.ingest(str(b))  # A is gone: B's file takes the id (a moved folder, edited)
        assert (rep.replaced, rep.errors) == (1, []), rep.to_dict()
        assert mem.store_.document("notes.txt")["source"] == str(b / "notes.txt")


def test_a_moved_folder_s_jsonl_records_follow_it_and_sync_of_it_forgets_them(tmp_path, embedder):
    """JSONL records name their file by its absolute path: after `mv notes notes2` they kept the old one, so
    ``--sync`` of notes2 forgot none of them (their file deleted, or their line), and a copy took none."""
    import json

    notes = _folder(tmp_path / "notes")
    (notes / "sub" / "r.jsonl").write_text("\n".join(json.dumps(r) for r in (
        {"id": "r1", "text": "Graz lies on the Mur."}, {"id": "r2", "text": "Linz lies on the Danube."})))
    (notes / "gone.jsonl").write_text(json.dumps({"id": "r3", "text": "Innsbruck lies in Tyrol."}))
    codec = MycelialVQVAE.load_default()
    with SemanticMemory(tmp_path / "mem", embedder=embedder, codec=codec) as mem:
        assert mem.ingest(str(notes)).documents == 7
        shutil.copytree(notes, tmp_path / "copy")  # the original is still there: a copy moves nothing
        assert mem.ingest(str(tmp_path / "copy")).moved == 0
        assert mem.store_.document("r1")["source"] == str(notes.resolve() / "sub" / "r.jsonl")
        shutil.rmtree(tmp_path / "copy")
        moved = tmp_path / "notes2"
        shutil.move(str(notes), str(moved))
        (moved / "gone.jsonl").unlink()  # deleted after the move: its record follows the folder all the same
        rep = mem.ingest(str(moved))
        assert (rep.documents, rep.unchanged, rep.moved) == (0, 6, 7), rep.to_dict()
        assert mem.store_.document("r3")["source"] == str(moved.resolve() / "gone.jsonl")
        (moved / "sub" / "r.jsonl").write_text(json.dumps({"id": "r1", "text": "Graz lies on the Mur."}))
        assert sorted(sync_folder(mem, moved)) == ["r2", "r3"]  # was []: the records named notes/
        assert {d["id"] for d in list_documents(mem)} == set(TEXTS) | {"r1"}


def test_a_decomposed_file_name_moves_once_and_is_not_taken_for_gone(tmp_path, embedder, monkeypatch):
    # macOS writes "café" as "cafe" + U+0301: the place check asked for the NFC id, found no such file, called it
    # gone ("1 of them no longer there: --sync forgets it") and a later batch moved it again (5 moved of 4)
    import unicodedata

    notes = _folder(tmp_path / "notes")
    for name in ("a.txt", "d.txt"):
        (notes / name).unlink()
    nfd = unicodedata.normalize("NFD", "sub/café.md")
    (notes / nfd).write_text("# Café\n\nThe café on Quarry Road opens at dawn.", encoding="utf-8")
    (notes / "zz.txt").write_text("Zinc roofs ring in the rain.", encoding="utf-8")
    codec = MycelialVQVAE.load_default()
    with SemanticMemory(tmp_path / "mem", embedder=embedder, codec=codec, chunks_per_commit=1) as mem:
        monkeypatch.chdir(tmp_path)
        assert mem.ingest("notes").documents == 4
        rep = mem.ingest(str(notes.resolve()) + "/")  # the same folder, another spelling of its path
        assert (rep.unchanged, rep.moved) == (4, 0), rep.to_dict()
        moved = tmp_path / "notes2"
        shutil.move(str(notes), str(moved))
        rep = mem.ingest("notes2")
        assert (rep.unchanged, rep.moved, rep.moved_gone) == (4, 4, 0), rep.to_dict()
        assert sync_folder(mem, moved) == []
        assert mem.ingest("notes2").moved == 0
        docs = {d["id"]: d for d in list_documents(mem, with_meta=True)}
        assert docs["sub/café.md"]["source"] == str(Path("notes2") / nfd)  # the name on disk
