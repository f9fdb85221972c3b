"""Case-archive search on random unit vectors: three HNSW libraries side by side, then the
archive's own search path at 10^4, 10^5 and 10^6 vectors.

python bench/bench_archive.py [--dim 128] [--n 100000] [--queries 300] [--skip-compare]
                              [--scales 10000,100000,1000000] [--scale-queries 100] [--ef 1024]

1. usearch, hnswlib and faiss-cpu at --n vectors with the archive's HNSW parameters (M,
   efConstruction, several efSearch): build seconds, recall@10 against exact search, and the
   latency of one query at a time (median and p99 ms, one search thread). A library that is not
   installed is skipped (`pip install usearch hnswlib`; only faiss-cpu is a dependency).
2. app.archive.snapshot.VectorSnapshot, the code that answers /v1/search, with the shipped
   AnnSettings: exact search (numpy) and ANN (+ exact re-scoring) per scale, recall@10 of the
   ANN path against the exact path. Random vectors are the hard case for a graph index: real
   embeddings cluster.
"""

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from app.archive.ann import AnnIndex, AnnSettings
from app.archive.snapshot import Rows, VectorSnapshot

K = 10
NO_EXCLUSIONS = np.zeros(0, np.int64)
Search = Callable[[np.ndarray], np.ndarray]  # one query (D,) -> ids (K,)


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top_k(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(Q, K) ids of the exact nearest neighbours by inner product, in chunks of queries."""
    ids = []
    for start in range(0, len(queries), 64):
        similarity = queries[start : start + 64] @ base.T
        ids.append(np.argpartition(-similarity, K, axis=1)[:, :K])
    return np.concatenate(ids)


def measure(search: Search, queries: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """(recall@K, median ms, p99 ms) of one query at a time."""
    times, hits = [], 0
    for query, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        found = search(query)
        times.append(1000 * (time.perf_counter() - started))
        hits += len(set(found[:K].tolist()) & set(expected.tolist()))
    return hits / truth.size, float(np.median(times)), float(np.percentile(times, 99))


def build_faiss(base: np.ndarray, s: AnnSettings) -> Callable[[int], Search]:
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    index = faiss.IndexHNSWFlat(base.shape[1], s.connectivity, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = s.expansion_add
    index.add(base)
    faiss.omp_set_num_threads(1)

    def at(ef: int) -> Search:
        index.hnsw.efSearch = ef
        return lambda q: index.search(q[None], K)[1][0]

    return at


def build_hnswlib(base: np.ndarray, s: AnnSettings) -> Callable[[int], Search]:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=base.shape[1])
    index.init_index(len(base), ef_construction=s.expansion_add, M=s.connectivity)
    index.add_items(base, np.arange(len(base)), num_threads=os.cpu_count() or 1)
    index.set_num_threads(1)

    def at(ef: int) -> Search:
        index.set_ef(ef)
        return lambda q: index.knn_query(q[None], K)[0][0]

    return at


def build_usearch(base: np.ndarray, s: AnnSettings) -> Callable[[int], Search]:
    from usearch.index import Index  # imported last: see app/archive/ann.py

    index = Index(
        ndim=base.shape[1], metric="ip", dtype="f32", connectivity=s.connectivity,
        expansion_add=s.expansion_add,
    )  # fmt: skip
    index.add(np.arange(len(base)), base, threads=os.cpu_count() or 1)

    def at(ef: int) -> Search:
        index.expansion_search = ef
        return lambda q: index.search(q, K, threads=1).keys

    return at


LIBRARIES = {"faiss-cpu": build_faiss, "hnswlib": build_hnswlib, "usearch": build_usearch}


def compare(args: argparse.Namespace, settings: AnnSettings) -> None:
    base = unit_vectors(args.n, args.dim, seed=0)
    queries = unit_vectors(args.queries, args.dim, seed=1)
    truth = exact_top_k(base, queries)
    print(f"\n1. {args.n} random unit vectors, {args.dim}-d, {args.queries} queries, "
          f"M={settings.connectivity}, efConstruction={settings.expansion_add}")  # fmt: skip
    print(
        f"{'library':<12}{'build s':>9}{'efSearch':>10}{'recall@10':>11}{'p50 ms':>9}{'p99 ms':>9}"
    )
    exact = measure(lambda q: np.argpartition(-(base @ q), K)[:K], queries, truth)
    print(f"{'numpy exact':<12}{'-':>9}{'-':>10}{exact[0]:>11.4f}{exact[1]:>9.2f}{exact[2]:>9.2f}")
    for name, build in LIBRARIES.items():
        try:
            started = time.perf_counter()
            at = build(base, settings)
        except ImportError:
            print(f"{name:<12} not installed")
            continue
        built_s = time.perf_counter() - started
        for ef in sorted({256, 512, settings.expansion_search, 1024}):
            recall, p50, p99 = measure(at(ef), queries, truth)
            print(f"{name:<12}{built_s:>9.1f}{ef:>10}{recall:>11.4f}{p50:>9.2f}{p99:>9.2f}")


def scales(args: argparse.Namespace, settings: AnnSettings) -> None:
    print(f"\n2. the archive's search (VectorSnapshot, {settings}), top {K}, "
          f"{args.scale_queries} queries")  # fmt: skip
    print(f"{'vectors':>9}{'exact p50 ms':>14}{'ANN build s':>13}{'efSearch':>10}"
          f"{'ANN p50 ms':>12}{'ANN p99 ms':>12}{'recall@10':>11}")  # fmt: skip
    queries = unit_vectors(args.scale_queries, args.dim, seed=1)
    for n in args.scales:
        base = unit_vectors(n, args.dim, seed=0)
        rows = Rows(np.arange(1, n + 1, dtype=np.int64), base, [None] * n, [None] * n)
        exact = VectorSnapshot(args.dim, exact_max=n)
        exact.append(rows)
        truth = np.stack([exact.nearest(q, K, None, NO_EXCLUSIONS)[0] for q in queries])
        _, exact_p50, _ = measure(
            lambda q, s=exact: s.nearest(q, K, None, NO_EXCLUSIONS)[0], queries, truth
        )
        graph = VectorSnapshot(args.dim, exact_max=0)
        graph.append(rows)
        started = time.perf_counter()
        ann = AnnIndex(args.dim, settings)
        graph.attach_ann(ann, max_row_id=0)
        built_s = time.perf_counter() - started
        for ef in args.ef or [settings.expansion_search]:
            ann.expansion_search = ef
            recall, p50, p99 = measure(
                lambda q, s=graph: s.nearest(q, K, None, NO_EXCLUSIONS)[0], queries, truth
            )
            print(f"{n:>9}{exact_p50:>14.2f}{built_s:>13.1f}{ef:>10}{p50:>12.2f}{p99:>12.2f}"
                  f"{recall:>11.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--scales", type=lambda v: [int(x) for x in v.split(",")],
                        default=[10_000, 100_000, 1_000_000])  # fmt: skip
    parser.add_argument("--scale-queries", type=int, default=100)
    parser.add_argument("--ef", type=lambda v: [int(x) for x in v.split(",")],
                        help="efSearch values of part 2 (default: the shipped one)")  # fmt: skip
    parser.add_argument("--skip-compare", action="store_true")
    args = parser.parse_args()
    settings = replace(AnnSettings(), threads=os.cpu_count() or 1)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    if not args.skip_compare:
        compare(args, settings)
    scales(args, settings)


if __name__ == "__main__":
    main()
