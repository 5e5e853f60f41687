"""A one-shot `mycelial recall` skips work its answer never needs: openvino's model converter on
import, the collector's walk over every object at exit. Checked in a real process; the answer is
the in-process API's, to the bit."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.datasets import wikitext_documents

pytest.importorskip("openvino")

# The CLI in a fresh process; an exit hook registered before it runs last and records what was imported
# and whether the collector's objects were frozen for the exit.
_RUN = """
import atexit, gc, json, os, sys
def report():
    json.dump({"ovc": "openvino.tools.ovc" in sys.modules, "openvino": "openvino" in sys.modules,
               "frozen": gc.get_freeze_count()}, open(os.environ["STATE_OUT"], "w"))
atexit.register(report)
from core.cli import main
sys.argv = ["mycelial"] + sys.argv[1:]
main()
"""


@pytest.fixture(scope="module")
def ov_memory(tmp_path_factory):
    """A small openvino-int8 memory (the default backend) of real WikiText-2 text."""
    from core.embedding import TextEmbedder
    from core.memory import SemanticMemory

    folder = tmp_path_factory.mktemp("startup") / "mem"
    docs = wikitext_documents()[:4]
    mem = SemanticMemory(folder, embedder=TextEmbedder(backend="openvino-int8"))
    mem.ingest([{"id": d.doc_id, "text": " ".join(d.sentences[:30])} for d in docs])
    mem.close()
    return folder


def _cli(args, tmp_path):
    env = {**os.environ, "STATE_OUT": str(tmp_path / "state.json")}
    res = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout, json.loads((tmp_path / "state.json").read_text())


def test_one_query_skips_the_converter_and_the_exit_collection_with_the_same_hits(ov_memory, tmp_path):
    from core.embedding import TextEmbedder
    from core.memory import SemanticMemory

    query = "which team won the match?"
    out, state = _cli(["recall", query, "--memory", str(ov_memory), "-k", "6", "--json", "-q"], tmp_path)
    assert state["openvino"] and not state["ovc"]  # the model ran without openvino.tools.ovc
    assert state["frozen"] > 0  # the exit hook ran: the objects left were out of the collector's reach
    # the answer is the library's: same chunks, scores and explanations, bit for bit
    mem = SemanticMemory(ov_memory, read_only=True, embedder=TextEmbedder(backend="openvino-int8", threads=1))
    try:
        expected = [h.to_dict() for h in mem.recall(query, k=6)]
    finally:
        mem.close()
    assert len(expected) == 6
    assert json.loads(out) == json.loads(json.dumps(expected, ensure_ascii=False))


def test_every_read_only_command_skips_the_exit_collection(ov_memory, tmp_path):
    """stats, get, associate, graph open the memory as recall does (`_open_for_queries`)."""
    out, state = _cli(["stats", "--memory", str(ov_memory)], tmp_path)
    assert json.loads(out)["documents"] == 4 and state["frozen"] > 0


def test_the_converter_still_imports_after_the_runtime():
    """The import block is lifted at once: a later ``import openvino.tools.ovc`` (a build's tools) works."""
    code = ("import sys\nfrom core.embedding_openvino import _runtime\nov = _runtime()\n"
            "assert 'openvino.tools.ovc' not in sys.modules\n"
            "from openvino.tools.ovc import convert_model\nprint(callable(convert_model))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "True", res.stderr
