"""The small value types of a memory: recall knobs, hits, ingest reports."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from core.memory._neighbours import NEIGHBOUR_WEIGHT
from core.reasoning.mycelial.config import MAX_STEPS

MODES = ("similar", "associative", "hybrid")


@dataclass
class RecallConfig:
    """Knobs of associative and hybrid recall: one set of defaults for every corpus.

    Chosen on the project's five benchmarks together (HotpotQA, MuSiQue, WikiText and Brown
    same-document, real documentation) so that ``hybrid`` >= ``similar`` on each; no per-corpus
    settings (see scripts/bench_multihop.py, scripts/bench_realdocs.py).

    Parameters
    ----------
    seed_hits : int
        Best vector hits that seed the associative walk.
    seed_temperature : float
        Softmax temperature over the seeds' cosine similarities.
    phrase_weight, query_phrase_weight : float
        Mass passed on by the seeds' phrases and by the phrases the query names. The query's
        own phrases weigh little (0.25): a query's 1-3 word n-grams that happen to be concepts
        ("case", "file") are noisier than the concepts of its best passages (measured: with 2.0,
        associative fell below similar on every benchmark, e.g. WikiText P@10 .523 vs .642;
        0.5 adds ~1 point of multi-hop hybrid R@5 but costs associative 3 points on WikiText
        and hybrid 0.4-1.3 points on fresh WikiText/Brown queries).
    code_weight : float
        Mass passed on by the code nodes activated through the Hebbian network.
    df_power : float
        Division of a node's mass among the chunks holding it (``df ** df_power``), and of
        what a chunk receives by its own concept count relative to the mean (same power), so
        neither a hub concept nor a chunk that names many concepts floods the walk.
    restart : float
        Share of the seed mass the seed chunks keep, in ``associative`` mode only (``hybrid``
        has their cosine already; adding it again would count the seeds twice).
    seed_codes_from_hits : bool
        Seed the Hebbian network with the codes of the seed hits as well as the query's.
    steps : int
        Spreading steps in the Hebbian network.
    fusion_weight : float
        Most that association can add in ``hybrid``, as a share of the query's top cosine:
        score = cosine + top cosine * min(``fusion_weight``, ``fusion_gain`` * association)
        for chunks whose cosine is at least ``fusion_floor`` x the top cosine; other chunks keep
        their cosine. The fused score stays in cosine units and never exceeds
        (1 + ``fusion_weight``) x the top cosine, so it is comparable across queries and usable
        with ``min_score`` (a query nothing answers keeps low scores).
    fusion_gain : float
        How the walk's association (the share of its bounded mass a chunk gathers) turns
        into lift: read in absolute terms, so a walk that points hard at a few chunks lifts them
        fully (association >= ``fusion_weight / fusion_gain``) and one that spreads thin lifts
        little. Chosen on the five benchmarks together (gain 3-5, weight 0.75-1 is a plateau).
    fusion_floor : float
        Share of the query's top cosine a chunk needs before association may lift it.
    candidates : int
        Vector hits and associative hits considered before fusion.
    concept_weight : float
        Share of a concept's activation passed on along the network's learned concept-concept
        edges (read as npmi: more often together than chance), one damped step; 0 walks only
        the chunk-concept incidence (the static phrase graph). 1.0 with the absolute fusion
        (multi-hop hybrid R@5 +0.6 point over 0.5, the others within one query).
    neighbour_weight : float
        Share of the mean cosine of a chunk's adjacent chunks (same document) in its
        similarity, so that a document's best chunk is not just the luckiest of its many
        cosines (see :mod:`core.memory._neighbours`); 0 reads each chunk alone.
    """

    seed_hits: int = 5
    seed_temperature: float = 0.05
    phrase_weight: float = 1.0
    query_phrase_weight: float = 0.25
    code_weight: float = 0.1
    df_power: float = 0.5
    restart: float = 0.5
    seed_codes_from_hits: bool = True
    steps: int = 2
    fusion_weight: float = 1.0
    fusion_gain: float = 4.0
    fusion_floor: float = 0.1
    candidates: int = 100
    concept_weight: float = 1.0
    neighbour_weight: float = NEIGHBOUR_WEIGHT

    def __post_init__(self) -> None:
        """Every knob named when it cannot work (also through ``dataclasses.replace``): ``fusion_weight=nan``
        ranked unrelated passages first in hybrid, ``candidates=0`` made associative recall return nothing,
        ``seed_temperature=0`` divided by zero, ``candidates="5"`` failed inside a comparison."""
        for name, value in vars(self).items():
            _check_knob(name, value)

    def __setattr__(self, name: str, value) -> None:
        """A knob set later is checked as one given to the constructor: ``cfg.fusion_weight = float("nan")``
        was taken and failed (or ranked nonsense) only at the next query; an unknown name (a typo,
        ``cfg.candiates = 50``) was kept as a new attribute that nothing reads."""
        if name not in self.__dataclass_fields__:
            raise AttributeError(f"RecallConfig has no knob {name!r}; the knobs are "
                                 f"{', '.join(self.__dataclass_fields__)}")
        _check_knob(name, value)
        object.__setattr__(self, name, value)


# Bounds far past any sane use, so that only nonsense is refused. Weights: the defaults are 0.1-4 and the
# benchmarks' plateau lies within 0.1-5; the walk multiplies up to three of them and keeps float32 masses
# (largest 3.4e38), so 1e6 each (1e18 together) stays finite, where code_weight=1e308 made every score inf.
# Counts: a million hits or seeds is past any memory one query reads (candidates=10**12 asked numpy for
# 3.6 TiB); steps as the network's own limit. df_power: a chunk count to the 10th is already 1e60 (a node's
# share 0), and larger powers of the degree ratio overflowed float32. seed_temperature: below 1e-6 the seeds'
# softmax is a hard max already (float32 cosines differ by more), and smaller only overflowed.
_MAX_WEIGHT = 1_000_000
_COUNTS = {"seed_hits": (0, 1_000_000), "steps": (0, MAX_STEPS), "candidates": (1, 1_000_000)}
_NUMBERS = {"seed_temperature": (1e-6, 1e6), "df_power": (0, 10), "restart": (0, 1), "neighbour_weight": (0, 1),
            "fusion_floor": (0, 1)}


def _check_knob(name: str, value) -> None:
    """``ValueError`` naming the knob and its range when ``value`` cannot work for it."""
    if name == "seed_codes_from_hits":
        ok, want = isinstance(value, (bool, np.bool_)), "True or False"
    elif name in _COUNTS:
        lo, hi = _COUNTS[name]
        ok = not isinstance(value, bool) and isinstance(value, (int, np.integer)) and lo <= value <= hi
        want = f"a whole number of at least {lo} and at most {hi:,}"
    else:
        lo, hi = _NUMBERS.get(name, (0, _MAX_WEIGHT))
        ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
            and math.isfinite(value) and lo <= value <= hi
        want = ("a positive number from 1e-06 to 1,000,000" if name == "seed_temperature" else
                f"a number from {lo} to {hi}" if hi == 1 else f"a finite number of at least 0 and at most {hi:,}")
    if not ok:
        raise ValueError(f"RecallConfig.{name} must be {want}, got {value!r}")


@dataclass
class Hit:
    """One recalled chunk. ``why`` explains the score as data, ``why_text`` in words."""

    doc_id: str
    chunk_id: int
    score: float
    text: str
    title: str = ""
    position: int = 0
    why: dict = field(default_factory=dict)
    why_text: str = ""
    """The path that brought this hit, in words ("query → 'Neil Peart' → this passage")."""
    metadata: dict = field(default_factory=dict)
    """The document's metadata: the extra keys of a JSONL/dict record (``{"category": "news"}``),
    ``path``/``root`` for files read from disk."""
    context: list = field(default_factory=list)
    """With ``recall(..., context=N)``: the up to N chunks before and N after this one in its
    document, in reading order, as ``{"chunk_id", "position", "text"}`` (this chunk not included)."""

    @property
    def passage(self) -> str:
        """This chunk's text widened by its ``context``, in reading order (blank line between chunks)."""
        before = [c["text"] for c in self.context if c["position"] < self.position]
        after = [c["text"] for c in self.context if c["position"] > self.position]
        return "\n\n".join(before + [self.text] + after)

    def to_dict(self) -> dict:
        return asdict(self)

    def __repr__(self) -> str:
        """``Hit(doc_id='cb02', chunk_id=133, score=0.874, text='The Lord ...')``: the dataclass repr printed the
        whole ``why`` (~1 KB a hit), and a list of hits was unreadable. ``why``, ``to_dict()`` hold the rest."""
        text = " ".join((self.text or "").split())
        text = text if len(text) <= 60 else text[:59] + "…"
        return f"Hit(doc_id={self.doc_id!r}, chunk_id={self.chunk_id}, score={self.score:.3f}, text={text!r})"


