"""The shapes of the success answers, for ``/openapi.json``.

Every route's 200/201 was described as ``{}`` (any JSON): a client generated from the schema got an
untyped dict for every answer, and nothing said what a hit or a job holds. These models only document;
the routes build their answers as before, and ``tests/test_server_shapes.py`` checks real answers against
them (``extra="forbid"``: a field added to an answer and not here fails it).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(_Shape):
    status: str
    memories: int


class MemoryCounts(_Shape):
    name: str
    documents: int
    chunks: int


class MemoryList(_Shape):
    memories: list[MemoryCounts]


class Stats(_Shape):
    name: str
    documents: int
    chunks: int
    index: str
    index_vectors: int
    phrases: int
    network: dict[str, int | float | str]
    bytes_on_disk: int


class JobReport(_Shape):
    documents: int
    chunks: int
    new_chunks: int
    kept_chunks: int  # of a replaced document, the chunks its old version held: stored again, not embedded
    duplicate_chunks: int
    unchanged: int
    replaced: int
    moved: int
    moved_gone: int  # of the moved, files their moved folder no longer holds (--sync forgets them)
    errors: list[str]
    skipped: list[str]
    replaced_files: list[str]  # uploaded files' documents replaced with replace=true (file:NAME)
    same_text: dict[str, str]  # new document id -> the stored id with the same text and title (stored twice)
    reinforcements_dropped: list[dict]  # {"event", "document"}: reinforcements an edit of their passage left with none


class IngestReport(JobReport):
    """A synchronous ingest's answer: a job's report and the seconds it took."""
    seconds: float


class Embedding(_Shape):
    done: int
    total: int


class Job(_Shape):
    id: str
    memory: str
    status: str  # queued, running, waiting, done, failed
    total: int
    done: int
    embedding: Embedding | None  # while a batch embeds: its chunks embedded and to embed
    waiting_for: str | None
    error: str | None
    started: float
    seconds: float
    report: JobReport
    progress: float


class DocumentRow(_Shape):
    id: str
    title: str
    chunks: int
    kind: str


class DocumentPage(_Shape):
    total: int
    offset: int
    limit: int
    documents: list[DocumentRow]


class Chunk(_Shape):
    chunk_id: int
    text: str


class Document(_Shape):
    id: str
    title: str
    kind: str
    metadata: dict
    chunks: list[Chunk]


class Deleted(_Shape):
    deleted: str


class Forgotten(_Shape):
    forgotten: list[str]
    missing: list[str]


class Hit(_Shape):
    doc_id: str
    chunk_id: int
    score: float
    text: str
    title: str
    position: int
    why: dict
    why_text: str
    metadata: dict
    context: list[dict]


class Recall(_Shape):
    query: str
    mode: str
    hits: list[Hit]


class QueryHits(_Shape):
    query: str
    hits: list[Hit]


class RecallBatch(_Shape):
    mode: str
    results: list[QueryHits]


class Association(_Shape):
    concept: str  # the folded key: what to send back
    written: str  # as the text writes it ("Cairistíona" for 'cairistiona')
    weight: float
    chunks: int


class Associations(_Shape):
    concept: str
    associations: list[Association]
    unknown: dict[str, list[str]]  # parameter -> concepts like it, of each concept the memory does not know


class Node(_Shape):
    id: str  # the folded concept
    label: str  # as the text writes it
    weight: float


class Edge(_Shape):
    source: str
    target: str
    weight: float


class LeftOut(_Shape):
    nodes: int
    edges: int


class Graph(_Shape):
    concept: str
    nodes: list[Node]
    edges: list[Edge]
    left_out: LeftOut  # what ``top`` dropped
    unknown: dict[str, list[str]]  # parameter -> concepts like it, of each concept the memory does not know


class Path(_Shape):
    path: list[str]
    written: list[str]  # the path's concepts as the text writes them
    weights: list[float]
    strength: float


class Bridges(_Shape):
    a: str
    b: str
    paths: list[Path]
    unknown: dict[str, list[str]]  # parameter -> concepts like it, of each concept the memory does not know


class Reinforced(_Shape):
    event: int
    query: str
    chunk_ids: list[int]
    rate: float


class Undone(_Shape):
    undone: int


class Event(_Shape):
    id: int
    query: str
    chunk_ids: list[int]
    query_nodes: list[str]
    rate: float
    weight: float
    created: float


class Reinforcements(_Shape):
    half_life_days: float
    events: list[Event]


V1 = "/v1/memories/{name}"
SHAPES = {  # (method, path, status) -> the answer's model
    ("get", "/healthz", "200"): Health,
    ("get", "/v1/memories", "200"): MemoryList,
    ("get", f"{V1}/stats", "200"): Stats,
    ("post", f"{V1}/documents", "201"): IngestReport,
    ("post", f"{V1}/documents", "202"): Job,
    ("get", f"{V1}/jobs/{{job_id}}", "200"): Job,
    ("get", f"{V1}/documents", "200"): DocumentPage,
    ("get", f"{V1}/documents/{{doc_id}}", "200"): Document,
    ("get", f"{V1}/document", "200"): Document,
    ("delete", f"{V1}/documents/{{doc_id}}", "200"): Deleted,
    ("post", f"{V1}/forget", "200"): Forgotten,
    ("get", f"{V1}/recall", "200"): Recall,
    ("post", f"{V1}/recall", "200"): RecallBatch,
    ("get", f"{V1}/associations", "200"): Associations,
    ("get", f"{V1}/graph", "200"): Graph,
    ("get", f"{V1}/bridges", "200"): Bridges,
    ("post", f"{V1}/reinforce", "201"): Reinforced,
    ("delete", f"{V1}/reinforce/{{event_id}}", "200"): Undone,
    ("get", f"{V1}/reinforcements", "200"): Reinforcements,
}
