"""Unit tests of FeedLoader's protocol handling, against a scripted local HTTP server (the real
``d4 feed --serve`` is exercised by test/integration/python-loader.test.ts)."""

from __future__ import annotations

import json
import threading
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

import d4feed
from d4feed import Batch, FeedError, FeedLoader, FeedUnavailable
from d4feed.loader import _batches_url


def line(epoch: int, index: int, ids: List[str]) -> bytes:
    docs: List[Dict[str, Any]] = [{"id": i, "url": None, "fetched_at": None, "content_type": None, "language": None, "text": f"text {i}", "metadata": {}} for i in ids]
    return (json.dumps({"epoch": epoch, "batch": index, "checkpoint": f"tok-{epoch}-{index}", "tokens": 2 * len(ids), "documents": docs}) + "\n").encode()


#: (status, body) or (status, body, how): "close" (the default) ends the body by closing the
#: connection; "chunked" sends it in chunked encoding, one chunk per line, with the last chunk;
#: "cut" does the same but stops before the last chunk, as a killed server does.
Reply = Tuple[Any, ...]


class Scripted:
    """Answers requests in turn with (status, body); records each request's query."""

    def __init__(self, replies: List[Reply]) -> None:
        self.replies = list(replies)
        self.queries: List[Dict[str, List[str]]] = []
        self.auth: List[Optional[str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                outer.queries.append(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
                outer.auth.append(self.headers.get("Authorization"))
                reply = outer.replies.pop(0) if outer.replies else (500, b'{"error": "script exhausted"}')
                status, body, how = reply[0], reply[1], reply[2] if len(reply) > 2 else "close"
                self.send_response(status)
                self.send_header("content-type", "application/x-ndjson")
                if how == "close":
                    self.end_headers()  # no content-length: the body ends when the connection closes
                    self.wfile.write(body)
                else:
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for part in body.splitlines(keepends=True):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    if how == "chunked":
                        self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LoaderTest(unittest.TestCase):
    def serve(self, replies: List[Reply]) -> Scripted:
        s = Scripted(replies)
        self.addCleanup(s.close)
        return s

    def loader(self, s: Scripted, **kw: Any) -> FeedLoader:
        retries: List[Tuple[int, str, float]] = []
        kw.setdefault("on_retry", lambda n, why, wait: retries.append((n, why, wait)))
        kw.setdefault("backoff", 0.01)
        ld = FeedLoader(s.url, **kw)
        self.retries = retries
        return ld

    def test_url_forms(self) -> None:
        for u in ("http://h:1", "http://h:1/", "http://h:1/batches", "http://h:1/batches/"):
            self.assertEqual(_batches_url(u), "http://h:1/batches")
        with self.assertRaises(ValueError):
            FeedLoader("127.0.0.1:8765")

    def test_batches_in_order_with_checkpoints_and_state(self) -> None:
        s = self.serve([(200, line(0, 0, ["a", "b"]) + line(0, 1, ["c"]) + line(1, 0, ["c", "a", "b"]))])
        ld = self.loader(s, bearer_token="secret")
        got = list(ld)
        self.assertEqual([(b.epoch, b.index, b.ids) for b in got], [(0, 0, ["a", "b"]), (0, 1, ["c"]), (1, 0, ["c", "a", "b"])])
        self.assertIsInstance(got[0], Batch)
        self.assertEqual(got[0].texts, ["text a", "text b"])
        self.assertEqual(len(got[2]), 3)
        self.assertEqual(ld.state_dict(), {"checkpoint": "tok-1-0"})
        self.assertEqual(s.queries, [{}])
        self.assertEqual(s.auth, ["Bearer secret"])

    def test_resume_token_and_max_batches_are_sent(self) -> None:
        s = self.serve([(200, line(0, 5, ["x"]))])
        ld = self.loader(s, max_batches=1)
        ld.load_state_dict({"checkpoint": "tok-0-4"})
        self.assertEqual([b.index for b in ld], [5])
        self.assertEqual(s.queries, [{"resume": ["tok-0-4"], "max_batches": ["1"]}])

    def test_a_cut_stream_reconnects_from_the_last_checkpoint(self) -> None:
        first = line(0, 0, ["a"]) + line(0, 1, ["b"])
        s = self.serve([(200, first + line(0, 2, ["c"])[:20]), (503, b'{"error": "busy"}'), (200, line(0, 2, ["c"]) + line(0, 3, ["d"]))])
        ld = self.loader(s)
        self.assertEqual([b.ids[0] for b in ld], ["a", "b", "c", "d"], "nothing repeated, nothing skipped")
        self.assertEqual([q.get("resume") for q in s.queries], [None, ["tok-0-1"], ["tok-0-1"]])
        self.assertEqual([n for n, _, _ in self.retries], [1, 2])
        self.assertIn("cut in the middle of a line", self.retries[0][1])
        self.assertEqual(ld.reconnects, 2)

    def test_a_chunked_stream_cut_between_lines_is_not_taken_for_its_end(self) -> None:
        # A killed server stops between two chunks: only the missing last chunk tells.
        s = self.serve([(200, line(0, 0, ["a"]) + line(0, 1, ["b"]), "cut"), (200, line(0, 2, ["c"]), "chunked")])
        ld = self.loader(s)
        self.assertEqual([b.ids[0] for b in ld], ["a", "b", "c"])
        self.assertEqual([q.get("resume") for q in s.queries], [None, ["tok-0-1"]])
        self.assertEqual(len(self.retries), 1)
        self.assertIn("IncompleteRead", self.retries[0][1])

    def test_refusals_are_not_retried(self) -> None:
        for status, body, pattern in [
            (400, b'{"error": "checkpoint token was made with seed \\"a\\", not \\"b\\""}', "HTTP 400.*seed"),
            (422, b'{"error": "poison-topic guard: all 1024 records ... --format json"}', "HTTP 422.*--format json"),
        ]:
            s = self.serve([(status, body)])
            with self.assertRaisesRegex(FeedError, pattern) as cm:
                list(self.loader(s))
            self.assertEqual(cm.exception.status, status)
            self.assertEqual(len(s.queries), 1)

    def test_error_lines(self) -> None:
        s = self.serve([(200, line(0, 0, ["a"]) + b'{"error": "records deleted", "retriable": false}\n')])
        ld = self.loader(s)
        it = iter(ld)
        self.assertEqual(next(it).ids, ["a"])
        with self.assertRaisesRegex(FeedError, "records deleted"):
            next(it)
        s2 = self.serve([(200, b'{"error": "broker went away"}\n'), (200, line(0, 0, ["a"]))])
        self.assertEqual([b.ids for b in self.loader(s2)], [["a"]])
        s3 = self.serve([(200, b"not json\n")])
        with self.assertRaisesRegex(FeedError, "not JSON"):
            list(self.loader(s3))

    def test_gives_up_after_retries_in_a_row(self) -> None:
        s = self.serve([])
        port = s.server.server_address[1]
        s.close()  # nothing listens there now
        ld = FeedLoader(f"http://127.0.0.1:{port}", retries=2, backoff=0.01, on_retry=lambda *a: None)
        with self.assertRaisesRegex(FeedUnavailable, "after 3 failed attempt"):
            list(ld)

    def test_feed_dataset_without_torch(self) -> None:
        try:
            import torch  # noqa: F401
        except ImportError:
            with self.assertRaisesRegex(ImportError, "needs PyTorch"):
                getattr(d4feed, "FeedDataset")
        else:
            self.assertTrue(callable(getattr(d4feed, "FeedDataset")))


if __name__ == "__main__":
    unittest.main()
