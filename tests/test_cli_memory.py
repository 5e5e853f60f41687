"""The memory commands through click's CliRunner, on real text."""
from __future__ import annotations

import json
import re

import click
import pytest
from click.testing import CliRunner

from core.cli import cli
from core.cli.memory import COMMANDS


@pytest.fixture(scope="module")
def demo_memory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "mem"
    result = CliRunner().invoke(cli, ["demo", "--memory", str(folder), "-k", "3"])
    assert result.exit_code == 0, result.output
    return folder, result.output


def test_every_command_has_help_with_an_example():
    for command in COMMANDS:
        assert command.help and "Example:" in command.help, command.name
        assert CliRunner().invoke(cli, [command.name, "--help"]).exit_code == 0


def test_demo_ingests_the_shipped_sample_and_answers(demo_memory):
    _, output = demo_memory
    assert "10 documents ingested" in output and "0 errors" in output
    assert "skipped" not in output  # the sample's ATTRIBUTION.license: the package's business
    assert all(f"== {mode} ==" in output for mode in ("similar", "associative", "hybrid"))
    hybrid = output.split("== hybrid ==")[1]
    assert "nerva.md" in hybrid.splitlines()[2]  # first hit: the Nerva article
    assert "why:" in hybrid


def test_recall_json_batch_stats_forget(demo_memory, tmp_path):
    folder, _ = demo_memory
    runner = CliRunner()
    r = runner.invoke(cli, ["recall", "Who was Nero's mother?", "--memory", str(folder), "-k", "2", "--json",
                            "--mode", "similar"])
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    assert len(hits) == 2 and hits[0]["title"] == "Nero" and hits[0]["doc_id"].endswith("nero.md")
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"id": "a", "query": "Olmec heads"}\nnot json\n{"id": "b", "query": "Du Fu poems"}\n')
    r = runner.invoke(cli, ["recall", "--queries", str(qfile), "--memory", str(folder), "--json", "-k", "1"])
    assert r.exit_code == 0
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [x["id"] for x in lines] == ["a", "b"]
    assert lines[0]["hits"][0]["title"] == "Olmec colossal heads"
    assert "q.jsonl:2:" in r.stderr
    r = runner.invoke(cli, ["stats", "--memory", str(folder)])
    assert json.loads(r.stdout)["documents"] == 10
    one = runner.invoke(cli, ["stats", "--memory", str(folder), "--json"]).stdout  # was "No such option"
    assert one.count("\n") == 1 and json.loads(one) == json.loads(r.stdout)
    r = runner.invoke(cli, ["forget", "wiki:tatwine", "--memory", str(folder)])
    assert r.exit_code == 0 and "forgot" in r.output
    r = runner.invoke(cli, ["forget", "wiki:tatwine", "--memory", str(folder)])
    assert r.exit_code == 1 and "no document 'wiki:tatwine'" in r.output


def test_ingest_reports_errors_and_bad_usage(tmp_path):
    runner = CliRunner()
    (tmp_path / "a.txt").write_text("Lichens are symbioses of fungi and algae.")
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    r = runner.invoke(cli, ["ingest", str(tmp_path / "a.txt"), str(tmp_path / "bad.jsonl"), "--memory",
                            str(tmp_path / "m"), "-q"])
    assert r.exit_code == 0 and "1 document ingested" in r.output
    assert "bad.jsonl:1: missing \"text\"" in r.stderr
    r = runner.invoke(cli, ["ingest", str(tmp_path / "missing.txt"), "--memory", str(tmp_path / "m2"), "-q"])
    assert r.exit_code == 1 and "nothing was ingested" in r.output
    r = runner.invoke(cli, ["recall", "--memory", str(tmp_path / "m")])
    assert r.exit_code == 2 and "either a QUERY or --queries" in r.output
    r = runner.invoke(cli, ["recall", "x", "--memory", str(tmp_path / "nowhere")])
    assert r.exit_code == 1 and "no memory at" in r.output


