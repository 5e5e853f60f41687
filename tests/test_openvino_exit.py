"""A script that embeds several batches with openvino-int8 and just exits must exit 0.

OpenVINO's threads ran our Python callback (``AsyncInferQueue.set_callback``) and, still finishing it
when the interpreter finalised, aborted it: "terminate called without an active exception", exit 134
(19 of 30 runs; 6 of 30 with the exit drain but no sleep after it). ``encode`` now sets no callback,
so nothing of OpenVINO needs the GIL once it returns; the second test exits without the drain.
Each run is a real subprocess with the real model."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _two_at_once import two_at_once

from core.config import data_file

pytest.importorskip("openvino")
ROOT = Path(__file__).resolve().parents[1]
# ~1 s each; the old code aborted in 19 of 30 runs without the drain (P(5 clean) ~ 1/140) and in 6 of 30 with it:
# ten runs of the old encoder in all (~1/440)
RUNS = 5
SCRIPT = """
import sys
from core.embedding import TextEmbedder
lines = [l.strip() for l in open(sys.argv[1], encoding="utf-8") if len(l.strip()) > 80][:60]
emb = TextEmbedder(backend="openvino-int8", cache=False)
X = emb.embed(lines)  # 60 paragraphs: 3+ batches of 2,048 tokens through the AsyncInferQueue
print(X.shape[0], round(float(X.sum()), 4))
"""


NO_DRAIN = """
import atexit
import core.embedding_openvino as ov
atexit.unregister(ov._drain_at_exit)  # the encoder alone must leave no OpenVINO thread needing the GIL
"""


@pytest.mark.parametrize("extra", ["", NO_DRAIN], ids=["with_exit_drain", "without_exit_drain"])
def test_multi_batch_script_exits_cleanly(extra):
    wiki = data_file("wikitext2/wiki.test.raw")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outs = set()
    # two at a time: each run's import and model load (~1 s) is on one core, the other idled; every run is still
    # a process of its own that embeds, then exits while nothing else of it runs
    runs = two_at_once(lambda _: subprocess.run([sys.executable, "-c", SCRIPT + extra, str(wiki)],
                                                capture_output=True, text=True, env=env, timeout=120), range(RUNS))
    for p in runs:
        assert "terminate called" not in p.stderr, p.stderr[-2000:]
        assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
        outs.add(p.stdout.strip())
    assert len(outs) == 1 and outs.pop().startswith("60 "), outs  # the same vectors every run
