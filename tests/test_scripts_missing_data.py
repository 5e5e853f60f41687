"""A benchmark script run where the shared data is not: one ``Error:`` line naming the file and MYCELIAL_DATA_DIR
(exit 1), not a traceback; and no script writes to a developer's folder unless asked (``--out``)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(p for p in (ROOT / "scripts").glob("*.py"))


def test_a_script_without_the_shared_data_says_which_file_in_one_line(tmp_path):
    env = {**os.environ, "MYCELIAL_DATA_DIR": str(tmp_path / "nowhere")}
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_multihop.py"), "--workdir", str(tmp_path / "w")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"Error: shared data file {tmp_path / 'nowhere' / 'multihop_dev' / 'hotpotqa_train_corpus.json'} not found; "
        "set MYCELIAL_DATA_DIR to the folder that holds 'multihop_dev/hotpotqa_train_corpus.json'"]


@pytest.mark.parametrize("script", [p.name for p in SCRIPTS])
def test_every_script_runs_its_main_through_the_one_line_error_and_writes_nowhere_by_default(script):
    source = (ROOT / "scripts" / script).read_text()
    assert "/work/" not in source  # a default output folder of one machine (bench_vqvae wrote /work/notes/...)
    tree = ast.parse(source)
    guard = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert len(guard) == 1
    calls = ast.unparse(guard[0])
    assert "run_main(main)" in calls or script in ("decode.py", "evaluate.py", "pipeline.py")  # click commands