@pytest.mark.parametrize("command", ["recall", "stats", "list", "get", "forget", "repair", "reinforce", "associate"])
def test_only_ingest_says_it_creates_the_memory(command, tmp_path):
    # every command's --memory said "(created if missing)"; all but ingest stop with "no memory at ..."
    runner = CliRunner()
    assert "created if missing" not in runner.invoke(cli, [command, "--help"]).output
    assert "created if missing" in runner.invoke(cli, ["ingest", "--help"]).output
    res = runner.invoke(cli, [command, *{"recall": ["x"], "get": ["x"], "forget": ["x"], "reinforce": ["q", "1"],
                                         "associate": ["x"]}.get(command, []), "--memory", str(tmp_path / "none")])
    assert res.exit_code == 1 and "no memory at" in res.output and not (tmp_path / "none").exists()


def test_queries_file_keeps_a_query_holding_a_line_separator(tmp_path):
    from core.cli.recall import _read_queries

    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "q1", "query": "rivers\u2028of Austria"}, ensure_ascii=False) + "\n"
                    + json.dumps({"id": "q2", "query": "Graz"}) + "\n", encoding="utf-8")
    assert _read_queries(path) == ([("q1", "rivers\u2028of Austria", ()), ("q2", "Graz", ())], [])


def test_queries_file_notes_an_id_that_repeats_and_answers_both(tmp_path):
    # two lines under one id were answered without a word: a reader keyed by id kept one of them
    from core.cli.recall import _read_queries

    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "q1", "query": "Graz"}\n{"id": 7, "query": "Linz"}\n{"id": "q1", "query": "Wels"}\n'
                    'Steyr\n', encoding="utf-8")
    items, problems = _read_queries(path)
    assert [q for _, q, _ in items] == ["Graz", "Linz", "Wels"]
    assert problems[0] == f'note: {path}:3: id "q1" repeats line 1; both lines are answered'
    assert problems[1].startswith(f"error: {path}:4: not JSON")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_queries_file_with_a_byte_order_mark_keeps_its_first_query(tmp_path, encoding):
    # Notepad's UTF-8 BOM made line 1 "not JSON (Unexpected UTF-8 BOM (decode using utf-8-sig))" and its
    # query was dropped; a UTF-16 file (PowerShell's `>`) was refused, though ingest reads both
    from core.cli.recall import _read_queries

    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "q1", "query": "Graz"}\n{"id": "q2", "query": "Linz"}\n', encoding=encoding)
    assert _read_queries(path) == ([("q1", "Graz", ()), ("q2", "Linz", ())], [])
    path.write_bytes(b'{"id": 1, "query": "caf\xe9"}\n')
    with pytest.raises(click.ClickException,
                       match=r"q.jsonl: not valid UTF-8 \(byte 23, line 1: 'caf\xe9' if it is Windows-1252 or Latin-1\)"):
        _read_queries(path)


def test_ingest_of_only_missing_paths_creates_no_memory(tmp_path):
    # a typo in the path made an empty memory folder (model loaded, files written) before "nothing was ingested"
    res = CliRunner().invoke(cli, ["ingest", str(tmp_path / "notes_typo"), "--memory", str(tmp_path / "mem"), "-q"])
    assert res.exit_code == 1 and "no such file or folder" in res.output
    assert not (tmp_path / "mem").exists()
    res = CliRunner().invoke(cli, ["ingest", "", "--memory", str(tmp_path / "mem"), "-q"])  # said ": no such ..."
    assert res.exit_code == 1 and "Error: '': no such file or folder; nothing was ingested" in res.output, res.output
    assert not (tmp_path / "mem").exists()


