"""Benchmark 1: multi-hop recall (HotpotQA, MuSiQue) of similar / associative / hybrid.

All passages of a dataset go into one memory (open-corpus setting); each question is a
query; we report Recall@2 and Recall@5 of the gold supporting passages (document level:
the best chunk per passage), for the three recall modes, in one run.

Example:
    python scripts/bench_multihop.py                 # both datasets, default settings
    python scripts/bench_multihop.py --ablation --wikitext   # + what each part adds, + WikiText P@10
    python scripts/bench_multihop.py --grid          # also a small sweep of the fusion knobs
"""
from __future__ import annotations

import argparse
import dataclasses
import json
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


def same_document(workdir: Path, n_queries: int = 300, seed: int = 0) -> dict:
    """DESIGN.md's second measure: WikiText articles streamed in; a sentence as the query;
    precision@10 of hits from its own article (the query's own chunk excluded)."""
    from core.datasets import wikitext_documents

    docs = wikitext_documents()
    records = [{"id": f"wt:{i}", "title": d.title, "text": "\n\n".join(d.sentences)} for i, d in enumerate(docs)]
    mem = SemanticMemory(workdir / "wikitext")
    mem.ingest(records)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(docs), n_queries)
    queries = []
    for a in picks:
        doc = mem.store_.document(f"wt:{a}")
        cid = int(rng.choice(doc["chunk_ids"]))
        queries.append((f"wt:{a}", cid, mem.store_.chunk_rows([cid])[cid]["text"]))
    Q = mem.embed_queries([t for _, _, t in queries])
    out = {}
    for mode in MODES:
        prec = []
        for (doc, cid, text), q in zip(queries, Q):
            hits = mem.recall_vector(q, 10, mode, query_text=text, exclude=[cid], explain=False)
            prec.append(np.mean([h.doc_id == doc for h in hits]) if hits else 0.0)
        out[mode] = {"P@10": float(np.mean(prec))}
    mem.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="hotpotqa,musique")
    ap.add_argument("--workdir", default="/tmp/mycelial_bench_multihop")
    ap.add_argument("--grid", action="store_true", help="also sweep a few recall knobs")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--ablation", action="store_true",
                    help="in the same run: phrase graph only (codes off), codes only (no phrases), no query phrases")
    ap.add_argument("--wikitext", action="store_true", help="also the WikiText same-document precision@10")
    args = ap.parse_args()
    results = {}
    for name in args.datasets.split(","):
        records, questions = load_dataset(name)
        t0 = time.perf_counter()
        mem = SemanticMemory(Path(args.workdir) / name)
        rep = mem.ingest(records)
        print(f"{name}: {len(records)} passages, {mem.stats()['chunks']} chunks, {len(questions)} questions "
              f"(ingest {time.perf_counter() - t0:.1f}s, {rep.new_chunks} new chunks)", flush=True)
        Q = mem.embed_queries([q for _, q, _ in questions])
        res = evaluate(mem, questions, Q)
        results[name] = {"default": res}
        for mode, r in res.items():
            print(f"  {mode:12s} R@2 {r['R@2']:.3f}  R@5 {r['R@5']:.3f}", flush=True)
        if args.ablation:
            base = mem.recall_config
            # dense = `similar` above; full = the defaults above
            for label, change in (("phrase graph only (codes off)", dict(code_weight=0.0)),
                                  ("codes only (no phrases)", dict(phrase_weight=0.0, query_phrase_weight=0.0)),
                                  ("no query phrases", dict(query_phrase_weight=0.0))):
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
    if args.wikitext:
        res = same_document(Path(args.workdir))
        results["wikitext_same_document"] = res
        print("wikitext same-document P@10: " + "  ".join(f"{m} {r['P@10']:.3f}" for m, r in res.items()), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    names = [n for n in results if n != "wikitext_same_document"]
    gain = np.mean([results[n]["default"]["hybrid"]["R@5"] - results[n]["default"]["similar"]["R@5"] for n in names])
    print(f"mean R@5 gain of hybrid over similar: {100 * gain:+.1f} points")
    if "wikitext_same_document" in results:
        w = results["wikitext_same_document"]
        print(f"WikiText P@10 hybrid - similar: {100 * (w['hybrid']['P@10'] - w['similar']['P@10']):+.1f} points")


if __name__ == "__main__":
    main()
