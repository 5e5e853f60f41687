"""A text or concept argument no command can use is a usage error (exit 2) before any work, as `recall`'s is."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from core.cli import cli

LATIN1 = "caf\udce9"   # b"caf\xe9" as Python hands a non-UTF-8 argument to click


@pytest.mark.parametrize("query,says", [("", "'' is empty"), ("   ", "'   ' is blank"),
                                        (LATIN1, "is not valid UTF-8 (byte 0xe9 at character 3)")])
def test_demo_checks_its_query_before_it_ingests(tmp_path, query, says):
    # it ingested the sample, then a traceback (an empty query) or "codec can't encode" (Latin-1 bytes)
    r = CliRunner().invoke(cli, ["demo", "--memory", str(tmp_path / "m"), "--query", query])
    assert r.exit_code == 2 and "Invalid value for '--query'" in r.output and says in r.output, r.output
    assert not (tmp_path / "m").exists()