def test_an_ingest_that_stores_nothing_leaves_no_new_memory_folder(tmp_path):
    # a folder of unsupported files, or empty piped input: "nothing was ingested", and a new, empty memory
    # folder was left behind (SQLite, index, network), which later commands took for a real memory
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.xlsx").write_bytes(b"PK\x03\x04 not read")
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", str(tmp_path / "docs"), "--memory", str(tmp_path / "mem"), "-q"])
    assert res.exit_code == 1 and "nothing was ingested; no memory was made at" in res.output
    assert not (tmp_path / "mem").exists()
    res = runner.invoke(cli, ["ingest", "-", "--memory", str(tmp_path / "mem"), "-q"], input="")  # skipped, as an
    assert res.exit_code == 0 and "nothing to store; no memory was made at" in res.output  # empty file is
    assert not (tmp_path / "mem").exists()
    # an existing memory stays, and so does a new folder someone put another file in
    (tmp_path / "docs" / "a.txt").write_text("Lichens are symbioses of fungi and algae.", encoding="utf-8")
    assert runner.invoke(cli, ["ingest", str(tmp_path / "docs"), "--memory", str(tmp_path / "mem"), "-q"]).exit_code == 0
    res = runner.invoke(cli, ["ingest", "-", "--memory", str(tmp_path / "mem"), "-q"], input="")
    assert res.exit_code == 0 and "no memory was made" not in res.output
    assert json.loads(runner.invoke(cli, ["stats", "--memory", str(tmp_path / "mem")]).stdout)["documents"] == 1
    from core.cli._fresh import remove_new_empty_memory

    (tmp_path / "mem" / "mine.txt").write_text("keep me", encoding="utf-8")
    assert not remove_new_empty_memory(tmp_path / "mem") and (tmp_path / "mem" / "memory.sqlite").exists()


def test_a_nul_in_a_records_title_or_id_costs_that_record_only(tmp_path):
    # JSONL from a scraper: "\u0000" in one title made the embedder refuse the whole batch
    # ("Error: texts[1] contains a NUL byte", nothing ingested; HTTP 500); an id holding one was stored
    # and could never be typed to `mycelial get` or `forget`
    lines = ['{"id": "g1", "text": "The ferry to Vask leaves at dawn."}',
             '{"id": "t1", "title": "Ve\\u0000sk", "text": "The lighthouse of Vask is white."}',
             '{"id": "n\\u0000l", "text": "The harbour of Pellow freezes late."}',
             '{"id": "g2", "text": "Orla Finch designed the aqueduct of Tessary."}']
    src = tmp_path / "scraped.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mem = tmp_path / "mem"
    r = CliRunner().invoke(cli, ["ingest", str(src), "--memory", str(mem), "-q"])
    assert r.exit_code == 0 and "2 documents ingested" in r.output, r.output
    assert f"{src}:2: \"title\" contains a NUL byte" in r.output and f"{src}:3: \"id\" contains a NUL byte" in r.output
    listed = CliRunner().invoke(cli, ["list", "--memory", str(mem)]).output
    assert [line.split("\t")[0] for line in listed.splitlines()[:2]] == ["g1", "g2"]


def test_a_queries_file_with_no_readable_query_is_an_error(demo_memory, tmp_path):
    # one question a line in plain text: every line was "Expecting value: line 1 column 1 (char 0)" and the
    # command exited 0 with nothing on stdout, so `recall --queries q.txt --json > out` looked successful
    folder, _ = demo_memory
    plain = tmp_path / "q.txt"
    plain.write_text("Who was Nero's mother?\nWhere are the Olmec heads?\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["recall", "--queries", str(plain), "--memory", str(folder), "--json"])
    assert r.exit_code == 1 and r.stdout == "", r.output
    assert f"{plain}:1: not JSON (Expecting value at column 1); expected {{" in r.stderr
    assert f"no query could be read from {plain}" in r.stderr
    good = tmp_path / "q.jsonl"
    good.write_text('{"id": "a", "query": "Who was Nero\'s mother?"}\nWho else?\n', encoding="utf-8")
    r = CliRunner().invoke(cli, ["recall", "--queries", str(good), "--memory", str(folder), "--json", "-k", "1"])
    assert r.exit_code == 0 and json.loads(r.stdout)["id"] == "a" and f"{good}:2: not JSON" in r.stderr


@pytest.mark.parametrize("blocked", ["write.lock", "state.json"])
def test_a_file_error_while_writing_is_one_line_and_keeps_what_was_committed(tmp_path, blocked):
    # a full disk, or a folder where one of our files cannot be written (here: a folder in its place),
    # printed two chained Python tracebacks; the documents committed before it are kept
    mem = tmp_path / "mem"
    (tmp_path / "a.txt").write_text("The ferry to Vask leaves the harbour at dawn.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Orla Finch designed the copper aqueduct of Tessary.", encoding="utf-8")
    assert CliRunner().invoke(cli, ["ingest", str(tmp_path / "a.txt"), "--memory", str(mem), "-q"]).exit_code == 0
    (mem / blocked).unlink()
    (mem / blocked).mkdir()
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "b.txt"), "--memory", str(mem), "-q"])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert "Traceback" not in r.output and "Is a directory" in r.output, r.output
    assert len([line for line in r.output.splitlines() if line.startswith("Error:")]) == 1, r.output


