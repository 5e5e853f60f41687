"""The real-documents benchmark's inputs: >= 30 judged questions (and 34 held-out ones) whose answers this machine renders."""
from __future__ import annotations

import json
from pathlib import Path

from _scripts import load_script

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    return load_script("bench_realdocs")


def test_questions_are_judged_and_answerable_here(tmp_path):
    bench = _bench()
    questions = json.loads(bench.QUESTIONS.read_text(encoding="utf-8"))["questions"]
    assert len(questions) >= 30 and len({q["q"] for q in questions}) == len(questions)
    info = bench.render_corpus(tmp_path)
    assert info["missing"] == [] and info["files"] >= 95
    heldout = json.loads(bench.HELDOUT.read_text(encoding="utf-8"))["questions"]
    assert len(heldout) == 34 and not {q["q"] for q in heldout} & {q["q"] for q in questions}
    for q in questions + heldout:
        assert q["answers"] and all((tmp_path / a).is_file() for a in q["answers"]), q
    man = (tmp_path / "man" / "tar.txt").read_text(encoding="utf-8")
    assert "--gzip" in man and "\b" not in man  # rendered as plain text, no overstrike


def test_table_puts_the_heldout_figures_beside_each_row(capsys):
    bench = _bench()
    fig = {"P@5": 0.225, "Hit@5": 1.0, "MRR@10": 0.942, "ms_per_query": 5.0}
    held = {"P@5": 0.2, "Hit@5": 1.0, "MRR@10": 0.829, "ms_per_query": 4.0}
    bench.print_table({m: fig for m in bench.MODES}, {"no query phrases": {"hybrid": fig}},
                      {m: held for m in bench.MODES}, {"no query phrases": {"hybrid": held}}, 34)
    lines = capsys.readouterr().out.splitlines()
    assert "held-out (34)" in lines[0] and lines[1].count("|") == lines[0].count("|")
    assert lines[-1] == "| hybrid, no query phrases | 0.225 | 1.000 | 0.942 | 5.0 | 0.200 | 1.000 | 0.829 |"
    assert len(lines) == 2 + len(bench.MODES) + 1
