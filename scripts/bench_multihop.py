"""Benchmark 1: multi-hop recall (HotpotQA, MuSiQue) of similar / associative / hybrid.

All passages of a dataset go into one memory (open-corpus setting); each question is a
query; we report Recall@2 and Recall@5 of the gold supporting passages (document level:
the best chunk per passage), for the three recall modes and the dense baseline (the same
embedder over whole passages, ``title: text``, exact cosine), in one run.

Example:
    python scripts/bench_multihop.py                 # both datasets, default settings
    python scripts/bench_multihop.py --ablation --wikitext --brown   # + what each part adds, + same-document P@10
    python scripts/bench_multihop.py --grid          # also a small sweep of the fusion knobs
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from core.config import data_file  # noqa: E402
from core.memory.semantic import MODES, SemanticMemory  # noqa: E402


def load_dataset(name: str):
    """(records, questions [(id, question, gold doc ids)]) of one multi-hop dataset."""
    if name == "hotpotqa":
        corpus = json.load(open(data_file("multihop_dev/hotpotqa_train_corpus.json"), encoding="utf-8"))
        records = [{"id": t, "title": t, "text": " ".join(s.strip() for s in sents if s.strip())}
                   for t, sents in corpus.items()]
        qs = json.load(open(data_file("multihop_dev/hotpotqa_train.json"), encoding="utf-8"))
        questions = [(q["_id"], q["question"], sorted({t for t, _ in q["supporting_facts"]})) for q in qs]
    elif name == "musique":
        corpus = json.load(open(data_file("multihop_dev/musique_train_corpus.json"), encoding="utf-8"))
        records, key = [], {}
        for i, p in enumerate(corpus):
            records.append({"id": f"musique:{i}", "title": p["title"], "text": p["text"]})
            key.setdefault((p["title"], p["text"]), f"musique:{i}")
        qs = json.load(open(data_file("multihop_dev/musique_train.json"), encoding="utf-8"))
        questions = [(q["id"], q["question"],
                      sorted({key[(p["title"], p["paragraph_text"])] for p in q["paragraphs"] if p["is_supporting"]}))
                     for q in qs]
    else:
        raise ValueError(f"unknown dataset {name!r}")
    return [r for r in records if r["text"].strip()], questions


def evaluate(mem: SemanticMemory, questions, Q: np.ndarray, modes=MODES, ks=(2, 5)) -> dict:
    out = {}
    for mode in modes:
        rec = {k: [] for k in ks}
        for (qid, text, gold), q in zip(questions, Q):
            hits = mem.recall_vector(q, max(ks), mode, query_text=text, per_document=True, explain=False)
            docs = [h.doc_id for h in hits]
            for k in ks:
                rec[k].append(len(set(docs[:k]) & set(gold)) / len(gold))
        out[mode] = {f"R@{k}": float(np.mean(v)) for k, v in rec.items()}
    return out


def dense_passages(mem: SemanticMemory, records, questions, Q: np.ndarray, ks=(2, 5)) -> dict:
    """The issue's dense baseline: the memory's embedder over whole passages, ``title: text``
    (what dense retrievers index), exact cosine; no chunking, no memory."""
    P = mem._embedder().embed([f"{r['title']}: {r['text']}" if r.get("title") else r["text"] for r in records])
    ids = np.asarray([r["id"] for r in records])
    top = ids[np.argsort(-(Q @ P.T), axis=1, kind="stable")[:, :max(ks)]]
    return {f"R@{k}": float(np.mean([len(set(t[:k]) & set(gold)) / len(gold) for t, (_, _, gold) in zip(top, questions)]))
            for k in ks}


# Brown: 57k sentences take ~1.5 h to embed on 2 shared cores; 145 texts x 40 sentences (5.8k) keep
# all 15 categories (fiction, news, essays, learned...) and 39 same-text candidates per query
BROWN_DOCS, BROWN_SENTS = 10, 40


def same_document_records(corpus: str, brown_skip: int = 0) -> list[dict]:
    """One record per article (WikiText) or text (Brown: fiction, news, essays...), a sentence
    per paragraph, so each chunk is one sentence. Brown texts have no titles (their ids, e.g.
    "ca01", would tie every chunk of a text together through a title phrase), so none is given.
    ``brown_skip``: start after that many texts of each category (10: texts 11-20, a second sample)."""
    from core.datasets import brown_documents, wikitext_documents

    if corpus == "wikitext":
        return [{"id": f"wt:{i}", "title": d.title, "text": "\n\n".join(d.sentences)}
                for i, d in enumerate(wikitext_documents())]
    if corpus == "brown":  # every category, its first BROWN_DOCS texts, their first BROWN_SENTS sentences
        per_cat: dict[str, int] = {}
        out = []
        for d in brown_documents():
            per_cat[d.meta["category"]] = per_cat.get(d.meta["category"], 0) + 1
            if brown_skip < per_cat[d.meta["category"]] <= brown_skip + BROWN_DOCS:
                out.append({"id": d.doc_id, "title": "", "text": "\n\n".join(d.sentences[:BROWN_SENTS]), **d.meta})
        return out
    raise ValueError(f"unknown same-document corpus {corpus!r}")


def fresh(folder: Path, reuse: bool) -> Path:
    """``folder``, emptied unless ``reuse``: a memory kept from an earlier run keeps that run's
    chunks, concepts and embedding backend, so a change to any of them would not show."""
    if not reuse:
        shutil.rmtree(folder, ignore_errors=True)
    return folder


def same_document(workdir: Path, corpus: str = "wikitext", n_queries: int = 300, seed: int = 0,
                  ablation: bool = False, reuse: bool = False, brown_skip: int = 0) -> dict:
    """DESIGN.md's second measure: articles streamed in; a sentence as the query;
    precision@10 of hits from its own article (the query's own chunk excluded).
    ``seed`` draws the queries (another seed: a sample the defaults were not chosen on)."""
    records = same_document_records(corpus, brown_skip if corpus == "brown" else 0)
    mem = SemanticMemory(fresh(workdir / corpus, reuse))
    mem.ingest(records)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(records), n_queries)
    queries = []
    for a in picks:
        doc = mem.store_.document(records[a]["id"])
        cid = int(rng.choice(doc["chunk_ids"]))
        queries.append((records[a]["id"], cid, mem.store_.chunk_rows([cid])[cid]["text"]))
    Q = mem.embed_queries([t for _, _, t in queries])

    def run(modes=MODES):
        out = {}
        for mode in modes:
            prec = []
            for (doc, cid, text), q in zip(queries, Q):
                hits = mem.recall_vector(q, 10, mode, query_text=text, exclude=[cid], explain=False)
                prec.append(np.mean([h.doc_id == doc for h in hits]) if hits else 0.0)
            out[mode] = {"P@10": float(np.mean(prec))}
        return out

    res = {"default": run()}
    if ablation:
        base = mem.recall_config
        for label, change in ABLATIONS:
            mem.recall_config = dataclasses.replace(base, **change)
            res[label] = run(("associative", "hybrid"))
        mem.recall_config = base
    mem.close()
    return res


# what each part of association adds (dense = `similar`; full = the defaults)
# "static phrase graph" walks only the chunk-concept incidence (the old PassageGraph: no learned
# edges, no code nodes); "learned network" adds one step along the network's learned
# concept-concept edges; "codes only" keeps just the code nodes.
ABLATIONS = (("static phrase graph", dict(concept_weight=0.0, code_weight=0.0)),
             ("learned network, concepts only", dict(code_weight=0.0)),
             ("learned network, codes only", dict(phrase_weight=0.0, query_phrase_weight=0.0, concept_weight=0.0)),
             ("no query phrases", dict(query_phrase_weight=0.0)),
             ("learned edges x2 (concept_weight 1.0)", dict(concept_weight=1.0)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="hotpotqa,musique", help="comma-separated; '' for none")
    ap.add_argument("--workdir", default="/tmp/mycelial_bench_multihop")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the memories of an earlier run in --workdir (default: built afresh)")
    ap.add_argument("--grid", action="store_true", help="also sweep a few recall knobs")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--ablation", action="store_true",
                    help="in the same run: static phrase graph, learned concepts only, codes only, no query phrases")
    ap.add_argument("--wikitext", action="store_true", help="also the WikiText same-document precision@10")
    ap.add_argument("--brown", action="store_true", help="also the Brown corpus same-document precision@10")
    ap.add_argument("--sample-seed", type=int, default=0,
                    help="seed of the WikiText/Brown query sample (default 0, the one the defaults were chosen on)")
    ap.add_argument("--brown-skip", type=int, default=0,
                    help="Brown: skip the first N texts of each category (10: texts 11-20, a second sample)")
    ap.add_argument("--embedder", default=None,
                    help="embedding backend(s), comma-separated (torch,onnx,onnx-int8,openvino-int8): each gets its own "
                         "memory folder <workdir>/<dataset>-<backend>; default: the default backend")
    args = ap.parse_args()
    from core.embedding import BACKENDS, TextEmbedder

    backends = args.embedder.split(",") if args.embedder else [None]
    for b in backends:
        if b is not None and b not in BACKENDS:
            ap.error(f"--embedder {b!r}: choose from {', '.join(BACKENDS)}")
    results = {}
    for name, backend in [(n, b) for n in args.datasets.split(",") if n for b in backends]:
        records, questions = load_dataset(name)
        t0 = time.perf_counter()
        label = name if backend is None else f"{name}-{backend}"
        mem = SemanticMemory(fresh(Path(args.workdir) / label, args.reuse),
                             embedder=None if backend is None else TextEmbedder(backend=backend))
        rep = mem.ingest(records)
        print(f"{label}: {len(records)} passages, {mem.stats()['chunks']} chunks, {len(questions)} questions "
              f"(ingest {time.perf_counter() - t0:.1f}s, {rep.new_chunks} new chunks)", flush=True)
        Q = mem.embed_queries([q for _, q, _ in questions])
        res = {"dense passages (title: text)": dense_passages(mem, records, questions, Q),
               **evaluate(mem, questions, Q)}
        name = label
        results[name] = {"default": res}
        for mode, r in res.items():
            print(f"  {mode:12s} R@2 {r['R@2']:.3f}  R@5 {r['R@5']:.3f}", flush=True)
        if args.ablation:
            base = mem.recall_config
            for label, change in ABLATIONS:
                mem.recall_config = dataclasses.replace(base, **change)
                r = evaluate(mem, questions, Q, modes=("associative", "hybrid"))
                results[name][label] = r
                print(f"  {label:28s} assoc R@2 {r['associative']['R@2']:.3f} R@5 {r['associative']['R@5']:.3f}"
                      f" | hybrid R@2 {r['hybrid']['R@2']:.3f} R@5 {r['hybrid']['R@5']:.3f}", flush=True)
            mem.recall_config = base
        if args.grid:
            base = mem.recall_config
            grid = []
            for fw in (0.1, 0.2, 0.3, 0.5):
                for ff in (0.4, 0.5, 0.6, 0.75):
                    grid.append(dict(fusion_weight=fw, fusion_floor=ff))
            rows = []
            for g in grid:
                mem.recall_config = dataclasses.replace(base, **g)
                r = evaluate(mem, questions, Q, modes=("hybrid",))["hybrid"]
                rows.append((g, r))
            mem.recall_config = base
            rows.sort(key=lambda x: -x[1]["R@5"])
            results[name]["grid"] = [{"config": g, **r} for g, r in rows]
            for g, r in rows[:8]:
                print(f"   grid {g}: R@2 {r['R@2']:.3f} R@5 {r['R@5']:.3f}", flush=True)
        mem.close()
    for corpus in [c for c in ("wikitext", "brown") if getattr(args, c)]:
        res = same_document(Path(args.workdir), corpus, seed=args.sample_seed, ablation=args.ablation,
                            reuse=args.reuse, brown_skip=args.brown_skip)
        results[f"{corpus}_same_document"] = res
        print(f"{corpus} same-document P@10: " + "  ".join(f"{m} {r['P@10']:.3f}" for m, r in res["default"].items()),
              flush=True)
        for label, r in res.items():
            if label != "default":
                print(f"  {label:28s} assoc {r['associative']['P@10']:.3f} | hybrid {r['hybrid']['P@10']:.3f}",
                      flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    names = [n for n in results if not n.endswith("_same_document")]
    if names:
        gain = np.mean([results[n]["default"]["hybrid"]["R@5"] - results[n]["default"]["similar"]["R@5"]
                        for n in names])
        print(f"mean R@5 gain of hybrid over similar: {100 * gain:+.1f} points")
        dense = np.mean([results[n]["default"]["hybrid"]["R@5"]
                         - results[n]["default"]["dense passages (title: text)"]["R@5"] for n in names])
        print(f"mean R@5 gain of hybrid over dense passages (title: text): {100 * dense:+.1f} points")
    for n in results:
        if n.endswith("_same_document"):
            w = results[n]["default"]
            print(f"{n} P@10 hybrid - similar: {100 * (w['hybrid']['P@10'] - w['similar']['P@10']):+.1f} points")


if __name__ == "__main__":
    from core._script import run_main

    run_main(main)