def _ingest_interrupted(tmp_path, wiki_sample):
    """`mycelial ingest` of 2,400 sentences in a process of its own, Ctrl-C'd once the first batch is committed;
    returns (exit code, output, source, memory). (A second Ctrl-C: tests/test_ctrl_c.py.)"""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from _memory_helpers import wait_first_document
    from core.config import cache_dir

    sentences = wiki_sample[0][:2400]  # the first batch (1,024 chunks) commits, the rest takes seconds more
    assert len(sentences) > 1600
    src = tmp_path / "sentences.jsonl"
    src.write_text("".join(json.dumps({"id": f"s{i}", "text": t}) + "\n" for i, t in enumerate(sentences)),
                   encoding="utf-8")
    mem = tmp_path / "mem"
    # the interrupted process embeds all but its first batch for real (the model exports are shared): from the
    # shared cache the whole ingest took ~1 s and could end before the signal came. Its own cache holds the
    # first 1,024 sentences' vectors (wiki_sample's): embedding them on one thread took ~7 s before the signal
    from core.embedding import EmbeddingCache, TextEmbedder

    cache = tmp_path / "cache"
    cache.mkdir()
    EmbeddingCache(cache / "embeddings.sqlite").put(TextEmbedder().cache_model,
                                                    [EmbeddingCache.key(t) for t in sentences[:1024]],
                                                    wiki_sample[2][:1024])
    for export in ("openvino", "onnx"):
        (cache_dir() / export).mkdir(exist_ok=True)
        (cache / export).symlink_to(cache_dir() / export, target_is_directory=True)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), OMP_NUM_THREADS="1",
               MYCELIAL_CACHE_DIR=str(cache))
    env.pop("MYCELIAL_CACHE_SEED", None)  # conftest's seed would lend it the vectors
    # a shell's background job (CI under nohup ... &) starts with SIGINT ignored, and Python then leaves it
    # ignored: the child takes Ctrl-C back, as a terminal's foreground command has it
    boot = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from core.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", boot, "ingest", str(src),
                             "--memory", str(mem), "-q"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    wait_first_document(proc, mem, 240)  # the first batch is committed: interrupt the rest
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out, src, mem


def test_ctrl_c_during_ingest_says_what_is_kept(tmp_path, wiki_sample):
    # Ctrl-C printed only click's "Aborted!": nothing said that the committed documents are kept and that
    # running the command again finishes the job
    code, out, src, mem = _ingest_interrupted(tmp_path, wiki_sample)
    assert code == 130, out
    assert "interrupted: " in out and "run the same command again" in out and "Traceback" not in out, out
    # the last "interrupted:" line counts what is kept (a first one may say that it waits for a batch)
    kept = int(re.findall(r"interrupted: ([\d,]+) documents? (?:is|are) in", out)[-1].replace(",", ""))  # "1,024"
    n = len(src.read_text(encoding="utf-8").splitlines())
    assert 0 < kept < n, out
    r = CliRunner().invoke(cli, ["ingest", str(src), "--memory", str(mem), "-q"])
    assert r.exit_code == 0 and f"{n - kept:,} documents ingested" in r.output, r.output
    assert f"{kept:,} unchanged" in r.output, r.output


def test_ctrl_c_while_a_new_memory_opens_leaves_no_memory_and_says_so(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    # Ctrl-C while the new memory or the model loaded (the first seconds) printed click's "Aborted!", exited 1
    # and left a new memory folder holding nothing; a Ctrl-C in the ingest before its first commit said
    # "0 documents are in M" and left it too
    src = tmp_path / "a.txt"
    src.write_text("The emperor Nerva adopted Trajan as his successor in the year 97.\n", encoding="utf-8")
    mem = tmp_path / "mem"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), OMP_NUM_THREADS="1")
    boot = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from core.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", boot, "ingest", str(src), "--memory", str(mem), "-q"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (mem / "memory.sqlite").exists():
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)  # the memory is being made: the model is not loaded yet
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert f"interrupted: nothing was ingested; no memory was made at {mem}" in out, out
    assert "Traceback" not in out and "Aborted!" not in out, out
    assert not mem.exists() and src.exists(), out


