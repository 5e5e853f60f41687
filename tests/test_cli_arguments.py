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


@pytest.mark.parametrize("command", [["associate", "{}"], ["bridges", "nero", "{}"], ["bridges", "{}", "nero"],
                                     ["graph", "--concept", "{}"]])
@pytest.mark.parametrize("concept,says", [
    (LATIN1, "is not valid UTF-8 (byte 0xe9 at character 3)"),  # "no associations for 'caf\udce9'", exit 1
    ("", "'' is empty"), (" ", "' ' is blank"),                    # "no associations for ''", exit 1
    ("x" * 100_000, "a concept of 100,000 characters; a concept is at most 2,000"),  # "LIKE or GLOB pattern too complex"
])
def test_a_concept_no_memory_can_hold_is_a_usage_error(tmp_path, command, concept, says):
    args = [concept if a == "{}" else a for a in command]
    r = CliRunner().invoke(cli, [*args, "--memory", str(tmp_path / "m")])
    assert r.exit_code == 2 and "Invalid value for" in r.output and says in r.output, r.output
    assert not (tmp_path / "m").exists()


def test_the_cli_and_the_http_routes_take_concepts_of_the_same_length():
    from core.config import CONCEPT_MAX
    from core.server.network import CONCEPT_MAX as route_max

    assert CONCEPT_MAX == route_max == 2000
