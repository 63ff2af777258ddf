#!/usr/bin/env python3
"""semhash's self-deduplication of precomputed unit vectors: a reference of bench:select.

semhash (MinishLab) is the CPU semantic-dedup tool people pick: it indexes the embeddings with
usearch (HNSW) and drops every record within a cosine threshold of an earlier kept one. Here it is
handed the benchmark's own vectors (`SemHash.from_embeddings` with an encoder that is never asked
to embed), so that only its index build and its self-deduplication are timed, at the same
threshold as the online SemDeDup (1 - epsilon). Prints one JSON object.

Usage: semhash_ref.py --vectors FILE --dim 384 [--epsilon 0.08]
"""

import argparse
import json
import os
import time

import numpy as np


class PrecomputedEncoder:
    """The semhash Encoder protocol; from_embeddings never calls it."""

    def encode(self, sentences, **kwargs):  # pragma: no cover - not called
        raise RuntimeError("the benchmark hands semhash its embeddings; nothing is embedded")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vectors", required=True)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--epsilon", type=float, default=0.08)
    a = p.parse_args()

    import semhash
    from semhash import SemHash

    x = np.fromfile(a.vectors, dtype="<f4").reshape(-1, a.dim)
    n = x.shape[0]
    records = [f"d{i}" for i in range(n)]
    t = time.perf_counter()
    sh = SemHash.from_embeddings(embeddings=x, records=records, model=PrecomputedEncoder())
    t_index = time.perf_counter() - t
    t = time.perf_counter()
    result = sh.self_deduplicate(threshold=1.0 - a.epsilon)
    t_dedup = time.perf_counter() - t
    total = t_index + t_dedup
    print(json.dumps({
        "n": n, "kept": len(result.selected), "seconds": {"index": round(t_index, 3), "dedup": round(t_dedup, 3)},
        "seconds_total": round(total, 3), "docs_per_s": round(n / total) if total > 0 else None,
        "semhash": getattr(semhash, "__version__", "?"), "threads": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
