"""Issue 11, second part: forget leaves no trace, damaged state files give clear errors, hostile
state files are bounded before allocating, and small input edge cases. Real SQLite, FAISS and model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.embedding import TextEmbedder
from core.memory import SemanticMemory
from core.reasoning.mycelial import MycelialVQVAE

SECRET = "Zanzibar quokka marmalade protocol 7731 was approved by the harbour committee."


@pytest.fixture(scope="module")
def codec():
    return MycelialVQVAE.load_default()


def _bytes(*paths) -> bytes:
    out = b""
    for p in paths:
        for f in ([p] if Path(p).is_file() else sorted(Path(p).iterdir()) if Path(p).is_dir() else []):
            if f.is_file():
                out += f.read_bytes()
    return out


# -- 8. forget leaves no trace ------------------------------------------------------------------
def test_forget_leaves_no_text_key_codes_or_cached_vector(tmp_path, codec):
    cache = tmp_path / "cache" / "embeddings.sqlite"
    emb = TextEmbedder(cache=cache)
    folder = tmp_path / "m"
    with SemanticMemory(folder, embedder=emb, codec=codec) as m:
        m.ingest([{"id": "secret-doc-key-91", "text": SECRET},
                  {"id": "keep", "text": "Rush is a Canadian rock band formed in Toronto in 1968."}])
        text = m.store_._conn.execute("SELECT text FROM chunks WHERE text LIKE '%Zanzibar%'").fetchone()[0]
        vec = emb.embed([text])[0].tobytes()[:400]  # its head (the rest may sit on an overflow page)
        assert vec in _bytes(cache.parent)  # the test can see a cached vector when it is there
        assert SECRET.encode() in _bytes(folder)
        assert m.forget("secret-doc-key-91")
        assert m.store_._conn.execute("SELECT count(*) FROM forget_log").fetchone()[0] == 0
        hits = m.recall("Canadian rock band", k=3)
        assert [h.doc_id for h in hits] == ["keep"]
    on_disk = _bytes(folder)
    assert b"Zanzibar" not in on_disk and b"secret-doc-key-91" not in on_disk
    assert vec not in _bytes(cache.parent)
    with SemanticMemory(folder, embedder=emb, codec=codec, read_only=True) as m:  # still consistent
        assert m.index_.ntotal == m.store_.count_chunks() == 1
        assert m.network_.n_events_ == m.store_.observed_chunks()


# -- 5. hostile state files are sized before anything is allocated -----------------------------
def _network_file(tmp_path):
    from core.reasoning.mycelial import MycelialConfig, MycelialReasoning

    net = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=16))
    net.observe(np.array([[1, 2, 3, 4], [1, 2, 5, 6]], dtype=np.uint8), np.array([0, 0]))
    path = tmp_path / "network.npz"
    net.save(path)
    return MycelialReasoning, path


def _bomb(path, shape=(2 ** 23,), inflate=64 << 20, like=None):
    """A zip whose 'keys.npy' inflates from ~64 kB to `inflate` bytes (zeros compress ~1000:1);
    the other members are copied from the file ``like``."""
    import zipfile

    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.int64)) | {"shape": shape}
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("keys.npy", "w", force_zip64=True) as fh:
            fh.write(buf.getvalue())
            block = bytes(1 << 20)
            for _ in range(inflate >> 20):
                fh.write(block)
        if like is not None:
            with zipfile.ZipFile(like) as src:
                for info in src.infolist():
                    if info.filename != "keys.npy":
                        zf.writestr(info, src.read(info))


def test_network_npz_bomb_is_refused_before_inflating(tmp_path):
    import time
    import tracemalloc

    MycelialReasoning, good = _network_file(tmp_path)
    bomb = tmp_path / "bomb.npz"
    _bomb(bomb, like=good)
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(ValueError, match="decompression bomb"):
        MycelialReasoning.load(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20 and time.perf_counter() - t < 2


def test_npz_header_larger_than_its_data_is_refused(tmp_path):
    import zipfile

    MycelialReasoning, good = _network_file(tmp_path)
    forged = tmp_path / "forged.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "counts.npy":  # same bytes, header claims 2**33 float64
                data = data.replace(b"'shape': (", b"'shape': (8589934592, ", 1)
            dst.writestr(info, data)
    with pytest.raises(ValueError, match="declares shape"):
        MycelialReasoning.load(forged)


def test_state_cap_names_its_variable(tmp_path, monkeypatch):
    MycelialReasoning, good = _network_file(tmp_path)
    monkeypatch.setenv("MYCELIAL_MAX_STATE_BYTES", "100")
    with pytest.raises(ValueError, match="MYCELIAL_MAX_STATE_BYTES"):
        MycelialReasoning.load(good)
    monkeypatch.setenv("MYCELIAL_MAX_STATE_BYTES", "100000000")
    assert MycelialReasoning.load(good).n_events_ == 2


def _forged_safetensors(path, hidden_dim):
    import json

    from safetensors.torch import save_file

    from core.reasoning.mycelial.wrapper import WEIGHTS_DIR, read_card

    card = read_card(WEIGHTS_DIR / "monolith_wiki.safetensors")
    config = {"model_class": card.get("model_class", "MonolithWiki"),
              "model_config": {**card["model_config"], "hidden_dim": hidden_dim}}
    save_file({}, str(path), metadata={"config": json.dumps(config)})


def test_safetensors_with_huge_hidden_dim_is_refused_without_allocating(tmp_path):
    import time

    bad = tmp_path / "evil.safetensors"
    _forged_safetensors(bad, 10 ** 6)  # Linear(384, 10**6) x 2: ~3 GB of float32 if built
    assert bad.stat().st_size < 2000
    t = time.perf_counter()  # building the 3 GB model takes far longer (torch's allocations are not traced)
    with pytest.raises(ValueError, match="evil.safetensors: model_config asks for"):
        MycelialVQVAE.load(bad)
    assert time.perf_counter() - t < 8  # the meta build imports torch's meta kernels once (~3.5 s)


def test_cli_malformed_safetensors_is_one_line_error(tmp_path):
    from click.testing import CliRunner

    from core.cli import cli
    from core.reasoning.mycelial.wrapper import WEIGHTS_DIR

    cases = {"garbage.safetensors": b"\x00\x01not safetensors at all" * 4,
             "truncated.safetensors": (WEIGHTS_DIR / "monolith_wiki.safetensors").read_bytes()[:5000]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    _forged_safetensors(tmp_path / "huge.safetensors", 10 ** 6)
    for name in [*cases, "huge.safetensors"]:
        res = CliRunner().invoke(cli, ["encode", "a cat", "--weights", str(tmp_path / name)])
        assert res.exit_code == 1 and name in res.output and "Traceback" not in res.output, (name, res.output)
        assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit)


# -- 9. damaged or edited state: a clear error naming the file and `mycelial repair`, or a rebuild -----
@pytest.fixture(scope="module")
def base_memory(tmp_path_factory, wiki_docs, codec):
    from _memory_helpers import wiki_records

    folder = tmp_path_factory.mktemp("base") / "m"
    with SemanticMemory(folder, codec=codec) as m:
        m.ingest(wiki_records(wiki_docs, n_docs=6, n_sents=10))
    return folder


def _copy(base, tmp_path):
    import shutil

    return Path(shutil.copytree(base, tmp_path / "m"))


def _sql(folder, sql, *args):
    import sqlite3

    with sqlite3.connect(folder / "memory.sqlite") as conn:
        conn.execute(sql, args)


def _cli(*args):
    from click.testing import CliRunner

    from core.cli import cli

    res = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


@pytest.mark.parametrize("edit", [
    "UPDATE chunks SET codes = x'0102' WHERE id = 3",               # codes blob of the wrong length
    "UPDATE chunks SET phrases = 'not json [' WHERE id = 4",        # phrases not JSON
    "UPDATE chunks SET phrases = '5' WHERE id = 4",                 # JSON, not a list
    "UPDATE documents SET chunk_ids = x'010203' WHERE id = 2",      # chunk list not whole int64s
    "UPDATE chunks SET embedding = x'00' WHERE id = 5",             # embedding of the wrong length
])
def test_edited_rows_are_a_clear_error_then_repaired(base_memory, tmp_path, codec, edit):
    folder = _copy(base_memory, tmp_path)
    _sql(folder, edit)
    res = _cli("stats", "-m", str(folder))  # read-only: names the file and the way out
    assert res.exit_code == 1 and "memory.sqlite" in res.output and f"mycelial repair --memory {folder}" in res.output
    res = _cli("repair", "-m", str(folder))  # the CLI prints the library's warning as one line
    assert res.exit_code == 0, res.output
    assert "Warning: " in res.output and "damaged columns" in res.output and "UserWarning" not in res.output
    with SemanticMemory(folder, codec=codec, read_only=True) as m:
        assert m.store_.damaged_chunks(4) == [] and m.store_.damaged_documents() == []
        assert m.index_.ntotal == m.store_.count_chunks()
        assert m.network_.n_events_ == m.store_.observed_chunks()
        assert m.recall("album", k=3)


def test_setting_not_json_is_reported_and_rederived(base_memory, tmp_path, codec):
    folder = _copy(base_memory, tmp_path)
    _sql(folder, "UPDATE settings SET value = 'garbage{' WHERE key = 'codec'")
    with pytest.warns(UserWarning, match="setting 'codec' is not valid JSON"):
        with SemanticMemory(folder, codec=codec) as m:
            assert m.store_.get_setting("codec")["num_heads"] == 4  # written again
            assert m.index_.ntotal == m.store_.count_chunks()


def test_garbled_sqlite_page_is_a_clear_error_and_repair_says_restore(base_memory, tmp_path):
    import os

    folder = _copy(base_memory, tmp_path)
    db = folder / "memory.sqlite"
    data = bytearray(db.read_bytes())
    page = len(data) // 4096 - 2
    data[page * 4096 + 100: page * 4096 + 3000] = os.urandom(2900)
    db.write_bytes(bytes(data))
    for cmd in (["stats"], ["recall", "album"], ["repair"]):
        res = _cli(*cmd, "-m", str(folder))
        assert res.exit_code == 1 and f"{db} is damaged" in res.output and "restore it from a backup" in res.output


def test_state_json_cannot_point_outside_or_at_a_bomb(base_memory, tmp_path, codec):
    import json

    folder = _copy(base_memory, tmp_path)
    state = json.loads((folder / "state.json").read_text())
    outside = tmp_path / "elsewhere.npz"
    np.savez(outside, a=np.arange(3))
    _bomb(folder / "index.99.npz")
    for name in (f"../{outside.name}", str(outside), "index.99.npz"):
        (folder / "state.json").write_text(json.dumps({**state, "index": {**state["index"], "file": name}}))
        with SemanticMemory(folder, codec=codec) as m:
            assert m.index_.ntotal == m.store_.count_chunks() > 0
        assert outside.is_file()


# -- 10. smaller: special files, argument bounds, non-UTF-8 queries, terminal escapes ---------------
def test_special_files_are_reported_not_silently_skipped(tmp_path, codec):
    import os

    from core.memory.readers import read_paths

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.txt").write_text("Rush is a Canadian rock band formed in Toronto in 1968.")
    os.mkfifo(folder / "pipe.txt")
    os.symlink(folder / "nowhere.txt", folder / "broken.txt")
    os.symlink(folder / "loop.txt", folder / "loop.txt")
    os.symlink("/dev/zero", folder / "zero.txt")
    errors: list = []
    recs = list(read_paths(folder, errors))
    assert [r.doc_id for r in recs] == ["ok.txt"]
    (msg,) = [e.message for e in errors if e.skipped]
    for part in ("4 entries", "pipe.txt (is a named pipe", "broken.txt (broken symbolic link",
                 "loop.txt (cannot be read", "zero.txt (is a device"):
        assert part in msg, msg
    for name, why in (("pipe.txt", "named pipe"), ("broken.txt", "broken symbolic link"), ("zero.txt", "device")):
        errors = []
        assert list(read_paths(folder / name, errors)) == []  # never blocks on the FIFO
        assert why in errors[0].message and "no such file" not in errors[0].message


def test_encode_decode_bounds(codec):
    X = np.eye(3, 384, dtype=np.float32)
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="batch_size"):
            codec.encode(X, batch_size=bad)
        with pytest.raises(ValueError, match="batch_size"):
            codec.decode(np.zeros((2, 4), np.uint8), batch_size=bad)
    with pytest.raises(ValueError, match="candidates must be >= 1 when refine=1"):
        codec.encode(X, refine=1, candidates=0)
    assert codec.encode(X, batch_size=1).shape == (3, 4)


def test_latin1_queries_file_is_a_clear_cli_error(base_memory, tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_bytes('{"query": "caf\xe9 au lait"}\n'.encode("latin-1"))
    res = _cli("recall", "-m", str(base_memory), "--queries", str(q))
    assert res.exit_code == 1 and "not valid UTF-8" in res.output and str(q) in res.output


def test_terminal_escapes_in_titles_and_text_never_reach_the_terminal(tmp_path, codec):
    folder = tmp_path / "m"
    with SemanticMemory(folder, codec=codec) as m:
        m.ingest([{"id": "esc", "title": "\x1b[2J\x1b]0;pwned\x07Evil \x9b31mtitle",
                   "text": "The harbour \x1b[31mcommittee\x1b[0m approved the Zanzibar plan in 1998."}])
    res = _cli("recall", "Zanzibar harbour plan", "-m", str(folder), "-k", "1")
    assert res.exit_code == 0 and "Evil title" in res.output and "committee approved" in res.output
    assert not any(c in res.output for c in "\x1b\x07\x9b")


def test_temporaries_of_a_crashed_save_are_cleaned_and_only_those(base_memory, tmp_path, codec):
    folder = _copy(base_memory, tmp_path)
    ours = [".index.7.npz.k2j3h4.tmp", ".network.7.npz.a8f9.tmp", ".state.json.zz1.tmp", ".mycelial.json.q1.tmp"]
    for name in ours + ["notes.tmp", ".my.json.tmp"]:
        (folder / name).write_bytes(b"half a file")
    with SemanticMemory(folder, codec=codec) as m:
        m.forget("wiki0")  # a write, so a save
    left = {p.name for p in folder.iterdir()}
    assert not left & set(ours) and {"notes.tmp", ".my.json.tmp"} <= left


def test_two_creators_of_one_new_memory_do_not_refuse_each_other(tmp_path, codec):
    """Found by scripts/stress.py: the second of two `mycelial ingest` into a new folder saw the first's
    write.lock / marker temporary and refused the folder as "not a Mycelial memory"."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "write.lock").write_text("12345")
    (folder / ".mycelial.json.x1y2.tmp").write_text("{")
    with SemanticMemory(folder, codec=codec) as m:
        assert m.store_.count_documents() == 0
    assert (folder / "mycelial.json").is_file()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tmp").write_text("mine")
    with pytest.raises(ValueError, match="is not a Mycelial memory"):
        SemanticMemory(tmp_path / "other", codec=codec)


def test_older_memory_read_only_names_the_upgrade_and_repair_upgrades_it(base_memory, tmp_path):
    """A memory of an older version (a migration not applied): read commands say how to upgrade it."""
    folder = _copy(base_memory, tmp_path)
    _sql(folder, "DELETE FROM _migrations WHERE name = '0002_forget_log_minimal'")
    res = _cli("recall", "Who was he?", "--memory", str(folder), "-q")
    out = " ".join(res.output.split())
    assert res.exit_code == 1 and "older version" in out and f"mycelial repair --memory {folder}" in out
    assert "Traceback" not in out
    assert _cli("repair", "--memory", str(folder)).exit_code == 0
    assert _cli("recall", "Who was he?", "--memory", str(folder), "-q").exit_code == 0
    _sql(folder, "INSERT INTO _migrations VALUES ('9999_from_the_future', 0)")
    res = _cli("stats", "--memory", str(folder))
    assert res.exit_code == 1 and "newer version" in res.output
