"""What the commands tell the user to type works when pasted into a shell, and what a shell leaves unexpanded
(`--memory=~/m`) reaches the memory the user meant."""
from __future__ import annotations

import json
import shlex

import pytest
from click.testing import CliRunner

from core.cli import cli


def _hint(output: str) -> list[str]:
    """The first `mycelial ...` command quoted in backticks (or after 'undo: '), split as a shell would."""
    text = output.split("`mycelial ", 1)[1].split("`", 1)[0] if "`mycelial " in output \
        else output.split("undo: mycelial ", 1)[1].rsplit(")", 1)[0]
    return shlex.split(text)


@pytest.fixture(scope="module")
def spaced_memory(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hints") / "my notes ü"
    r = CliRunner().invoke(cli, ["ingest", "-", "--memory", str(folder), "-q"],
                           input="Neil Peart was the drummer of Rush, a Canadian rock band.")
    assert r.exit_code == 0, r.output
    return folder


def test_a_memory_path_with_a_space_is_quoted_in_the_undo_command(spaced_memory):
    # `reinforce` printed "(undo: mycelial unreinforce 1 --memory /tmp/.../my notes ü)": pasted, it named "/tmp/.../my"
    r = CliRunner().invoke(cli, ["reinforce", "who drummed for Rush?", "1", "--memory", str(spaced_memory)])
    assert r.exit_code == 0 and ": 1 chunk, rate 0.5" in r.output, r.output  # it said "1 chunks"
    argv = _hint(r.output)
    assert argv[-2:] == ["--memory", str(spaced_memory)], argv
    again = CliRunner().invoke(cli, argv)
    assert again.exit_code == 0 and "undid reinforcement" in again.output, again.output
    r = CliRunner().invoke(cli, argv)  # the same event again: its hint names the folder whole too
    assert r.exit_code == 1 and _hint(r.output) == ["reinforcements", "--memory", str(spaced_memory)], r.output


def test_hints_naming_a_memory_quote_it(spaced_memory, tmp_path):
    r = CliRunner().invoke(cli, ["get", "nothere", "--memory", str(spaced_memory)])
    assert r.exit_code == 1 and _hint(r.output) == ["list", "--memory", str(spaced_memory)], r.output
    r = CliRunner().invoke(cli, ["forget", "nothere", "--memory", str(spaced_memory)])
    assert r.exit_code == 1 and _hint(r.output) == ["list", "--memory", str(spaced_memory)], r.output
    r = CliRunner().invoke(cli, ["forget", "nothere", "gone", "--memory", str(spaced_memory)])
    assert r.exit_code == 1 and _hint(r.output) == ["list", "--memory", str(spaced_memory)], r.output
    missing = tmp_path / "no such memory"
    for command in (["recall", "x"], ["list"], ["associate", "x"], ["get", "x"], ["stats"]):
        r = CliRunner().invoke(cli, [*command, "--memory", str(missing)])
        assert r.exit_code == 1 and _hint(r.output) == ["ingest", "PATH", "--memory", str(missing)], (command,
                                                                                                      r.output)
    r = CliRunner().invoke(cli, ["graph", str(spaced_memory)])  # a memory folder given as NETWORK
    assert r.exit_code == 1 and _hint(r.output)[:3] == ["graph", "--memory", str(spaced_memory)], r.output
    assert json.loads(CliRunner().invoke(cli, ["stats", "--memory", str(spaced_memory)]).stdout)["documents"] == 1


def test_a_memory_given_as_tilde_after_an_equals_sign_is_found_by_every_command(tmp_path, monkeypatch):
    # `--memory=~/m` reaches the command unexpanded (the shell expands no ~ after `=`): ingest made $HOME/m (the
    # library expands ~) and `list`, `recall`, `get`, `stats` then said "no memory at ~/m"
    monkeypatch.setenv("HOME", str(tmp_path))
    r = CliRunner().invoke(cli, ["ingest", "-", "--memory=~/m", "-q"], input="Geddy Lee sang for Rush.")
    assert r.exit_code == 0 and (tmp_path / "m" / "memory.sqlite").is_file(), r.output
    assert not (tmp_path / "~").exists()
    r = CliRunner().invoke(cli, ["list", "--memory=~/m", "--json"])
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 1, r.output
    for command in (["stats"], ["recall", "who sang for Rush?", "-q"], ["associate", "rush"]):
        r = CliRunner().invoke(cli, [*command, "--memory=~/m"])
        assert r.exit_code == 0 and "no memory" not in r.output, (command, r.output)


def test_a_memory_kept_inside_the_ingested_folder_is_not_read_as_documents(tmp_path):
    # `ingest notes --memory notes/mem` said "skipped 9 unsupported files (.npz 2, .json 2, .sqlite 1, ...)" on every
    # run after the first: the memory's own files
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "rush.txt").write_text("Neil Peart was the drummer of Rush.", encoding="utf-8")
    for _ in range(2):
        r = CliRunner().invoke(cli, ["ingest", str(notes), "--memory", str(notes / "mem"), "-q", "--sync"])
        assert r.exit_code == 0 and "unsupported" not in r.output and "skipped" not in r.output, r.output
    assert (notes / "mem" / "memory.sqlite").is_file()
    (notes / "mem" / "stray.txt").write_text("Not a note of mine.", encoding="utf-8")
    r = CliRunner().invoke(cli, ["ingest", str(notes), "--memory", str(notes / "mem"), "-q"])
    assert r.exit_code == 0 and "1 unchanged" in r.output and "0 documents ingested" in r.output, r.output


