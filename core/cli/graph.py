"""`mycelial graph`: export a saved Hebbian network, or draw a concept's neighbourhood in a memory."""
from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import click

from core.cli._params import CONCEPT
from core.cli.memory import user_path
from core.text import count


@click.command("graph")
@click.argument("network", required=False, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (default: beside NETWORK, or the current folder with --memory).")
@click.option("--top", type=click.IntRange(min=1), default=200, show_default=True,
              help="Strongest edges kept in the GraphML file and the picture (NETWORK form).")
@click.option("--memory", "-m", type=click.Path(file_okay=False), default=None, callback=user_path,
              help="Draw the neighbourhood of --concept in this memory instead of a network file.")
@click.option("--concept", default=None, type=CONCEPT, help="The concept at the centre (with --memory).")
@click.option("--depth", type=click.IntRange(1, 3), default=1, show_default=True, help="Hops from the concept.")
@click.option("-k", type=click.IntRange(1, 50), default=10, show_default=True,
              help="Strongest associations kept per node and hop.")
def graph(network: Path | None, out: Path | None, top: int, memory, concept, depth, k):
    """Export a saved network (GraphML + PNG of its strongest edges, and a Zipf plot), or
    draw the neighbourhood of a concept in a memory with concept names (GraphML + PNG).

    Example:

        mycelial graph network.npz --out figures --top 300

        mycelial graph --memory my_memory --concept "neil peart" --depth 2 --out figures
    """
    if memory is not None or concept is not None:
        if network is not None:
            raise click.UsageError("give either NETWORK or --memory DIR --concept NAME, not both")
        if memory is None or concept is None:
            raise click.UsageError("--memory and --concept go together: --memory DIR --concept NAME")
        _concept_graph(memory, concept, depth, k, Path(".") if out is None else out)
        return
    if network is None:
        raise click.UsageError("give NETWORK (a saved network .npz) or --memory DIR --concept NAME")
    from core.reasoning.mycelial.export import draw_png, write_graphml, zipf_png
    from core.reasoning.mycelial.network import MycelialReasoning

    _not_a_network(network)
    try:
        net = MycelialReasoning.load(network)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    out = network.parent if out is None else out
    stem = network.stem
    _not_theirs([out / f"{stem}.graphml", out / f"{stem}.png", out / f"{stem}_zipf.png"])
    paths = [
        write_graphml(net, out / f"{stem}.graphml", top=top),
        draw_png(net, out / f"{stem}.png", top=top),
        zipf_png(net, out / f"{stem}_zipf.png"),
    ]
    s = net.stats()
    click.echo(f"{count(s['num_edges'], 'edge')} over {count(s['active_nodes'], 'node')}, "
               f"{count(s['events'], 'event')}")
    for p in paths:
        click.echo(f"wrote {p}")


def _not_theirs(paths: list[Path]) -> None:
    """Refuse, before anything is drawn, to replace a file of a name this command writes that it did not write
    (`graph --memory M --concept nero` writes ./nero.png: a user's own nero.png was silently replaced)."""
    from core.reasoning.mycelial.export import is_marked

    for p in paths:
        if (p.exists() or p.is_symlink()) and not is_marked(p):
            raise click.ClickException(f"{p} exists and was not written by `mycelial graph`; nothing was written: "
                                       f"move it, or give another folder with --out")


def _not_a_network(path: Path) -> None:
    """A memory folder or its SQLite file given as NETWORK, or a missing file in a memory folder
    (`graph my_memory/network.npz`: a memory's file is network.N.npz): say what it is and what to type."""
    folder = path if path.is_dir() else path.parent
    is_memory = (folder / "memory.sqlite").is_file() or (folder / "mycelial.json").is_file()
    if path.is_dir():
        what = f"{path} is {'a memory folder' if is_memory else 'a folder'}, not a saved network (.npz)"
    elif path.is_file():
        with open(path, "rb") as fh:
            if fh.read(16) != b"SQLite format 3\0":
                return
        kind = "a memory's SQLite store" if is_memory else "an SQLite database"
        what = f"{path} is {kind}, not a saved network (.npz)"
    elif is_memory and not path.is_symlink():
        what = f"no network file at {path}; its folder is a memory"
    else:
        return
    hint = ""
    if is_memory:
        files = sorted(folder.glob("network.*.npz"), key=lambda p: p.stat().st_mtime)
        hint = (f": draw a concept's neighbourhood with "
                f"`mycelial graph --memory {shlex.quote(str(folder))} --concept NAME`")
        if files:
            hint += f", or export the memory's network with `mycelial graph {shlex.quote(str(files[-1]))}`"
    raise click.ClickException(f"{what}{hint}")


def _concept_graph(memory, concept: str, depth: int, k: int, out: Path) -> None:
    from core.cli.memory import _open

    if not Path(memory).is_dir():
        raise click.ClickException(f"no memory at {memory}; create one with "
                                   f"`mycelial ingest PATH --memory {shlex.quote(str(memory))}`")
    with _open(memory, read_only=True) as mem:
        try:
            g = mem.graph(concept, depth=depth, k=k)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    if not g["nodes"]:
        raise click.ClickException(f"{concept!r} is not a concept of {memory}; try `mycelial associate` with "
                                   f"a name or term its documents use")
    stem = re.sub(r"[^\w.-]+", "_", g["nodes"][0]["label"]).strip("_")
    # at most 120 bytes: a URL concept made 'File name too long' (a file name holds at most 255 bytes)
    stem = stem.encode("utf-8")[:120].decode("utf-8", "ignore").strip("_.") or "concept"
    _not_theirs([out / f"{stem}.graphml", out / f"{stem}.png"])
    paths = write_concept_graph(g, out / f"{stem}.graphml", out / f"{stem}.png")
    around = g["nodes"][0]["label"]
    click.echo(f"{count(len(g['nodes']), 'concept')}, {count(len(g['edges']), 'edge')} around {around!r}")
    for p in paths:
        click.echo(f"wrote {p}")


def write_concept_graph(g: dict, graphml_path: Path, png_path: Path, seed: int = 0) -> list[Path]:
    """Write a ``SemanticMemory.graph`` neighbourhood as GraphML and a labelled PNG (both atomically)."""
    from core._extras import require

    matplotlib = require("matplotlib", "drawing the concept graph")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    from core._io import atomic_write_bytes
    from core.reasoning.mycelial.export import MARK, marked_graphml

    G = nx.Graph()
    for n in g["nodes"]:
        G.add_node(n["id"], label=n["label"], weight=float(n["weight"]))
    for e in g["edges"]:
        G.add_edge(e["source"], e["target"], weight=float(e["weight"]))
    graphml_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(graphml_path, marked_graphml("\n".join(nx.generate_graphml(G)).encode("utf-8")))
    fig, ax = plt.subplots(figsize=(10, 8))
    pos = nx.spring_layout(G, weight="weight", seed=seed) if G.number_of_nodes() > 1 else {n: (0, 0) for n in G}
    root = g["nodes"][0]["id"]
    sizes = [200 + 1800 * G.nodes[n]["weight"] for n in G]
    colours = ["#d62728" if n == root else "#1f77b4" for n in G]
    nx.draw_networkx_edges(G, pos, ax=ax, width=[0.5 + 5 * G.edges[e]["weight"] for e in G.edges], alpha=0.5)
    nx.draw_networkx_nodes(G, pos, ax=ax, node_size=sizes, node_color=colours, alpha=0.8)
    nx.draw_networkx_labels(G, pos, {n: G.nodes[n]["label"] for n in G}, ax=ax, font_size=9)
    nx.draw_networkx_edge_labels(G, pos, {e: f"{G.edges[e]['weight']:.2f}" for e in G.edges}, ax=ax, font_size=7)
    ax.set_title(f"Concepts around '{G.nodes[root]['label']}' (size = path strength, width = association weight)")
    ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": MARK})
    plt.close(fig)
    atomic_write_bytes(png_path, buf.getvalue())
    return [graphml_path, png_path]


COMMANDS: list = [graph]
