#!/usr/bin/env python3
"""Independent reference embeddings for sentence-transformers/all-MiniLM-L6-v2.

Writes test/fixtures/minilm-reference.json: mean-pooled, L2-normalised 384-d embeddings of a
few fixed sentences, computed WITHOUT transformers.js: the HuggingFace `tokenizers` package
reads the same tokenizer.json, and Python `onnxruntime` runs the same ONNX files
(onnx/model.onnx = fp32, onnx/model_quantized.onnx = q8) that scripts/setup-model.mjs
installs. A test can then compare the product's embeddings with these vectors.

Usage:
    node scripts/setup-model.mjs                 # the model must be installed first
    python3 scripts/make-reference-vectors.py [--models-dir DIR] [--out FILE]

Run with any Python >= 3.9: the script creates a virtual environment in .d4/venv-ref
(under the repository root), installs the pinned packages below into it from PyPI, and
re-runs itself there. Nothing is installed into the product.
"""

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import venv
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_ROOT / ".d4" / "venv-ref"
PINNED = ["onnxruntime==1.32.0", "tokenizers==0.23.3", "numpy==2.4.6"]
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256  # sentence-transformers' max_seq_length for this model
DTYPES = {"fp32": "onnx/model.onnx", "q8": "onnx/model_quantized.onnx"}
DECIMALS = 6

_LONG = (
    "Data curation for language model pre-training removes exact duplicates, near duplicates "
    "found with MinHash signatures, and semantic duplicates found by clustering sentence "
    "embeddings, then keeps documents that are far from their cluster prototype. "
)

SENTENCES = [
    "The cat sits on the mat.",
    # paraphrase of the first one
    "A cat is sitting on a mat.",
    # accents (the tokenizer lowercases but does not strip accents)
    "Café déjà vu à Zürich.",
    # one word
    "Deduplication",
    # unrelated topic
    "Stock markets fell sharply after the central bank raised interest rates.",
    # CJK characters (split per character) and an emoji (not in the vocabulary: [UNK])
    "東京は日本の首都です。 🚀",
    # longer than 256 tokens: checks truncation to max_seq_length
    (_LONG * 8).strip(),
]


def ensure_venv():
    """Re-exec inside .d4/venv-ref with the pinned packages, creating it if needed."""
    if Path(sys.prefix).resolve() == VENV_DIR.resolve():
        return
    py = VENV_DIR / "bin" / "python"
    stamp = VENV_DIR / "d4-requirements.txt"
    wanted = "\n".join(PINNED) + "\n"
    if not py.exists():
        print(f"creating virtual environment {VENV_DIR}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    if not stamp.exists() or stamp.read_text() != wanted:
        print(f"installing {' '.join(PINNED)} into {VENV_DIR}", file=sys.stderr)
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINNED],
            check=True,
        )
        stamp.write_text(wanted)
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def to_json(out):
    """Pretty JSON, but one line per vector / token-id list so the fixture stays diffable."""

    def rows(items, indent):
        return ",\n".join(indent + json.dumps(r) for r in items)

    parts = []
    for key, value in out.items():
        if key == "vectors":
            body = ",\n".join(f"  {json.dumps(d)}: [\n{rows(v, '   ')}\n  ]" for d, v in value.items())
            parts.append(f' "vectors": {{\n{body}\n }}')
        elif key == "token_ids":
            parts.append(f' "token_ids": [\n{rows(value, "  ")}\n ]')
        else:
            parts.append(f" {json.dumps(key)}: " + json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main():
    default_models = os.environ.get("D4_MODELS_DIR") or str(REPO_ROOT / ".d4" / "models")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", default=default_models,
                    help="models directory written by scripts/setup-model.mjs (default: env D4_MODELS_DIR, else .d4/models)")
    ap.add_argument("--out", default=str(REPO_ROOT / "test" / "fixtures" / "minilm-reference.json"),
                    help="output JSON (default: test/fixtures/minilm-reference.json)")
    args = ap.parse_args()

    ensure_venv()

    import numpy as np
    import onnxruntime as ort
    import tokenizers
    from tokenizers import Tokenizer

    model_dir = Path(args.models_dir) / MODEL_ID
    tok_path = model_dir / "tokenizer.json"
    if not tok_path.exists():
        sys.exit(f"{tok_path} not found: run `node scripts/setup-model.mjs` first")
    manifest = json.loads((model_dir / "d4-model.json").read_text())

    tok = Tokenizer.from_file(str(tok_path))
    # The jar's tokenizer.json asks for truncation at 128 and padding to 128; override both
    # with what sentence-transformers does for this model (truncate at 256, no padding).
    tok.enable_truncation(MAX_SEQ_LENGTH)
    tok.no_padding()
    encodings = [tok.encode(s) for s in SENTENCES]

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # deterministic and small
    vectors, files = {}, {}
    for dtype, rel in DTYPES.items():
        onnx_path = model_dir / rel
        files[rel] = sha256_file(onnx_path)
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        input_names = [i.name for i in sess.get_inputs()]
        rows = []
        for enc in encodings:  # one sentence per run: no padding involved at all
            feeds = {
                "input_ids": np.array([enc.ids], dtype=np.int64),
                "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
            }
            hidden = sess.run(["last_hidden_state"], {k: v for k, v in feeds.items() if k in input_names})[0]
            mask = feeds["attention_mask"][..., None].astype(np.float64)
            pooled = (hidden.astype(np.float64) * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            rows.append([round(float(x), DECIMALS) for x in pooled[0]])
        vectors[dtype] = rows
    files["tokenizer.json"] = sha256_file(tok_path)

    out = {
        "model_id": MODEL_ID,
        "dimension": len(vectors["fp32"][0]),
        "pooling": "mean",
        "normalize": True,
        "max_seq_length": MAX_SEQ_LENGTH,
        "produced_by": {
            "script": "scripts/make-reference-vectors.py",
            "method": "HuggingFace tokenizers on tokenizer.json (truncation 256, no padding), "
                      "onnxruntime CPU on each ONNX file one sentence at a time, output last_hidden_state, "
                      "mean over attention_mask, L2 normalisation in float64, rounded to "
                      f"{DECIMALS} decimals",
            "python": platform.python_version(),
            "packages": {
                "onnxruntime": ort.__version__,
                "tokenizers": tokenizers.__version__,
                "numpy": np.__version__,
            },
            "model_source": [p["coordinates"] for p in manifest["source"]["packages"]],
            "files_sha256": files,
        },
        "notes": [
            "Each vector was computed with the sentence alone in its batch (batch size 1, no padding).",
            "q8 (onnx/model_quantized.onnx) quantizes activations dynamically over the whole input "
            "tensor, so its output for a sentence depends on the other sentences in the batch "
            "(transformers.js 4.3.1: up to ~1e-2 cosine distance); compare q8 at batch size 1. "
            "fp32 is batch-independent.",
            "The last sentence is longer than max_seq_length: the reference truncates the text and keeps "
            "[CLS] ... [SEP] (Python tokenizers / sentence-transformers behaviour). transformers.js 4.3.1 "
            "truncates after adding special tokens, which drops the final [SEP] "
            "(about 1.4e-3 cosine distance for fp32 on this sentence).",
        ],
        "dtypes": DTYPES,
        "sentences": SENTENCES,
        "token_counts": [len(e.ids) for e in encodings],
        "token_ids": [list(e.ids) for e in encodings],
        "vectors": vectors,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(to_json(out), encoding="utf-8")
    print(f"wrote {args.out}: {len(SENTENCES)} sentences x {list(vectors)}", file=sys.stderr)


if __name__ == "__main__":
    main()