def test_recall_with_no_hits_says_why(demo_memory, tmp_path):
    # `recall "x" --where nokey=1` printed only "query: x": an empty filter and an empty memory looked alike
    folder, _ = demo_memory
    r = CliRunner().invoke(cli, ["recall", "Who was Nero?", "--memory", str(folder), "--where", "nokey=1", "-q"])
    assert r.exit_code == 0 and "no hits: no document's metadata matches --where nokey=1" in r.output, r.output
    r = CliRunner().invoke(cli, ["recall", "Who was Nero?", "--memory", str(folder), "--where", "nokey=1", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    empty = tmp_path / "empty"
    assert CliRunner().invoke(cli, ["ingest", "-", "--memory", str(empty), "-q"], input="One note.").exit_code == 0
    assert CliRunner().invoke(cli, ["forget", json.loads(CliRunner().invoke(
        cli, ["list", "--memory", str(empty), "--json"]).stdout)[0]["id"], "--memory", str(empty)]).exit_code == 0
    r = CliRunner().invoke(cli, ["recall", "Who was Nero?", "--memory", str(empty), "-q"])
    assert r.exit_code == 0 and "no hits: the memory holds no documents" in r.output, r.output
    queries = tmp_path / "q.jsonl"  # --queries printed only "query: Who was Nero?"
    queries.write_text('{"id": 1, "query": "Who was Nero?"}\n', encoding="utf-8")
    r = CliRunner().invoke(cli, ["recall", "--queries", str(queries), "--memory", str(folder), "--where", "nokey=1"])
    assert r.exit_code == 0 and "no hits: no document's metadata matches --where nokey=1" in r.output, r.output
    r = CliRunner().invoke(cli, ["recall", "--queries", str(queries), "--memory", str(empty), "-q"])
    assert r.exit_code == 0 and "no hits: the memory holds no documents" in r.output, r.output


def test_recall_prints_no_empty_brackets_for_an_untitled_record(tmp_path):
    # a JSONL record without a title was listed as "  1. 0.970  u1  []  chunk 1"
    runner = CliRunner()
    mem = str(tmp_path / "m")
    line = '{"id": "u1", "text": "Idris Vane rang the harbour bell of Tessary at noon."}\n'
    assert runner.invoke(cli, ["ingest", "-", "--memory", mem, "-q"], input=line).exit_code == 0
    r = runner.invoke(cli, ["recall", "who rang the harbour bell", "--memory", mem, "-q", "-k", "1"])
    first = [x for x in r.stdout.splitlines() if x.strip().startswith("1.")][0]
    assert first.split()[2:] == ["u1", "chunk", first.split()[-1]] and "[]" not in r.stdout, r.stdout


@pytest.mark.parametrize("command", [["forget", "x"], ["repair"], ["reinforce", "q", "1"], ["unreinforce", "1"]])
def test_a_writing_command_on_an_empty_folder_makes_no_memory(command, tmp_path):
    # an empty folder (an unmounted disk's mount point) became a new memory: `repair` said "rebuilt ...:
    # 0 documents", `forget` "no document 'x'", and the folder was left holding a memory's files
    empty = tmp_path / "mnt"
    empty.mkdir()
    res = CliRunner().invoke(cli, [*command, "--memory", str(empty)])
    assert res.exit_code == 1 and "no memory at" in res.output and "empty folder" in res.output, res.output
    assert list(empty.iterdir()) == []


def test_one_problem_on_many_lines_is_shown_three_times_then_counted(tmp_path):
    # a JSONL file of another schema printed one 'missing "text"' line for each of its lines (Brown: 500)
    rows = [{"id": "ok", "text": "Lichens are symbioses of fungi and algae."}]
    rows += [{"doc_id": f"d{i}", "paragraphs": [["A sentence."]]} for i in range(10)]
    (tmp_path / "other.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{oops\n")
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "other.jsonl"), "--memory", str(tmp_path / "m"), "-q"])
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    same = [ln for ln in lines if 'missing "text"' in ln]
    assert [ln.split(":")[2] for ln in same] == ["2", "3", "4"], lines
    assert f"error: {tmp_path / 'other.jsonl'}: 7 more lines with the same problem (lines 5-11)" in lines
    assert any(":12: malformed JSON" in ln for ln in lines)  # another problem is still shown
    assert "1 document ingested (1 chunk: 1 new, 0 duplicates)" in r.output and "11 errors" in r.output


