"""networkx export, GraphML/PNG/Zipf files, and the ``mycelial graph`` command."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner

from core.cli import cli
from core.reasoning.mycelial import MycelialConfig, MycelialReasoning


@pytest.fixture
def net():
    rng = np.random.default_rng(0)
    n = MycelialReasoning(MycelialConfig(num_heads=4, codebook_size=32))
    n.observe((rng.zipf(1.6, size=(3000, 4)) - 1) % 32)
    return n


def test_to_networkx_carries_every_edge_and_weight(net):
    g = net.to_networkx()
    W = net.weights()
    assert g.number_of_edges() == W.nnz // 2
    for (h1, c1), (h2, c2), d in list(g.edges(data=True))[:50]:
        assert d["weight"] == W[h1 * 32 + c1, h2 * 32 + c2]
    node = next(iter(g.nodes))
    assert g.nodes[node]["count"] == net.node_counts_[node[0] * 32 + node[1]]


def test_to_networkx_top_keeps_the_strongest(net):
    g = net.to_networkx(top=10)
    strongest = net.strongest_connections(10)
    assert g.number_of_edges() == 10
    assert {frozenset((a, b)) for a, b, _ in strongest} == {frozenset(e) for e in g.edges}


def test_graph_command_writes_graphml_png_and_zipf(net, tmp_path):
    path = tmp_path / "net.npz"
    net.save(path)
    res = CliRunner().invoke(cli, ["graph", str(path), "--out", str(tmp_path / "fig"), "--top", "25"])
    assert res.exit_code == 0, res.output
    g = nx.read_graphml(tmp_path / "fig" / "net.graphml")
    assert g.number_of_edges() == 25
    w_max = net.strongest_connections(1)[0][2]
    assert max(d["weight"] for _, _, d in g.edges(data=True)) == pytest.approx(w_max)
    for name in ("net.png", "net_zipf.png"):
        data = (tmp_path / "fig" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert "wrote" in res.output


def test_graph_command_replaces_its_own_files_never_a_users(net, tmp_path):
    path = tmp_path / "net.npz"
    net.save(path)
    fig = tmp_path / "fig"
    for _ in range(2):  # a second run replaces what the first wrote
        assert CliRunner().invoke(cli, ["graph", str(path), "--out", str(fig), "--top", "25"]).exit_code == 0
    assert nx.read_graphml(fig / "net.graphml").number_of_edges() == 25  # the mark is an XML comment
    for name in ("net.graphml", "net_zipf.png"):  # a file of the user's of a name it writes: nothing is written
        (fig / name).write_bytes(b"the user's own file")
        stamps = {p.name: p.stat().st_mtime_ns for p in fig.iterdir()}
        res = CliRunner().invoke(cli, ["graph", str(path), "--out", str(fig), "--top", "25"])
        assert res.exit_code == 1 and f"{fig / name} exists and was not written by `mycelial graph`" in res.output
        assert (fig / name).read_bytes() == b"the user's own file"
        assert {p.name: p.stat().st_mtime_ns for p in fig.iterdir()} == stamps
        (fig / name).unlink()


def test_graph_command_reports_bad_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    res = CliRunner().invoke(cli, ["graph", str(bad)])
    assert res.exit_code != 0 and "corrupt" in res.output
    res = CliRunner().invoke(cli, ["graph", str(tmp_path / "missing.npz")])
    assert res.exit_code != 0 and "no network file" in res.output


def test_graph_command_has_help_with_example():
    res = CliRunner().invoke(cli, ["graph", "--help"])
    assert res.exit_code == 0 and "Example:" in res.output


def test_graph_command_on_a_memory_folder_or_its_sqlite_says_what_to_type(net, tmp_path):
    # `mycelial graph mem` was "File 'mem' is a directory", `mycelial graph mem/memory.sqlite`
    # "truncated or corrupt: not an .npz (zip) archive" (a healthy SQLite file called damaged)
    import sqlite3

    mem = tmp_path / "mem"
    mem.mkdir()
    (mem / "mycelial.json").write_text('{"format": 1, "kind": "mycelial-memory"}\n', encoding="utf-8")
    with sqlite3.connect(mem / "memory.sqlite") as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    net.save(mem / "network.3.npz")
    for arg, what in ((mem, "is a memory folder"), (mem / "memory.sqlite", "is a memory's SQLite store")):
        res = CliRunner().invoke(cli, ["graph", str(arg)])
        assert res.exit_code == 1, res.output
        assert what in res.output and "corrupt" not in res.output, res.output
        assert f"mycelial graph --memory {mem} --concept NAME" in res.output
        assert f"mycelial graph {mem / 'network.3.npz'}" in res.output
    (tmp_path / "docs").mkdir()
    res = CliRunner().invoke(cli, ["graph", str(tmp_path / "docs")])
    assert res.exit_code == 1 and "is a folder, not a saved network" in res.output, res.output


def test_graph_of_network_npz_in_a_memory_folder_names_its_versioned_file(net, tmp_path):
    # `graph --help`'s example `mycelial graph memory/network.npz` said only "no network file at
    # memory/network.npz": a memory keeps its network as network.N.npz
    mem = tmp_path / "my memory"
    mem.mkdir()
    (mem / "mycelial.json").write_text('{"format": 1, "kind": "mycelial-memory"}\n', encoding="utf-8")
    net.save(mem / "network.3.npz")
    res = CliRunner().invoke(cli, ["graph", str(mem / "network.npz")])
    assert res.exit_code == 1 and f"no network file at {mem / 'network.npz'}; its folder is a memory" in res.output
    assert f"`mycelial graph '{mem / 'network.3.npz'}'`" in res.output, res.output
    assert "memory/network.npz" not in CliRunner().invoke(cli, ["graph", "--help"]).output