@dataclass
class IngestReport:
    """What an ingest did: counts, and every input problem with its file and line."""

    documents: int = 0
    chunks: int = 0
    new_chunks: int = 0
    duplicate_chunks: int = 0
    # of ``chunks``, those of a replaced document its old version held: stored again with their vectors, not
    # embedded (one line appended to a file of 35 chunks was "35 new")
    kept_chunks: int = 0
    unchanged: int = 0
    replaced: int = 0
    moved: int = 0  # documents whose recorded file place changed: unchanged files found elsewhere, their folder's others
    moved_gone: int = 0  # of those, the files a moved folder no longer holds (deleted since): --sync forgets them
    errors: list = field(default_factory=list)
    seconds: float = 0.0
    # {(source it came from, source it was replaced from): documents} among ``replaced``, where the first file is
    # still there: two exports both numbering their rows from 1, a record taking a file's id
    replaced_across: dict = field(default_factory=dict)
    # {new document's id: the id of a stored document with the same text and title}: one file ingested twice under
    # two ids (from a folder, then from its subfolder)
    same_text: dict = field(default_factory=dict)
    # {reinforcement event id: the document whose replaced version held its passages}: events an edit left with no
    # passage (an edited passage keeps them: core.memory._follow), gone; said, not silent
    reinforcements_dropped: dict = field(default_factory=dict)

    def problems_line(self) -> str:
        """One line for the problems of this ingest: how many, the first, where the rest are."""
        bad = [e for e in self.errors if not getattr(e, "skipped", False)]
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        stored = f"{self.documents} document{'' if self.documents == 1 else 's'}"
        return f"ingest: {bad[0] if bad else 'no problem'}{more} ({stored} stored; the report's errors list every problem)"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["errors"] = [str(e) for e in self.errors]
        d["replaced_across"] = [{"was_from": was, "now_from": now, "documents": n}
                                for (was, now), n in self.replaced_across.items()]
        d["reinforcements_dropped"] = [{"event": e, "document": doc} for e, doc in self.reinforcements_dropped.items()]
        return d


class IngestWarning(UserWarning):
    """An ingest through the Python API that met problems (a missing path, a file it cannot read, a duplicate
    id): said once, so a notebook sees it; the CLI and the server say them their own way and ignore it."""
