"""GET routes of the association network: a concept's associations, its neighbourhood graph, the paths
between two concepts.

A concept the memory does not know answered 200 with nothing, as a known one with no association does, and
a client could not tell a typo (``emperors``) from a lonely concept. Each answer now names its unknown concepts
in ``unknown``, with up to five of the memory's concepts like each (as `mycelial associate` says them):
``{"unknown": {"concept": ["emperor", "roman emperor"]}}``; ``{}`` when every concept is known. Concepts
are answered by their folded key (``concept``, a node's ``id``: what to send back) and as the text writes
them (``written``, a node's ``label``).
"""
from __future__ import annotations

from fastapi import HTTPException, Query

from core.config import CONCEPT_MAX  # a URL is a concept and often longer than 200 characters: its page button was a 422


def unknown_concepts(mem, **concepts) -> dict[str, list[str]]:
    """{parameter: concepts like it} of the ``concepts`` (parameter -> concept) the memory does not know."""
    from core.memory._did_you_mean import likely_concepts

    return {param: likely_concepts(mem, c) for param, c in concepts.items() if mem._concept_id(c) is None}


def network_routes(app, dependencies, slot, value_error) -> None:
    """Register the network routes on ``app``; ``slot(name)`` is the served memory (404 unknown),
    ``value_error(exc, field)`` the 422 of a value the engine refused."""

    def call(s, method: str, fields: dict, **kw):
        """``fields``: the HTTP parameter of each concept argument, to name the one the engine refused."""
        fn = getattr(s.memory, method, None)
        if fn is None:
            raise HTTPException(501, f"this version of SemanticMemory has no {method}(); update Mycelial")
        try:
            return fn(**kw)
        except ValueError as exc:
            named = [f for arg, f in fields.items() if repr(kw[arg]) in str(exc)]
            words = str(exc)
            for arg, f in fields.items():  # "concept_a and concept_b are the same concept": the client sent a, b
                words = words.replace(arg, f)
            raise value_error(ValueError(words), named[0] if named else next(iter(fields.values()))) from None

    @app.get("/v1/memories/{name}/associations", dependencies=dependencies)
    def associations(name: str, concept: str = Query(min_length=1, max_length=CONCEPT_MAX),
                     k: int = Query(10, ge=1, le=100)):
        s = slot(name)
        found = call(s, "associations", {"concept": "concept"}, concept=concept, k=k)
        return {"concept": concept, "associations": found, "unknown": unknown_concepts(s.memory, concept=concept)}

    @app.get("/v1/memories/{name}/graph", dependencies=dependencies)
    def graph(name: str, concept: str = Query(min_length=1, max_length=CONCEPT_MAX), depth: int = Query(1, ge=1, le=3),
              k: int = Query(10, ge=1, le=50), top: int | None = Query(None, ge=1, le=10_000)):
        """Nodes (``id``: the folded concept, ``label``: as the text writes it) and edges within ``depth`` hops;
        ``top`` keeps the strongest nodes only (depth 3 with k=50 answered 3,398), ``left_out`` counts the rest."""
        s = slot(name)
        found = call(s, "graph", {"concept": "concept"}, concept=concept, depth=depth, k=k, top=top)
        return {"concept": concept, **found, "unknown": unknown_concepts(s.memory, concept=concept)}

    @app.get("/v1/memories/{name}/bridges", dependencies=dependencies)
    def bridges(name: str, a: str = Query(min_length=1, max_length=CONCEPT_MAX),
                b: str = Query(min_length=1, max_length=CONCEPT_MAX),
                k: int = Query(3, ge=1, le=20)):
        """Strongest association paths (up to 3 edges) between concepts ``a`` and ``b``, weights per edge."""
        s = slot(name)
        paths = call(s, "bridges", {"concept_a": "a", "concept_b": "b"}, concept_a=a, concept_b=b, k=k)
        return {"a": a, "b": b, "paths": paths, "unknown": unknown_concepts(s.memory, a=a, b=b)}
