"""Optional extras (plots, eval): a missing one is a clear error naming `pip install 'mycelial[...]'`;
the `mycelial` logger is silent unless configured; ingest's bar knows its total."""
from __future__ import annotations

import io
import json
import logging
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from core._extras import MissingExtraError

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_declares_the_extras_and_setup_installs_them():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith(("matplotlib", "sacrebleu")) for d in meta["dependencies"])
    assert meta["optional-dependencies"]["plots"] == ["matplotlib>=3.7"]
    assert meta["optional-dependencies"]["eval"] == ["sacrebleu>=2.3"]
    assert '".[dev,plots,eval,openvino]"' in (ROOT / "scripts" / "setup.sh").read_text()


def test_missing_sacrebleu_names_the_eval_extra(monkeypatch):
    from core.compression.metrics import bleu

    assert bleu(["a cat sat on the mat"], ["a cat sat on the mat"]) == pytest.approx(100.0)
    monkeypatch.setitem(sys.modules, "sacrebleu", None)  # what an install without the extra looks like
    with pytest.raises(MissingExtraError, match=r"pip install 'mycelial\[eval\]'"):
        bleu(["a"], ["a"])


def test_missing_matplotlib_names_the_plots_extra(monkeypatch, tmp_path):
    from core.compression.report import plot_code_usage

    codes = np.random.default_rng(0).integers(0, 16, size=(200, 4))
    plot_code_usage(codes, tmp_path / "usage.png", codebook_size=16)
    assert (tmp_path / "usage.png").stat().st_size > 1000
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'mycelial\[plots\]'"):
        plot_code_usage(codes, tmp_path / "again.png", codebook_size=16)
    assert not (tmp_path / "again.png").exists()


def test_cli_turns_a_missing_extra_into_one_line(monkeypatch, tmp_path):
    """`mycelial graph NETWORK` without matplotlib: exit 1, the pip command, no traceback."""
    from core.cli import cli
    from core.reasoning.mycelial.network import MycelialReasoning

    net = MycelialReasoning()
    net.observe(np.random.default_rng(0).integers(0, 256, size=(50, 4)))
    path = tmp_path / "net.npz"
    net.save(path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = CliRunner().invoke(cli, ["graph", str(path), "--out", str(tmp_path)])
    assert r.exit_code == 1, r.output
    assert "pip install 'mycelial[plots]'" in r.output and "Traceback" not in r.output


def test_library_logs_to_the_mycelial_logger_only_when_asked(tmp_path, embedder):
    from core.memory import SemanticMemory
    from core.reasoning.mycelial import MycelialVQVAE

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("mycelial")
    records = [{"id": f"d{i}", "text": f"Paragraph {i} of a real note about tar and gzip archives."} for i in range(3)]
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=MycelialVQVAE.load_default()) as mem:
        logger.addHandler(handler)
        try:
            mem.ingest(records[:1])
            assert stream.getvalue() == ""  # default level (WARNING): silent
            logger.setLevel(logging.INFO)
            mem.ingest(records[1:])
        finally:
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
    assert "ingest: 2 documents, 2 chunks (2 new)" in stream.getvalue()


def test_ingest_progress_bar_has_a_total(tmp_path, embedder, capsys):
    """The bar's total (documents in folders, JSONL lines) is known up front, so tqdm shows an ETA."""
    from core.memory import SemanticMemory
    from core.memory._ingest_progress import _expected_documents
    from core.reasoning.mycelial import MycelialVQVAE

    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.md").write_text("# A\n\nTar saves many files into one archive.")
    (tmp_path / "docs" / "sub" / "b.txt").write_text("Gzip compresses one file.")
    (tmp_path / "docs" / "skip.png").write_bytes(b"\x89PNG\r\n\x1a\n not read")
    lines = [json.dumps({"id": f"j{i}", "text": f"Record {i} about the grep command."}) for i in range(3)]
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n\n")
    src = [str(tmp_path / "docs"), str(tmp_path / "r.jsonl")]
    assert _expected_documents(src) == 5
    assert _expected_documents([{"id": "x", "text": "y"}] * 4) == 4
    assert _expected_documents(iter([{"id": "x", "text": "y"}])) is None
    assert _expected_documents(["-"]) is None
    with SemanticMemory(tmp_path / "m", embedder=embedder, codec=MycelialVQVAE.load_default()) as mem:
        rep = mem.ingest(src, progress=True)
    assert rep.documents == 5
    err = capsys.readouterr().err
    assert "5/5" in err
