#!/usr/bin/env python3
"""Encodes texts with model2vec (MinishLab's own implementation) from a model directory.

Reads {"model_dir": DIR, "texts": [...]} as JSON on stdin and writes one JSON object to stdout:
{"vectors": [[...], ...], "tokens": [[...], ...], "model2vec": VERSION, "dim": D}, where
`vectors` is StaticModel.from_pretrained(DIR).encode(texts) (its defaults: the config's
max_length and normalize) and `tokens` is StaticModel.tokenize(texts) after the same truncation.
test/static-model.test.ts compares them with d4's static embedder on the directory that
scripts/setup-model.mjs writes.

Run with any Python >= 3.9: the script creates a virtual environment in .d4/venv-model2vec
(under the repository root), installs the pinned packages below into it from PyPI, and re-runs
itself there. Nothing is installed into the product. `--setup` only prepares the environment.
"""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_ROOT / ".d4" / "venv-model2vec"
PINNED = ["model2vec==0.10.0", "numpy==2.4.6", "tokenizers==0.23.3", "safetensors==0.8.0"]
MARKER = VENV_DIR / "d4-pinned.txt"


def venv_python() -> Path:
    return VENV_DIR / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> None:
    wanted = "\n".join(PINNED) + "\n"
    if venv_python().exists() and MARKER.exists() and MARKER.read_text() == wanted:
        return
    print(f"model2vec-encode: creating {VENV_DIR} with {' '.join(PINNED)}", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    subprocess.run([str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINNED], check=True, stdout=sys.stderr)
    MARKER.write_text(wanted)


def main() -> int:
    if Path(sys.prefix).resolve() != VENV_DIR.resolve():
        ensure_venv()
        if "--setup" in sys.argv:
            return 0
        return subprocess.run([str(venv_python()), __file__, *sys.argv[1:]]).returncode
    if "--setup" in sys.argv:
        return 0

    # Offline: the model is a local directory; model2vec must never reach for a hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    import model2vec
    from model2vec import StaticModel

    request = json.load(sys.stdin)
    model = StaticModel.from_pretrained(request["model_dir"])
    texts = request["texts"]
    vectors = model.encode(texts)
    # The ids encode() averages: the same character cut, truncation and [UNK] removal.
    max_length = model.max_length
    cut = [t[: max_length * model.median_token_length] for t in texts] if max_length is not None else texts
    model._set_max_length_in_tokenizer(max_length)
    tokens = model.tokenize(cut)
    json.dump({"model2vec": model2vec.__version__, "dim": int(vectors.shape[1]), "vectors": vectors.astype(float).tolist(), "tokens": tokens}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
