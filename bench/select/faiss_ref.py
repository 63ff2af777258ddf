#!/usr/bin/env python3
"""Batch D4 selection of precomputed unit vectors with faiss-cpu: the reference of bench:select.

Reads N x dim float32 little-endian vectors, runs the published algorithm (spherical k-means
with k = round(sqrt(N)) and 20 iterations; SemDeDup inside each cluster, farthest from the
centroid first, drop when cosine >= 1 - epsilon to any earlier one; k-means again on the
survivors; keep the round(R * N) hardest, the same fraction of each cluster) and prints one JSON
object with the time of each phase and the counts. Run by bench/select/bench.ts inside the
virtual environment it creates (.d4/venv-bench-select); nothing is installed into the product.

Usage: faiss_ref.py --vectors FILE --dim 384 [--epsilon 0.08] [--target-ratio 0.25] [--seed 42] [--iterations 20] [--threads N] [--kept-out FILE]
"""

import argparse
import json
import math
import time

import faiss
import numpy as np


def kmeans(x, k, iterations, seed):
    km = faiss.Kmeans(x.shape[1], k, niter=iterations, spherical=True, seed=seed, verbose=False)
    km.train(x)
    # Unit vectors: the nearest centroid by L2 is the one with the largest inner product.
    _, assign = km.index.search(x, 1)
    return km.centroids, assign.ravel()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vectors", required=True)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--epsilon", type=float, default=0.08)
    p.add_argument("--target-ratio", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="OpenMP threads for faiss (0 = its default)")
    p.add_argument("--kept-out")
    a = p.parse_args()
    if a.threads > 0:
        faiss.omp_set_num_threads(a.threads)

    x = np.fromfile(a.vectors, dtype="<f4").reshape(-1, a.dim)
    n = x.shape[0]
    times = {}

    t = time.perf_counter()
    k = max(1, round(math.sqrt(n)))
    centroids, assign = kmeans(x, k, a.iterations, a.seed)
    times["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    keep = np.ones(n, dtype=bool)
    threshold = 1.0 - a.epsilon
    order_all = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order_all], np.arange(k + 1))
    for c in range(k):
        idx = order_all[bounds[c]:bounds[c + 1]]
        if len(idx) < 2:
            continue
        sim_c = x[idx] @ centroids[c]
        order = idx[np.argsort(sim_c, kind="stable")]  # farthest first, input order on ties
        v = x[order]
        s = v @ v.T
        s[np.tril_indices(len(order))] = -np.inf  # only earlier documents count
        keep[order[s.max(axis=0) >= threshold]] = False
    times["dedup"] = time.perf_counter() - t

    survivors = np.flatnonzero(keep)
    t = time.perf_counter()
    k2 = max(1, round(math.sqrt(len(survivors))))
    c2, a2 = kmeans(x[survivors], k2, a.iterations, a.seed + 1)
    times["recluster"] = time.perf_counter() - t

    t = time.perf_counter()
    d = 1.0 - np.einsum("ij,ij->i", x[survivors], c2[a2])
    level = np.empty(len(survivors))
    o = np.lexsort((np.arange(len(survivors)), d, a2))  # by cluster, then distance
    b2 = np.searchsorted(a2[o], np.arange(k2 + 1))
    for c in range(k2):
        members = o[b2[c]:b2[c + 1]]
        level[members] = (np.arange(len(members)) + 0.5) / max(1, len(members))
    target = min(len(survivors), round(a.target_ratio * n))
    rank = np.lexsort((np.arange(len(survivors)), -d, -level))
    kept = survivors[np.sort(rank[:target])]
    times["prototype"] = time.perf_counter() - t

    if a.kept_out:
        kept.astype("<u4").tofile(a.kept_out)
    total = sum(times.values())
    print(json.dumps({
        "n": n, "k": k, "k2": k2, "dedup_kept": int(len(survivors)), "kept": int(len(kept)),
        "seconds": {key: round(v, 3) for key, v in times.items()}, "seconds_total": round(total, 3),
        "docs_per_s": round(n / total) if total > 0 else None,
        "faiss": faiss.__version__, "numpy": np.__version__, "threads": faiss.omp_get_max_threads(),
    }))


if __name__ == "__main__":
    main()
