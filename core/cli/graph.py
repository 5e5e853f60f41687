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

TOP_EDGES = 200  # a saved network's strongest edges drawn
# concepts drawn around a concept: depth 3 with -k 50 reached 3,398, a black blob after 3.5 minutes
TOP_CONCEPTS = 100


@click.command("graph")
@click.argument("network", required=False, type=click.Path(path_type=Path))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (default: beside NETWORK, or the current folder with --memory).")
@click.option("--top", type=click.IntRange(min=1), default=None,
              help=f"NETWORK form: strongest edges kept in the GraphML file and the picture (default {TOP_EDGES}). "
                   f"--concept form: strongest concepts drawn (default {TOP_CONCEPTS}).")
@click.option("--memory", "-m", type=click.Path(file_okay=False), default=None, callback=user_path,
              help="Draw the neighbourhood of --concept in this memory instead of a network file.")
@click.option("--concept", default=None, type=CONCEPT, help="The concept at the centre (with --memory).")
@click.option("--depth", type=click.IntRange(1, 3), default=1, show_default=True, help="Hops from the concept.")
@click.option("-k", type=click.IntRange(1, 50), default=10, show_default=True,
              help="Strongest associations kept per node and hop.")
@click.option("--quiet", "-q", is_flag=True, help="No notes on stderr (which concept a plural was read as).")
def graph(network: Path | None, out: Path | None, top: int | None, memory, concept, depth, k, quiet):
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
        _concept_graph(memory, concept, depth, k, Path(".") if out is None else out, top or TOP_CONCEPTS, quiet)
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
    out, top = network.parent if out is None else out, top or TOP_EDGES
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


def _concept_graph(memory, concept: str, depth: int, k: int, out: Path, top: int, quiet: bool) -> None:
    from core.cli.associate import _unknown, read_as
    from core.cli.memory import _open

    if not Path(memory).is_dir():
        raise click.ClickException(f"no memory at {memory}; create one with "
                                   f"`mycelial ingest PATH --memory {shlex.quote(str(memory))}`")
    with _open(memory, read_only=True) as mem:
        try:
            g = mem.graph(concept, depth=depth, k=k, top=top)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        why = _unknown(mem, concept) if not g["nodes"] else ""
        notes = [] if quiet else read_as(mem, concept)
    for note in notes:
        click.echo(note, err=True)
    if not g["nodes"]:  # `associate` named the concepts like it; this said only "try `mycelial associate`"
        raise click.ClickException(f"{concept!r} is {why.replace('this memory', str(memory))}" if why else
                                   f"{concept!r} is not a concept of {memory}")
    # the file is named by the folded concept (as before), the drawing shows it as the text writes it
    stem = re.sub(r"[^\w.-]+", "_", g["nodes"][0]["id"]).strip("_")
    # at most 120 bytes: a URL concept made 'File name too long' (a file name holds at most 255 bytes)
    stem = stem.encode("utf-8")[:120].decode("utf-8", "ignore").strip("_.") or "concept"
    _not_theirs([out / f"{stem}.graphml", out / f"{stem}.png"])
    paths = write_concept_graph(g, out / f"{stem}.graphml", out / f"{stem}.png")
    around, left = g["nodes"][0]["label"], g["left_out"]["nodes"]
    shown = count(len(g["nodes"]), "concept")
    if left:  # say what the cap left out, and how to draw more
        shown = f"the strongest {len(g['nodes']):,} of {len(g['nodes']) + left:,} concepts (--top to change)"
    click.echo(f"{shown}, {count(len(g['edges']), 'edge')} around {around!r}")
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
    n = G.number_of_nodes()
    side = min(10 + 0.06 * max(n - 40, 0), 16)  # a bigger page for more concepts: 56 overlapped on 10 x 8 inches
    fig, ax = plt.subplots(figsize=(side, 0.8 * side))
    root = g["nodes"][0]["id"]
    pos = _layout(G, seed)
    sizes = [120 + 1200 * G.nodes[v]["weight"] for v in G]
    colours = ["#d62728" if v == root else "#1f77b4" for v in G]
    nx.draw_networkx_edges(G, pos, ax=ax, width=[0.4 + 4 * G.edges[e]["weight"] for e in G.edges],
                           alpha=0.35 if G.number_of_edges() > 60 else 0.5)
    nx.draw_networkx_nodes(G, pos, ax=ax, node_size=sizes, node_color=colours, alpha=0.7)
    nx.draw_networkx_labels(G, pos, {v: G.nodes[v]["label"] for v in G}, ax=ax, font_size=9 if n <= 60 else 8,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.6})
    # a weight on every edge piled up in the middle: beyond 30 edges, only those of the centre's 10 strongest
    own = list(G.edges) if G.number_of_edges() <= 30 else \
        sorted((e for e in G.edges if root in e), key=lambda e: -G.edges[e]["weight"])[:10]
    nx.draw_networkx_edge_labels(G, pos, {e: f"{G.edges[e]['weight']:.2f}" for e in own}, ax=ax, font_size=7)
    ax.set_title(f"Concepts around '{G.nodes[root]['label']}' (size = path strength, width = association weight)")
    ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": MARK})
    plt.close(fig)
    atomic_write_bytes(png_path, buf.getvalue())
    return [graphml_path, png_path]


def _layout(G, seed: int) -> dict:
    """Node positions: Kamada-Kawai (edge length 1 - weight: strong associations sit close) spreads the nodes
    more evenly than the spring layout, whose centre piled labels on each other; the spring layout beyond
    300 nodes (Kamada-Kawai is quadratic)."""
    import networkx as nx

    if G.number_of_nodes() < 2:
        return {v: (0.0, 0.0) for v in G}
    if G.number_of_nodes() > 300 or not nx.is_connected(G):
        return nx.spring_layout(G, weight="weight", seed=seed, k=2.5 / G.number_of_nodes() ** 0.5)
    dist = {e: 1.0 - 0.5 * G.edges[e]["weight"] for e in G.edges}
    nx.set_edge_attributes(G, dist, "length")
    pos = nx.kamada_kawai_layout(G, weight="length", center=(0, 0))
    for e in G.edges:
        del G.edges[e]["length"]
    return pos


COMMANDS: list = [graph]
