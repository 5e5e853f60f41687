"""Reliability battery of a memory folder (issue 11): kill -9, concurrent writers, corruption, bad input.

Prints tried/handled per category and exits 1 unless every category is N/N. "Handled" means:

- kill9: `mycelial ingest` killed at a random moment; the memory then opens, derived state
  holds exactly SQLite (vectors == chunks, events == occurrences), every stored document
  has all its chunks, and finishing the ingest gives the reference counts.
- writers: two `mycelial ingest` processes at once: both exit 0, all documents stored, consistent.
- reader: read-only opens while a writer ingests: every open answers and is consistent.
- corrupt: each state file damaged or edited: the CLI either answers the reference top hit
  (derived state rebuilt) or fails in one line naming the file; never a traceback, never another answer.
- bad_input: hostile or wrong CLI input: exit code 1 or 2 with a message, never a traceback.

Example (about 5 minutes on 2 shared cores at load average ~10)::

    nice -n 5 .venv/bin/python scripts/stress.py
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MYCELIAL = [sys.executable, "-c", "from core.cli import cli; cli()"]
RESULTS: dict[str, list[int]] = {}


def record(category: str, ok: bool, what: str) -> None:
    tried_handled = RESULTS.setdefault(category, [0, 0])
    tried_handled[0] += 1
    tried_handled[1] += bool(ok)
    if not ok:
        print(f"  FAIL {category}: {what}", flush=True)


def records(n: int) -> list[dict]:
    from core.datasets import wikitext_documents

    return [{"id": f"w{i}", "title": d.title, "text": "\n\n".join(d.sentences[:14])}
            for i, d in enumerate(wikitext_documents()[:n])]


def write_jsonl(path: Path, recs) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return path


def consistent(folder: Path) -> tuple[bool, str, dict]:
    """Open read-only; derived state must hold exactly SQLite, and every document all its chunks."""
    from core.memory import SemanticMemory

    with SemanticMemory(folder, read_only=True) as m:
        st = m.store_
        with st.snapshot():
            n_chunks, occ = st.count_chunks(), st.observed_chunks()
            missing = st._reader.execute(
                "SELECT count(*) FROM doc_chunks dc LEFT JOIN chunks c ON c.id = dc.chunk_id WHERE c.id IS NULL"
            ).fetchone()[0]
            counts = {"documents": st.count_documents(), "chunks": n_chunks, "events": occ}
        ok = m.index_.ntotal == n_chunks and m.network_.n_events_ == occ and missing == 0
        return ok, f"vectors {m.index_.ntotal}/{n_chunks}, events {m.network_.n_events_}/{occ}, missing {missing}", counts


def cli(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([*MYCELIAL, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


INGEST = ("import sys; from core.memory import SemanticMemory; from core.embedding import TextEmbedder\n"
          "emb = TextEmbedder(); emb.model_  # loaded before the store exists: kills land in the ingest itself\n"
          "with SemanticMemory(sys.argv[1], embedder=emb, chunks_per_commit=32) as m: m.ingest(sys.argv[2])")


def _ingest_proc(folder: Path, data: Path, cache: Path) -> subprocess.Popen:
    """An ingest in its own process, committing every 32 chunks, with a cold embedding cache (real work)."""
    return subprocess.Popen([sys.executable, "-c", INGEST, str(folder), str(data)], cwd=ROOT,
                            env={**os.environ, "MYCELIAL_CACHE_DIR": str(cache)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_store(folder: Path, proc) -> float:
    start = time.time()
    while not (folder / "memory.sqlite").exists() and proc.poll() is None and time.time() - start < 120:
        time.sleep(0.05)
    return time.time()


def run_kill9(work: Path, data: Path, reference: dict, trials: int, rng: random.Random) -> None:
    # one uninterrupted run measures how long the ingest lasts once its store exists
    proc = _ingest_proc(work / "kill_timing", data, work / "cache_timing")
    t0 = _wait_for_store(work / "kill_timing", proc)
    proc.wait()
    span = max(1.0, time.time() - t0)
    print(f"  kill9: an uninterrupted ingest lasts {span:.1f}s after memory.sqlite appears", flush=True)
    for t in range(trials):
        folder = work / f"kill{t}"
        cache = work / f"cache{t}"  # a cold embedding cache: the ingest does real work to interrupt
        proc = _ingest_proc(folder, data, cache)
        _wait_for_store(folder, proc)
        delay = rng.uniform(0.1, span)
        time.sleep(delay)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            if not (folder / "memory.sqlite").exists():
                record("kill9", False, f"trial {t}: no memory was created")
                continue
            ok, why, before = consistent(folder)
            print(f"  kill9 trial {t}: killed {delay:.1f}s after memory.sqlite appeared"
                  f"{' (ingest had already finished)' if finished else ''}; {before['documents']} documents "
                  f"committed, {why}", flush=True)
            from core.memory import SemanticMemory

            with SemanticMemory(folder) as m:  # finish it (in this process: the model is loaded once)
                rep = m.ingest(data)
            ok2, why2, counts = consistent(folder)
            same = counts == reference
            record("kill9", ok and ok2 and not [e for e in rep.errors if not e.skipped] and same,
                   f"trial {t}: after kill {why}; after finishing {why2} {counts} vs {reference}; {rep.errors[:2]}")
        except Exception as exc:  # noqa: BLE001 - any failure is a finding
            record("kill9", False, f"trial {t}: {type(exc).__name__}: {exc}")
        shutil.rmtree(cache, ignore_errors=True)


def run_writers(work: Path, halves: list[Path], n_docs: int) -> None:
    folder = work / "writers"
    procs = [subprocess.Popen([*MYCELIAL, "ingest", str(h), "-m", str(folder), "-q"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for h in halves]
    outs = [p.communicate(timeout=900) for p in procs]
    codes = [p.returncode for p in procs]
    ok, why, counts = consistent(folder)
    record("writers", codes == [0, 0] and ok and counts["documents"] == n_docs,
           f"exit codes {codes}, {why}, {counts}; {[o[1][-200:] for o in outs]}")


def run_reader(work: Path, data: Path, opens: int) -> None:
    from core.memory import SemanticMemory

    folder = work / "reader"
    first = cli("ingest", str(data.with_name("first.jsonl")), "-m", str(folder), "-q")
    assert first.returncode == 0, first.stderr
    proc = subprocess.Popen([*MYCELIAL, "ingest", str(data), "-m", str(folder), "-q"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    while done < opens:
        try:
            with SemanticMemory(folder, read_only=True) as m:
                hits = m.recall("the history of the city", k=3)
                ok = bool(hits) and m.index_.ntotal >= 1
                record("reader", ok, f"open {done}: {len(hits)} hits")
        except Exception as exc:  # noqa: BLE001
            record("reader", False, f"open {done}: {type(exc).__name__}: {exc}")
        done += 1
        if proc.poll() is not None and done >= opens // 2:
            break
    proc.wait()
    ok, why, _ = consistent(folder)
    record("reader", ok and proc.returncode == 0, f"after the writer: {why}, writer exit {proc.returncode}")


def _garble(path: Path, at: float = 0.5, n: int = 2900) -> None:
    data = bytearray(path.read_bytes())
    start = int(len(data) * at) // 4096 * 4096 + 100
    data[start:start + n] = os.urandom(min(n, max(0, len(data) - start)))
    path.write_bytes(bytes(data))


def _bomb(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("keys.npy", "w", force_zip64=True) as fh:
            fh.write(b"\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (268435456,), }"
                     + b" " * 52 + b"\n")
            block = bytes(1 << 20)
            for _ in range(256):
                fh.write(block)


def corruptions(folder: Path) -> dict:
    """name -> function damaging a copy of the memory folder."""
    state = json.loads((folder / "state.json").read_text())
    index, network = folder / state["index"]["file"], folder / state["network"]["file"]

    def sql(stmt):
        def f(d):
            with sqlite3.connect(d / "memory.sqlite") as conn:
                conn.execute(stmt)
        return f

    def rel(p):
        return lambda d: d / p.name

    def state_edit(**kw):
        return lambda d: (d / "state.json").write_text(json.dumps({**state, **kw}))

    return {
        "sqlite: garbled page (middle)": lambda d: _garble(d / "memory.sqlite", 0.5),
        "sqlite: garbled page (end)": lambda d: _garble(d / "memory.sqlite", 0.9),
        "sqlite: truncated to half": lambda d: os.truncate(d / "memory.sqlite", (d / "memory.sqlite").stat().st_size // 2),
        "sqlite: header zeroed": lambda d: _garble(d / "memory.sqlite", 0.0, 100),
        "sqlite: deleted (derived kept)": lambda d: (d / "memory.sqlite").unlink(),
        "sqlite: codes of wrong length": sql("UPDATE chunks SET codes = x'0102' WHERE id = 3"),
        "sqlite: phrases not JSON": sql("UPDATE chunks SET phrases = '[oops' WHERE id = 2"),
        "sqlite: embedding of wrong length": sql("UPDATE chunks SET embedding = x'0000' WHERE id = 4"),
        "sqlite: chunk list not int64s": sql("UPDATE documents SET chunk_ids = x'01' WHERE id = 1"),
        "sqlite: setting not JSON": sql("UPDATE settings SET value = '{' WHERE key = 'codec'"),
        "sqlite: last ids edited": sql("UPDATE sqlite_sequence SET seq = seq + 1000"),
        "state.json: []": lambda d: (d / "state.json").write_text("[]"),
        "state.json: garbage": lambda d: (d / "state.json").write_bytes(os.urandom(200)),
        "state.json: gen not int": state_edit(gen="x"),
        "state.json: path outside": state_edit(index={**state["index"], "file": "../../etc/passwd"}),
        "state.json: marks ahead": state_edit(index={**state["index"], "chunk": 10 ** 9}),
        "state.json: deleted": lambda d: (d / "state.json").unlink(),
        "index: garbage": lambda d: rel(index)(d).write_bytes(os.urandom(5000)),
        "index: truncated": lambda d: os.truncate(rel(index)(d), rel(index)(d).stat().st_size // 2),
        "index: zip bomb": lambda d: _bomb(rel(index)(d)),
        "index: deleted": lambda d: rel(index)(d).unlink(),
        "network: garbage": lambda d: rel(network)(d).write_bytes(os.urandom(5000)),
        "network: truncated": lambda d: os.truncate(rel(network)(d), rel(network)(d).stat().st_size // 2),
        "network: zip bomb": lambda d: _bomb(rel(network)(d)),
        "network: garbled middle": lambda d: _garble(rel(network)(d), 0.5, 64),
        "mycelial.json: garbage": lambda d: (d / "mycelial.json").write_text("{nope"),
        "mycelial.json: newer format": lambda d: (d / "mycelial.json").write_text('{"format": 99}'),
        "write.lock: garbage": lambda d: (d / "write.lock").write_bytes(os.urandom(64)),
    }


def _no_traceback(res) -> bool:
    return res.exception is None or isinstance(res.exception, SystemExit)


def run_corrupt(work: Path, base: Path, query: str, expected_top: str) -> None:
    from click.testing import CliRunner

    from core.cli import cli as click_cli

    for name, damage in corruptions(base).items():
        folder = work / "corrupt"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(base, folder)
        try:
            damage(folder)
        except Exception as exc:  # noqa: BLE001
            record("corrupt", False, f"{name}: could not apply ({exc})")
            continue
        ok = True
        notes = []
        for args in (["recall", query, "-m", str(folder), "-k", "3", "--json"], ["stats", "-m", str(folder)]):
            res = CliRunner().invoke(click_cli, args)
            if not _no_traceback(res):
                ok = False
                notes.append(f"{args[0]}: {type(res.exception).__name__}: {res.exception}")
            elif res.exit_code == 0 and args[0] == "recall":
                lines = [x for x in res.stdout.splitlines() if x.startswith("[")]
                hits = json.loads(lines[-1]) if lines else []
                got = hits[0]["doc_id"] if hits else None
                if got != expected_top:
                    ok = False
                    notes.append(f"recall answered {got!r}, reference {expected_top!r}")
            elif res.exit_code != 0 and ("Error:" not in res.output or len(res.output.strip().splitlines()) > 3):
                ok = False
                notes.append(f"{args[0]} exit {res.exit_code}: {res.output[-300:]}")
        record("corrupt", ok, f"{name}: {'; '.join(notes)}")


def bad_inputs(work: Path, memory: Path) -> list[list[str]]:
    odd = work / "odd"
    odd.mkdir(exist_ok=True)
    (odd / "ok.txt").write_text("Rush is a Canadian rock band formed in Toronto in 1968.")
    os.mkfifo(odd / "fifo") if not (odd / "fifo").exists() else None
    for name, target in (("broken", odd / "nowhere"), ("loop", odd / "loop")):
        if not (odd / name).is_symlink():
            os.symlink(target, odd / name)
    (work / "latin1.jsonl").write_bytes('{"query": "caf\xe9"}\n'.encode("latin-1"))
    (work / "bin.txt").write_bytes(os.urandom(4000))
    (work / "bad.jsonl").write_text('{"id": 1, "text": "x"}\nnot json\n{"text": ""}\n')
    (work / "evil.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}" + b"\x00" * 50)
    (work / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    (work / "not_a_memory").mkdir(exist_ok=True)
    (work / "not_a_memory" / "thesis.npz").write_bytes(b"mine")
    (work / "afile").write_text("x")
    m = str(memory)
    return [
        ["ingest", str(work / "missing.txt"), "-m", str(work / "new1")],
        ["ingest", str(odd), "-m", str(work / "new2"), "-q"],
        ["ingest", str(odd / "fifo"), "-m", str(work / "new3"), "-q"],
        ["ingest", str(odd / "broken"), "-m", str(work / "new4"), "-q"],
        ["ingest", str(odd / "loop"), "-m", str(work / "new5"), "-q"],
        ["ingest", str(work / "bin.txt"), "-m", str(work / "new6"), "-q"],
        ["ingest", str(work / "bad.jsonl"), "-m", str(work / "new7"), "-q"],
        ["ingest", str(odd / "ok.txt"), "-m", str(work / "not_a_memory"), "-q"],
        ["ingest", str(odd / "ok.txt"), "-m", str(work / "afile"), "-q"],
        ["recall", "x", "-m", m, "-k", "0"],
        ["recall", "x", "-m", m, "-k", "1000000000"],
        ["recall", "-m", m, "--queries", str(work / "latin1.jsonl")],
        ["recall", "-m", m, "--queries", str(work / "bin.txt")],
        ["recall", "", "-m", m],
        ["recall", "x", "-m", str(work / "nowhere")],
        ["stats", "-m", str(work / "nowhere")],
        ["forget", "no-such-doc", "-m", m],
        ["encode", "a cat", "--weights", str(work / "evil.safetensors")],
        ["encode", "a cat", "--weights", str(work / "missing.safetensors")],
        ["encode", "--npy", str(work / "bad.npy")],
        ["encode", "--npy", str(work / "bin.txt")],
        ["encode", "a cat", "--refine", "1", "--candidates", "0"],
        ["graph", str(work / "bin.txt")],
    ]


def run_bad_inputs(work: Path, memory: Path) -> None:
    from click.testing import CliRunner

    from core.cli import cli as click_cli

    for args in bad_inputs(work, memory):
        res = CliRunner().invoke(click_cli, args)
        ok = _no_traceback(res) and "Traceback" not in res.output
        record("bad_input", ok, f"{' '.join(args)} -> exit {res.exit_code}: "
                                f"{type(res.exception).__name__ if res.exception else ''} {str(res.exception)[:200]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kill-trials", type=int, default=4)
    ap.add_argument("--docs", type=int, default=8, help="WikiText articles ingested per run (at least 6)")
    ap.add_argument("--reader-opens", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=None, help="categories to run (default all)")
    args = ap.parse_args(argv)
    if args.docs < 6:  # the first 3 are ingested alone and the query comes from the 6th
        ap.error(f"--docs must be at least 6, got {args.docs}")
    rng = random.Random(args.seed)
    only = set(args.only or ["kill9", "writers", "reader", "corrupt", "bad_input"])
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="mycelial_stress_") as tmp:
        work = Path(tmp)
        recs = records(args.docs)
        data = write_jsonl(work / "all.jsonl", recs)
        write_jsonl(work / "first.jsonl", recs[:3])
        halves = [write_jsonl(work / "a.jsonl", recs[::2]), write_jsonl(work / "b.jsonl", recs[1::2])]
        ref_folder = work / "reference"
        res = cli("ingest", str(data), "-m", str(ref_folder), "-q")
        if res.returncode != 0:
            print(res.stderr)
            return 2
        _, _, reference = consistent(ref_folder)
        query = recs[5]["text"].split("\n\n")[0]
        from core.memory import SemanticMemory

        with SemanticMemory(ref_folder, read_only=True) as m:
            expected_top = m.recall(query, k=3)[0].doc_id
        print(f"reference: {reference} ({time.time() - t0:.0f}s)", flush=True)
        steps = [("kill9", lambda: run_kill9(work, data, reference, args.kill_trials, rng)),
                 ("writers", lambda: run_writers(work, halves, len(recs))),
                 ("reader", lambda: run_reader(work, data, args.reader_opens)),
                 ("corrupt", lambda: run_corrupt(work, ref_folder, query, expected_top)),
                 ("bad_input", lambda: run_bad_inputs(work, ref_folder))]
        for name, step in steps:
            if name in only:
                t = time.time()
                step()
                print(f"{name}: done in {time.time() - t:.0f}s", flush=True)
    print(f"\n{'category':<10} {'tried':>5} {'handled':>7}")
    for name, (tried, handled) in RESULTS.items():
        print(f"{name:<10} {tried:>5} {handled:>7}{'' if tried == handled else '   <-- not N/N'}")
    print(f"total {time.time() - t0:.0f}s, load average {os.getloadavg()[0]:.1f}")
    return 0 if all(t == h for t, h in RESULTS.values()) else 1


if __name__ == "__main__":
    from core._script import run_main

    sys.exit(run_main(main))