def test_repeated_ids_of_a_one_line_json_are_one_problem_counted_as_records(tmp_path):
    # MuSiQue's corpus with --fields id=title printed 126 "duplicate id" lines, one an id, and a one-line
    # JSON file's count said "lines 1-1"
    rows = [{"id": f"t{i}", "text": f"Passage {i} on the tide mills of Pellow."} for i in range(6)]
    (tmp_path / "c.json").write_text(json.dumps(rows + rows[:5]), encoding="utf-8")
    r = CliRunner().invoke(cli, ["ingest", str(tmp_path / "c.json"), "--memory", str(tmp_path / "m"), "-q"])
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert [ln.split(": ", 2)[2] for ln in lines if "duplicate id" in ln] == [
        f"duplicate id 't{i}' (first on this line); skipped" for i in range(3)], lines
    assert f"error: {tmp_path / 'c.json'}: 2 more records with the same problem (line 1)" in lines
    assert "6 documents ingested" in r.output and "5 errors" in r.output


def test_a_where_that_matches_nothing_names_the_keys_or_values_there(tmp_path):
    # `--where Category=news` (the key's case) matched nothing and said no more
    from core.datasets import brown_documents

    docs = [d for d in brown_documents() if d.meta["category"] in ("news", "religion")][::20][:3]
    path = tmp_path / "brown.jsonl"
    path.write_text("".join(json.dumps({"id": d.doc_id, "text": " ".join(d.sentences[:4]),
                                        "category": d.meta["category"]}) + "\n" for d in docs), encoding="utf-8")
    mem = tmp_path / "mem"
    assert CliRunner().invoke(cli, ["ingest", str(path), "--memory", str(mem), "-q"]).exit_code == 0
    ask = ["recall", docs[0].sentences[1], "--memory", str(mem), "-q", "--where"]
    r = CliRunner().invoke(cli, [*ask, "Category=news"])
    assert "no hits: no document's metadata matches --where Category=news; the documents' metadata keys: " \
           "category" in r.output, r.output
    r = CliRunner().invoke(cli, [*ask, "category=sports"])
    cats = ", ".join(sorted({d.meta["category"] for d in docs}))
    assert f"no hits: no document's metadata matches --where category=sports; 'category' holds {cats}" in r.output


def test_an_edited_file_s_unchanged_chunks_are_counted_kept_not_new(tmp_path, wiki_docs):
    # one line appended to a file: "1 document ingested (N chunks: N new, ...)" though one chunk was embedded; the
    # others are the old version's, stored again with their vectors
    docs = tmp_path / "docs"
    docs.mkdir()
    text = "\n\n".join(wiki_docs[0].sentences[:40])
    (docs / "a.txt").write_text(text, encoding="utf-8")
    runner, mem = CliRunner(), str(tmp_path / "mem")
    assert runner.invoke(cli, ["ingest", str(docs), "--memory", mem, "-q"]).exit_code == 0
    def texts() -> list[str]:
        return [c["text"] for c in json.loads(runner.invoke(cli, ["get", "a.txt", "-m", mem, "--json"]).stdout)["chunks"]]

    before = set(texts())
    (docs / "a.txt").write_text(text + "\n\nThe lichen survey of Pellow ended in May.", encoding="utf-8")
    res = runner.invoke(cli, ["ingest", str(docs), "--memory", mem, "-q"])
    after = texts()
    kept = sum(t in before for t in after)
    assert len(before) >= 3 and 1 <= len(after) - kept <= 2 and kept >= len(before) - 1
    assert f"1 document ingested ({len(after)} chunks: {len(after) - kept} new, {kept} kept from the version " \
           f"replaced, 0 duplicates), 0 unchanged, 1 replaced" in res.output, res.output