def test_the_demo_does_not_add_its_sample_to_a_memory_of_other_documents(spaced_memory):
    # `mycelial demo --memory my_memory` ingested the shipped sample (10 Wikipedia documents) among the user's own
    before = CliRunner().invoke(cli, ["list", "--memory", str(spaced_memory), "--json"]).stdout
    r = CliRunner().invoke(cli, ["demo", "--memory", str(spaced_memory), "-k", "1"])
    assert r.exit_code == 1 and "holds other documents ('stdin-" in r.output and "nothing" not in r.output, r.output
    assert _hint(r.output) == ["demo", "--memory", f"{spaced_memory}-demo"], r.output
    assert CliRunner().invoke(cli, ["list", "--memory", str(spaced_memory), "--json"]).stdout == before


def test_ingest_of_stdin_typed_at_a_terminal_says_how_to_end_it(tmp_path):
    # `mycelial ingest - --memory m` without a pipe waited for text in silence, like a hang
    import os
    import pty
    import subprocess
    import sys
    import time

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-m", "mycelial", "ingest", "-", "--memory", str(tmp_path / "m"), "-q"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    try:
        time.sleep(0.5)
        os.write(master, b"Alex Lifeson played guitar in Rush.\n")
        os.write(master, b"\x04")  # Ctrl-D on a line of its own: end of input
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        os.close(master)
    assert proc.returncode == 0, err.decode()
    assert "from the terminal" in err.decode() and "Ctrl-D" in err.decode(), err.decode()
    assert b"1 document ingested" in out + err


def test_a_query_from_a_queries_file_is_echoed_without_terminal_escapes(spaced_memory, tmp_path):
    # the echoed "query: ..." line printed a --queries line's escape sequences raw (an OSC sets the window title)
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"id": 1, "query": "who \x1b]0;pwned\x07drummed\nfor Rush?"}) + "\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["recall", "--queries", str(queries), "--memory", str(spaced_memory), "-k", "1", "-q"])
    assert r.exit_code == 0 and "\x1b" not in r.output and "\x07" not in r.output, repr(r.output)
    assert "query: who drummed\\nfor Rush?" in r.output, repr(r.output)


@pytest.mark.parametrize("typed, ours", [("query", "recall"), ("search", "recall"), ("add", "ingest"),
                                         ("rm", "forget"), ("ls", "list"), ("status", "stats"),
                                         ("check", "repair"), ("fsck", "repair"), ("where", "recall"),
                                         ("sync", "ingest")])
