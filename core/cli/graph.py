"""`mycelial` sub-commands: graph (export a saved Hebbian network)."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("graph")
@click.argument("network", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (default: beside NETWORK).")
@click.option("--top", type=click.IntRange(min=1), default=200, show_default=True,
              help="Strongest edges kept in the GraphML file and the picture.")
def graph(network: Path, out: Path | None, top: int):
    """Export a saved network: GraphML + PNG of its strongest edges, and a Zipf plot.

    Writes NAME.graphml, NAME.png and NAME_zipf.png, where NAME is the network file's stem.

    Example:

        mycelial graph memory/network.npz --out figures --top 300
    """
    from core.reasoning.mycelial.export import draw_png, write_graphml, zipf_png
    from core.reasoning.mycelial.network import MycelialReasoning

    try:
        net = MycelialReasoning.load(network)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    out = network.parent if out is None else out
    stem = network.stem
    paths = [
        write_graphml(net, out / f"{stem}.graphml", top=top),
        draw_png(net, out / f"{stem}.png", top=top),
        zipf_png(net, out / f"{stem}_zipf.png"),
    ]
    s = net.stats()
    click.echo(f"{s['num_edges']} edges over {s['active_nodes']} nodes, {s['events']} events")
    for p in paths:
        click.echo(f"wrote {p}")


COMMANDS: list = [graph]
