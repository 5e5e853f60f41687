"""A recall hit as printed by `mycelial recall` and `demo`: its line, text, score as a sum, path and metadata."""
from __future__ import annotations

import json

import click

from core.cli._report import _cell
from core.memory.phrases import written_as


def _score_parts(score: float, why: dict) -> str:
    """The score as the sum it is: ``similarity 0.634 + association 0.634`` in hybrid (the lift association
    added), ``association 1.645 (cosine 0.653)`` in associative, ``similarity 0.634`` in similar; what a
    reinforcement added (``why["reinforcement"]``) is the rest of the score. "similarity" is the cosine read
    with the passage's neighbours (`_neighbours.py`): printed as "cosine" it differed from the why text's."""
    sim, assoc, lift = (why.get(k) for k in ("similarity", "association", "lift"))
    if lift is not None:
        base, out = sim + lift, f"similarity {sim:.3f}" + (f" + association {lift:.3f}" if lift >= 0.0005 else "")
    elif assoc:
        base, out = assoc, f"association {assoc:.3f}"
    elif sim is not None:
        base, out = sim, f"similarity {sim:.3f}"
    else:
        return ""
    rest = score - base
    out += f" + reinforcement {rest:.3f}" if why.get("reinforcement") and rest >= 0.0005 else ""
    return out + (f" (cosine {sim:.3f})" if lift is None and assoc and sim is not None else "")


def print_hits(query: str, hits, explain: bool = False) -> None:
    click.echo(f"query: {_cell(query)}")  # a --queries file is text from elsewhere
    for i, h in enumerate(hits, 1):
        text = " ".join(h.text.split())
        title = f"  [{_cell(h.title)}]" if h.title else ""  # a JSONL record without a title showed "[]"
        click.echo(f"{i:3d}. {h.score:.3f}  {_cell(h.doc_id)}{title}  chunk {h.chunk_id}")  # what reinforce takes
        click.echo(f"     {text[:160]}{'...' if len(text) > 160 else ''}")
        why = h.why
        parts = [p] if (p := _score_parts(h.score, why)) else []
        if why.get("phrases"):
            parts.append("via " + ", ".join(written_as(p, h.text, h.title or "") for p, _ in why["phrases"][:4]))
        if parts:  # the code nodes are the same for every hit of a query: --explain lists them
            click.echo(f"     why: {'; '.join(parts)}")
        if h.why_text:
            click.echo(f"     path: {h.why_text}")
        meta = {key: v for key, v in h.metadata.items() if key not in ("path", "root")}
        if meta:
            click.echo(f"     meta: {_cell(json.dumps(meta, ensure_ascii=False))[:160]}")
        for c in h.context:
            ctx = " ".join(c["text"].split())
            side = "before" if c["position"] < h.position else "after"
            # its chunk id, as the hit's line shows one: "chunk 60" above "after [60]" (a position) read as itself
            click.echo(f"     {side} (chunk {c['chunk_id']}): {ctx[:160]}{'...' if len(ctx) > 160 else ''}")
        if explain:  # the detailed form: score parts, concepts, seed passages, code nodes
            for line in explain_lines(h, query):
                click.echo(f"       {line}")


def explain_lines(hit, query: str = "") -> list[str]:
    """The detailed ``why`` of a recall hit, in words (``mycelial recall --explain``); concepts as the query or
    the passage writes them."""
    why = hit.why or {}
    lines = []
    if summed := _score_parts(hit.score, why):
        lines.append(f"score {hit.score:.3f} = {summed}")
    parts = []  # the raw values the sum is made of
    if why.get("association"):
        parts.append(f"association mass {why['association']:.4f}")
    if why.get("reinforcement_weight"):
        parts.append(f"reinforcement weight {why['reinforcement_weight']:.3f} ({_confirmed(why)})")
    if why.get("answer_weight"):  # how sure use made it that this passage answers this question
        parts.append(f"answer weight {why['answer_weight']:.3f}")
    if parts:
        lines.append(", ".join(parts))
    if why.get("seed_phrases"):
        lines.append("query names: " + ", ".join(written_as(p, query) for p in why["seed_phrases"]))
    if why.get("phrases"):
        lines.append("concepts carrying activation here: " + ", ".join(
            f"{written_as(p, hit.text, hit.title or '')} ({a:.3f})" for p, a in why["phrases"][:6]))
    if why.get("seed_chunks"):
        titles = why.get("seed_titles") or [""] * len(why["seed_chunks"])
        lines.append("seed passages (best vector hits): " + ", ".join(
            f"{_cell(t)} (chunk {c})" if t else f"chunk {c}" for c, t in zip(why["seed_chunks"], titles)))
    if why.get("nodes"):
        lines.append("code nodes: " + ", ".join(f"{n['node'][0]}:{n['node'][1]} ({n['activation']:.2f})"
                                                 for n in why["nodes"][:4]))
    return lines


def _confirmed(why: dict) -> str:
    """Where a reinforcement's weight came from: "learned from use" read as if this passage had been confirmed,
    though most lifted passages were only related to one that was (a shared concept or code)."""
    if why.get("confirmed"):
        return f"confirmed for {why['confirmed']}"
    others = why.get("reinforced_by") or []
    if others:
        return "not confirmed; learned from use of related chunk" + ("s " if len(others) > 1 else " ") + \
            ", ".join(map(str, others))
    return "learned from use"