def test_a_command_named_in_other_words_names_ours(typed, ours):
    # `mycelial query "x" --memory m` said "No such command 'query'." and nothing more
    r = CliRunner().invoke(cli, [typed, "x", "--memory", "m"])
    assert r.exit_code == 2 and f"No such command '{typed}'. Did you mean '{ours}'?" in r.output, r.output
    assert cli.get_command(None, ours) is not None  # the suggestion is a real command


def test_an_unknown_command_of_no_other_words_is_the_plain_usage_error():
    r = CliRunner().invoke(cli, ["frobnicate"])
    assert r.exit_code == 2 and "No such command 'frobnicate'." in r.output and "Did you mean" not in r.output


@pytest.mark.parametrize("typed", ["merge", "restore", "install", "tail", "start"])
def test_an_unrelated_word_gets_no_unrelated_command(typed):
    # click's likeness ratio offered `serve` for `merge`, `reinforce` for `restore`, `ingest` for `install`
    r = CliRunner().invoke(cli, [typed])
    assert r.exit_code == 2 and f"No such command '{typed}'." in r.output and "Did you mean" not in r.output, r.output


@pytest.mark.parametrize("typed, ours", [("recal", "'recall'"), ("ingets", "'ingest'"), ("gte", "'get'"),
                                         ("reinf", "one of: 'reinforce', 'reinforcements'")])
def test_a_slip_of_a_command_name_still_names_it(typed, ours):
    r = CliRunner().invoke(cli, [typed])
    assert r.exit_code == 2 and f"Did you mean {ours}?" in r.output, r.output


def test_a_name_starting_with_a_dash_is_told_to_go_after_double_dash(tmp_path):
    # `mycelial get -leading-dash.txt` said "No such option '-l'." and no more
    (tmp_path / "-leading-dash.txt").write_text("The ferry to Pellow runs twice a day.", encoding="utf-8")
    mem = tmp_path / "mem"
    r = CliRunner().invoke(cli, ["ingest", "--memory", str(mem), "-q", "--", str(tmp_path / "-leading-dash.txt")])
    assert r.exit_code == 0, r.output
    doc_id = json.loads(CliRunner().invoke(cli, ["list", "--memory", str(mem), "--json"]).stdout)[0]["id"]
    name = doc_id.rsplit("/", 1)[-1]
    r = CliRunner().invoke(cli, ["get", name, "--memory", str(mem)])
    assert r.exit_code == 2 and f"No such option '-l'. A name that starts with '-' goes after `--`: mycelial get ... " \
                                f"-- {name}" in r.output, r.output
    assert CliRunner().invoke(cli, ["get", "--memory", str(mem), "--", doc_id]).exit_code == 0
    r = CliRunner().invoke(cli, ["recall", "x", "--modee", "similar"])  # a mistyped option keeps click's hint
    assert "Did you mean '--mode'?" in r.output and "goes after" not in r.output


@pytest.mark.parametrize("args, said", [
    (["recall", "x", "-m", "a", "--memory", "b"], "-m/--memory is given 2 times (a, b): give it once"),
    (["recall", "x", "-k5", "-k", "6", "-m", "a"], "-k is given 2 times (5, 6): give it once"),
    (["get", "doc", "--memory=a", "--memory=b c"], "--memory is given 2 times (a, 'b c'): give it once"),
])
def test_an_option_of_one_value_given_twice_is_a_usage_error(tmp_path, args, said):
    # click kept the last: `recall -m notes -m papers` asked papers alone, without a word
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and said in r.output, r.output


def test_options_that_take_several_values_and_words_after_the_double_dash_are_not_counted(tmp_path):
    r = CliRunner().invoke(cli, ["recall", "x", "--where", "a=1", "--where", "b=2", "-m", str(tmp_path / "none")])
    assert r.exit_code == 1 and "no memory at" in r.output, r.output
    r = CliRunner().invoke(cli, ["get", "-m", str(tmp_path / "none"), "--", "-m"])
    assert r.exit_code == 1 and "given" not in r.output, r.output
