"""Hand the network to networkx and draw it: GraphML, a PNG picture, a Zipf plot.

Analysis and pictures only; the hot paths never go through networkx. Plots use
matplotlib's Agg backend so they work without a display.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from core._extras import require
from core._io import atomic_write_bytes

# in every file written here (a PNG's Software text, a GraphML comment): `mycelial graph` replaces only its own
# files of a name it writes, never a user's `nero.png` in the folder it writes to
MARK = "mycelial graph"


def marked_graphml(data: bytes) -> bytes:
    """GraphML bytes with the mark as a comment after the XML declaration."""
    head, sep, rest = data.partition(b"\n")
    if not head.startswith(b"<?xml"):
        return f"<!-- {MARK} -->\n".encode() + data
    return head + sep + f"<!-- {MARK} -->\n".encode() + rest


def is_marked(path) -> bool:
    """True when ``path`` is a file these writers made (the mark sits in its first bytes)."""
    try:
        with open(path, "rb") as fh:
            return MARK.encode() in fh.read(4096)
    except OSError:
        return False


def to_networkx(net, min_weight: float = 0.0, top: int | None = None):
    """A ``networkx.Graph`` of ``net``'s edges.

    Parameters
    ----------
    net : MycelialReasoning
    min_weight : float, default=0.0
        Keep edges with at least this weight.
    top : int, optional
        Keep only the ``top`` strongest edges (after ``min_weight``).

    Returns
    -------
    networkx.Graph
        Nodes are ``(head, code)`` tuples with attributes ``head``, ``code``, ``node``
        (the integer id) and ``count`` (events the node was active in); edges carry
        ``weight`` (float) and ``count`` (eta co-activations).
    """
    import networkx as nx

    n_nodes = net.num_nodes
    C = net.config.codebook_size
    w = net._edge_weights()
    sel = np.flatnonzero(w >= min_weight)
    if top is not None:
        if top < 0:
            raise ValueError(f"top must be a non-negative integer, got {top!r}")
        order = np.lexsort((net.keys_[sel], -w[sel]))[:top]
        sel = np.sort(sel[order])
    g = nx.Graph()
    a = net.keys_[sel] // n_nodes
    b = net.keys_[sel] % n_nodes
    nodes = np.unique(np.concatenate([a, b]))
    for v in nodes:
        h, c = divmod(int(v), C)
        g.add_node((h, c), head=h, code=c, node=int(v), count=int(net.node_counts_[v]))
    for x, y, e in zip(a, b, sel):
        g.add_edge(divmod(int(x), C), divmod(int(y), C), weight=float(w[e]),
                   count=float(net.counts_[e]))
    return g


def write_graphml(net, path, top: int = 200) -> Path:
    """Write the ``top`` strongest edges as GraphML (node ids ``"h<head>:c<code>"``)."""
    import networkx as nx

    g = to_networkx(net, top=top)
    g = nx.relabel_nodes(g, {n: f"h{n[0]}:c{n[1]}" for n in g.nodes})
    path = Path(path)
    buf = io.BytesIO()  # written whole, then renamed: Ctrl-C mid-write left a truncated file in its place
    nx.write_graphml(g, buf)
    atomic_write_bytes(path, marked_graphml(buf.getvalue()))
    return path


def draw_png(net, path, top: int = 200, seed: int = 0) -> Path:
    """Draw the ``top`` strongest edges: colour = head, width = weight, size = activations."""
    matplotlib = require("matplotlib", "drawing the network")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    g = to_networkx(net, top=top)
    fig, ax = plt.subplots(figsize=(10, 10))
    if g.number_of_nodes():
        pos = nx.spring_layout(g, weight="weight", seed=seed)
        counts = np.array([g.nodes[n]["count"] for n in g.nodes], dtype=float)
        sizes = 20 + 300 * np.sqrt(counts / max(counts.max(), 1))
        colours = [g.nodes[n]["head"] for n in g.nodes]
        widths = [0.3 + 3 * g.edges[e]["weight"] for e in g.edges]
        nx.draw_networkx_edges(g, pos, ax=ax, width=widths, alpha=0.4)
        nx.draw_networkx_nodes(g, pos, ax=ax, node_size=sizes, node_color=colours,
                               cmap="tab10", vmin=0, vmax=9)
        hubs = sorted(g.nodes, key=lambda n: -g.degree(n, weight="weight"))[:12]
        nx.draw_networkx_labels(g, pos, {n: f"{n[0]}:{n[1]}" for n in hubs}, ax=ax, font_size=8)
    ax.set_title(f"Mycelial network: {g.number_of_edges()} strongest edges "
                 f"(colour = head, size = activations, labels head:code of the hubs)")
    ax.axis("off")
    return _save(fig, path)


def zipf_png(net, path) -> Path:
    """Log-log rank/frequency plot of node activation counts, with a fitted Zipf slope."""
    matplotlib = require("matplotlib", "the Zipf plot")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.sort(net.node_counts_[net.node_counts_ > 0])[::-1].astype(float)
    fig, ax = plt.subplots(figsize=(7, 5))
    if counts.size:
        ranks = np.arange(1, counts.size + 1)
        ax.loglog(ranks, counts, ".", markersize=3, label="nodes")
        if counts.size > 2:
            slope, icpt = zipf_fit(counts)
            ax.loglog(ranks, np.exp(icpt) * ranks ** slope, "-", label=f"fit: slope {slope:.2f}")
            ax.set_ylim(counts[-1] / 1.5, counts[0] * 1.5)  # the data's range: the line is read against the dots
        ax.legend()
    ax.set_xlabel("rank")
    ax.set_ylabel("events the node was active in")
    ax.set_title("Node activation counts (Zipf plot)")
    return _save(fig, path)


def zipf_fit(counts) -> tuple[float, float]:
    """(slope, intercept) of log(count) against log(rank), for counts sorted largest first.

    Fitted on ranks spaced evenly in log space (each decade weighs the same): a plain fit over every rank is
    ruled by the dense tail (ranks 600-922 of 922 pulled the line to 10^4 at rank 1, where the data peaks
    at ~500)."""
    counts = np.asarray(counts, dtype=float)
    picks = np.unique(np.geomspace(1, counts.size, num=min(counts.size, 50)).round().astype(np.int64)) - 1
    return tuple(float(v) for v in np.polyfit(np.log(picks + 1.0), np.log(counts[picks]), 1))


def _save(fig, path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    buf = io.BytesIO()
    try:
        fig.tight_layout()
        fmt = path.suffix[1:].lower() or "png"
        fig.savefig(buf, format=fmt, dpi=100, metadata={"Software": MARK} if fmt == "png" else None)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path
