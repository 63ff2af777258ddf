"""Drives d4feed against a real ``d4 feed --serve`` for test/integration/python-loader.test.ts.

  feed_check.py epochs  URL EXPECTED_IDS_JSON EPOCHS   every epoch delivers each expected id once
  feed_check.py train   URL STATE_JSON [SLEEP_S]       a trainer: saves model+data state after every step
  feed_check.py refused URL PATTERN                    the feed refuses (FeedError), message matches PATTERN
  feed_check.py torch   URL EXPECTED_IDS_JSON          one epoch through torch's DataLoader (needs torch)

Each prints one JSON line on success and exits 0; on a failed check it exits 1 with a message.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from typing import Any, Dict, List

from d4feed import FeedError, FeedLoader


def fail(message: str) -> None:
    print(f"feed_check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check_epochs(url: str, expected_path: str, epochs: int) -> None:
    with open(expected_path, encoding="utf-8") as f:
        expected = sorted(json.load(f))
    per_epoch: Dict[int, List[str]] = {}
    loader = FeedLoader(url)
    batches = 0
    for b in loader:
        per_epoch.setdefault(b.epoch, []).extend(b.ids)
        batches += 1
        if len(b) == 0:
            fail(f"empty batch {b.epoch}/{b.index}")
    if sorted(per_epoch) != list(range(epochs)):
        fail(f"epochs delivered: {sorted(per_epoch)}, expected 0..{epochs - 1}")
    for e, ids in per_epoch.items():
        dupes = [i for i, n in Counter(ids).items() if n > 1]
        if dupes:
            fail(f"epoch {e}: {len(dupes)} documents delivered twice, e.g. {dupes[:3]}")
        if sorted(ids) != expected:
            fail(f"epoch {e}: {len(ids)} documents, expected the {len(expected)} kept ones")
    if epochs > 1 and per_epoch[0] == per_epoch[1]:
        fail("epochs 0 and 1 came in the same order")
    print(json.dumps({"batches": batches, "documents": {str(e): len(ids) for e, ids in per_epoch.items()}, "checkpoint": loader.checkpoint}))


def train(url: str, state_path: str, sleep_s: float) -> None:
    # A trainer's checkpoint holds the model and the data position together, written atomically
    # after each step: whenever the process dies, the two agree. "seen" stands for the model.
    state: Dict[str, Any] = {"seen": [], "data": {"checkpoint": None}, "steps": 0, "starts": 0}
    if os.path.exists(state_path):
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
    state["starts"] += 1
    loader = FeedLoader(url, retries=20, backoff=0.2, max_backoff=2.0, on_retry=lambda n, why, wait: print(json.dumps({"retry": n, "why": why}), flush=True))
    loader.load_state_dict(state["data"])
    for b in loader:
        time.sleep(sleep_s)  # the training step
        state["seen"].extend([b.epoch, i] for i in b.ids)
        state["steps"] += 1
        state["data"] = loader.state_dict()
        tmp = state_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, state_path)
        print(json.dumps({"step": state["steps"], "epoch": b.epoch, "batch": b.index}), flush=True)
    print(json.dumps({"done": True, "steps": state["steps"], "reconnects": loader.reconnects}), flush=True)


def refused(url: str, pattern: str) -> None:
    try:
        for _ in FeedLoader(url, retries=0):
            fail("a batch was delivered")
    except FeedError as e:
        if not re.search(pattern, str(e), re.S):
            fail(f"the error does not match {pattern!r}: {e}")
        print(json.dumps({"refused": True, "status": e.status, "message": str(e)}))
        return
    fail("no error")


def check_torch(url: str, expected_path: str) -> None:
    import torch.utils.data as tud

    from d4feed import FeedDataset

    with open(expected_path, encoding="utf-8") as f:
        expected = sorted(json.load(f))
    ds: Any = FeedDataset(url, transform=lambda b: {"ids": b.ids, "epoch": b.epoch, "checkpoint": b.checkpoint})
    ids: List[str] = []
    for item in tud.DataLoader(ds, batch_size=None, num_workers=1):
        if item["epoch"] == 0:
            ids.extend(item["ids"])
    if sorted(ids) != expected:
        fail(f"torch DataLoader, epoch 0: {len(ids)} documents ({len(set(ids))} distinct), expected {len(expected)}")
    print(json.dumps({"torch": True, "documents": len(ids)}))


def main(argv: List[str]) -> None:
    cmd, args = argv[0], argv[1:]
    if cmd == "epochs":
        check_epochs(args[0], args[1], int(args[2]))
    elif cmd == "train":
        train(args[0], args[1], float(args[2]) if len(args) > 2 else 0.0)
    elif cmd == "refused":
        refused(args[0], args[1])
    elif cmd == "torch":
        check_torch(args[0], args[1])
    else:
        fail(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
