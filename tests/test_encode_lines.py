"""`mycelial encode` reads its texts as a user's tools count them: row i is line i of the file or of stdin.

A tiny codec and a stand-in for the sentence model keep each test well under a second.
"""
from __future__ import annotations

import json

import pytest
from _tiny_codec import HashEmbedder, tiny_weights
from click.testing import CliRunner

from core.cli import cli


@pytest.fixture
def weights(tmp_path, monkeypatch):
    import core.embedding

    monkeypatch.setattr(core.embedding, "TextEmbedder", HashEmbedder)
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
