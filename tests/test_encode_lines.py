"""`mycelial encode` reads its texts as a user's tools count them: row i is line i of the file or of stdin.

A tiny codec (a real model of 2 heads x 4 codes) keeps the tests quick; the sentence model is the real one.
"""
from __future__ import annotations

import json

import pytest
from _tiny_codec import tiny_weights
from click.testing import CliRunner

from core.cli import cli


@pytest.fixture
def weights(tmp_path):
    return str(tiny_weights(tmp_path / "w.safetensors"))


def test_file_rows_are_its_newline_separated_lines(tmp_path, weights):
    # str.splitlines also broke at \f, \v, \x1c-\x1e, \x85 and U+2028: these 5 lines gave 12 rows
    text = "page one\fpage two\nvt\vx fs\x1cgs\x1drs\x1ert\r\nnel\x85ls\u2028end\n\nlast"
    (tmp_path / "s.txt").write_text(text, encoding="utf-8", newline="")
    res = CliRunner().invoke(cli, ["encode", "--file", str(tmp_path / "s.txt"), "--weights", weights, "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [(r["line"], r["text"]) for r in rows] == [
        (1, "page one\fpage two"), (2, "vt\vx fs\x1cgs\x1drs\x1ert"), (3, "nel\x85ls\u2028end"), (5, "last")]
    res = CliRunner().invoke(cli, ["encode", "--file", str(tmp_path / "s.txt"), "--weights", weights])
    assert res.exit_code == 0 and len(res.stdout.split("\n")) == 5 + 1, res.stdout   # 5 lines, then the last "\n"


def test_dash_reads_standard_input_a_line_a_row(weights, monkeypatch):
    # `encode -` encoded the text "-" (one row), as `--file -` said "- not found"
    text = "a cat\nthe dog\n\nmice\n"
    for args in (["-"], ["--file", "-"]):
        res = CliRunner().invoke(cli, ["encode", *args, "--weights", weights, "--json"], input=text)
        assert res.exit_code == 0, res.output
        assert [(r["line"], r["text"]) for r in json.loads(res.stdout)] == [(1, "a cat"), (2, "the dog"), (4, "mice")]
    plain = CliRunner().invoke(cli, ["encode", "-", "--weights", weights], input=text)
    rows = plain.stdout.split("\n")
    assert plain.exit_code == 0 and len(rows) == 4 + 1 and rows[2] == "" and all(rows[:2] + rows[3:4]), rows
    res = CliRunner().invoke(cli, ["encode", "x", "-", "--weights", weights], input=text)
    assert res.exit_code == 2 and "give it alone" in res.output, res.output
    res = CliRunner().invoke(cli, ["encode", "-", "--weights", weights], input="\n \n")
    assert res.exit_code == 1 and "standard input holds no text" in res.output, res.output
    import core.cli._codec_input as codec_input   # a terminal says how to end the input, as `ingest -` does

    monkeypatch.setattr(codec_input, "_is_terminal", lambda fh: True)
    res = CliRunner().invoke(cli, ["encode", "-", "--weights", weights], input="a cat\n")
    assert res.exit_code == 0 and "then Ctrl-D on a line of its own" in res.stderr, res.output


def test_paths_take_tilde_for_the_home_folder(tmp_path, weights, monkeypatch):
    # -o '~/codes.txt' (quoted, or after `=`, the shell expands no ~) wrote ./~/codes.txt
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    (home / "s.txt").write_text("a cat\nthe dog\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["encode", "--file", "~/s.txt", "--weights", weights, "-o", "~/codes.txt"])
    assert res.exit_code == 0, res.output
    assert len((home / "codes.txt").read_text().splitlines()) == 2 and list(work.iterdir()) == []
    res = CliRunner().invoke(cli, ["encode", "--file", "~/s.txt", "--weights", weights, "--output=~/s.txt"])
    assert res.exit_code == 2 and "is the input file" in res.output, res.output


def test_texts_past_the_models_window_are_said_to_be_cut_and_keep_their_codes(tmp_path, wiki_docs, embedder):
    from core.memory.chunking import count_tokens
    from core.reasoning.mycelial import MycelialVQVAE

    words = " ".join(wiki_docs[0].sentences[:40]).split()
    pieces = [count_tokens([" ".join(words[:n])])[0] for n in range(1, len(words) + 1)]
    fits = max(n for n, p in enumerate(pieces, 1) if p <= 254)  # 256 with [CLS] and [SEP]
    within, over = " ".join(words[:fits]), " ".join(words[:fits + 1])
    (tmp_path / "ok.txt").write_text(f"{within}\na cat\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["encode", "--file", str(tmp_path / "ok.txt")])
    assert res.exit_code == 0 and res.stderr == "", res.output
    longer = " ".join(words)  # it was cut to the same start, silently: the same codes as `over`
    (tmp_path / "long.txt").write_text(f"{over}\na cat\n{longer}\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["encode", "--file", str(tmp_path / "long.txt")])
    assert res.exit_code == 0, res.output
    assert res.stderr == ("note: 2 texts of 3 cut to the model's window of 256 word pieces: their codes stand for "
                          "their start only (split long texts to encode all of them)\n")
    codes = MycelialVQVAE.load_default().encode(embedder.embed([over, "a cat", longer]))
    assert res.stdout == "".join(" ".join(map(str, row)) + "\n" for row in codes)


def test_search_options_without_refine_are_a_usage_error_naming_refine(tmp_path, weights):
    # --candidates without --refine did nothing, silently; --pairs failed only after the texts were embedded
    for args, named in ((["--candidates", "32"], "--candidates tunes the refinement and needs --refine N"),
                        (["--pairs", "4"], "--pairs tunes the refinement and needs --refine N"),
                        (["--refine", "0", "--candidates", "8", "--pairs", "2"],
                         "--candidates and --pairs tune the refinement and need --refine N")):
        res = CliRunner().invoke(cli, ["encode", "a cat", "--weights", weights, *args])
        assert res.exit_code == 2 and named in res.output, (args, res.output)
    res = CliRunner().invoke(cli, ["encode", "a cat", "--weights", weights, "--refine", "1", "--candidates", "2"])
    assert res.exit_code == 0 and len(res.stdout.split()) == 2, res.output
