"""The near-duplicate stage's work done with datasketch, for `npm run bench:near`.

Same corpus, same shingling (NFC, lower-case, word 5-grams over runs of letters and digits),
same number of permutations and the same b x r banding, the same first-seen-survives rule and
the same check (estimated Jaccard >= threshold against the candidates) as d4's `near` stage.
Prints one JSON line.

usage: datasketch_bench.py CORPUS.jsonl NUM_PERM BANDS ROWS THRESHOLD [QUALITY_DIR]
"""
import json
import re
import resource
import sys
import time
import unicodedata

from datasketch import MinHash, MinHashLSH

WORD = re.compile(r"[^\W_]+")


def shingles(text, n=5):
    words = WORD.findall(unicodedata.normalize("NFC", text).lower())
    if not words:
        return []
    if len(words) < n:
        return [" ".join(words).encode("utf8")]
    return [" ".join(words[i:i + n]).encode("utf8") for i in range(len(words) - n + 1)]


class Stage:
    """First seen survives; a document is dropped when a candidate's estimated Jaccard passes."""

    def __init__(self, num_perm, bands, rows, threshold, check=True, lsh_threshold=None):
        self.num_perm = num_perm
        self.threshold = threshold
        self.check = check
        if lsh_threshold is None:
            self.lsh = MinHashLSH(num_perm=num_perm, params=(bands, rows))
        else:
            self.lsh = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
        self.kept = {}  # LSH key -> (id, MinHash); keys are insertion numbers, so repeated ids are fine

    def decide(self, doc_id, text):
        sh = shingles(text)
        if not sh:
            return None
        m = MinHash(num_perm=self.num_perm)
        m.update_batch(sh)
        best, best_j = None, -1.0
        for key in self.lsh.query(m):
            kept_id, kept = self.kept[key]
            j = m.jaccard(kept) if self.check else 1.0
            if j >= self.threshold and j > best_j:
                best, best_j = kept_id, j
        if best is None:
            key = len(self.kept)
            self.lsh.insert(key, m)
            self.kept[key] = (doc_id, m)
        return best


def read_jsonl(path):
    with open(path, encoding="utf8") as f:
        return [json.loads(line) for line in f if line.strip()]


def quality(quality_dir, make_stage):
    out = {}
    originals = read_jsonl(f"{quality_dir}/originals.jsonl")
    for kind in ("header-footer-7%", "words-2%", "words-40%"):
        copies = read_jsonl(f"{quality_dir}/{kind}.jsonl")
        stage = make_stage()
        for d in originals:
            stage.decide(d["id"], d["text"])
        caught = sum(1 for c in copies if stage.decide(c["id"], c["text"]) == c["of"])
        out[kind] = [caught, len(copies)]
    pairs = read_jsonl(f"{quality_dir}/mrpc-negative.jsonl")
    stage = make_stage()
    flagged = 0
    for p in pairs:
        stage.decide(p["a"], p["s1"])
        flagged += stage.decide(p["b"], p["s2"]) == p["a"]
    out["mrpc-negative"] = [flagged, len(pairs)]
    return out


def main():
    corpus_path, num_perm, bands, rows, threshold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    docs = read_jsonl(corpus_path)
    mb = sum(len(d["text"].encode("utf8")) for d in docs) / 1e6
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stage = Stage(num_perm, bands, rows, threshold)
    t = time.perf_counter()
    dropped = sum(1 for d in docs if stage.decide(d["id"], d["text"]) is not None)
    seconds = time.perf_counter() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "docs": len(docs), "seconds": seconds, "docs_per_s": len(docs) / seconds, "mb_per_s": mb / seconds,
        "dropped": dropped, "kept": len(stage.kept), "rss_growth_bytes_per_kept_doc": (rss1 - rss0) * 1024 / max(1, len(stage.kept)),
    }
    if len(sys.argv) > 6:
        result["quality_same_check"] = quality(sys.argv[6], lambda: Stage(num_perm, bands, rows, threshold))
        # datasketch as its README uses it: MinHashLSH picks b x r for the threshold, and any
        # candidate it returns is taken as a duplicate.
        result["quality_lsh_only"] = quality(sys.argv[6], lambda: Stage(num_perm, bands, rows, threshold, check=False, lsh_threshold=threshold))
        auto = MinHashLSH(threshold=threshold, num_perm=num_perm)
        result["lsh_only_params"] = [auto.b, auto.r]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
