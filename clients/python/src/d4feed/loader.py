"""The training loader: batches from ``d4 feed --serve``, resumable from checkpoint tokens.

The server streams one JSON batch per line (``GET /batches[?resume=TOKEN][&max_batches=N]``,
see docs/feed.md); every batch carries the token that resumes right after it. The loader keeps
the token of the last batch it handed out, so a trainer that saves ``loader.state_dict()`` with
its model after each step can restart from it and neither repeat nor skip a document of the
epoch. A dropped connection or a restarted server is retried from that token, so a reconnect is
exactly-once too. Only the standard library is used.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

__all__ = ["Batch", "FeedError", "FeedUnavailable", "FeedLoader"]

log = logging.getLogger("d4feed")

#: A curated document as ``schemas/crawled-document.avsc`` defines it: ``id``, ``url``,
#: ``fetched_at`` (epoch ms or None), ``content_type``, ``language``, ``text``, ``metadata``.
Document = Dict[str, Any]


class FeedError(RuntimeError):
    """The feed refused the request or failed for good: a token that does not fit the server's
    feed (HTTP 400), a topic it cannot read (422, e.g. the poison-topic guard), or a failure the
    server reported as final. Retrying would not help; the message says what to change."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


class FeedUnavailable(FeedError):
    """The server could not be reached, or failed, more times in a row than ``retries`` allows."""


@dataclass(frozen=True)
class Batch:
    """One batch of the feed. ``checkpoint`` resumes right after this batch."""

    epoch: int
    """0-based epoch."""
    index: int
    """0-based index of the batch within its epoch (``batch`` in the NDJSON line)."""
    checkpoint: str
    tokens: int
    """Estimated tokens of the batch (UTF-8 bytes / 4 per document, rounded up)."""
    documents: Tuple[Document, ...]

    @property
    def texts(self) -> List[str]:
        return [str(d["text"]) for d in self.documents]

    @property
    def ids(self) -> List[str]:
        return [str(d["id"]) for d in self.documents]

    def __len__(self) -> int:
        return len(self.documents)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Batch":
        try:
            return cls(
                epoch=int(obj["epoch"]),
                index=int(obj["batch"]),
                checkpoint=str(obj["checkpoint"]),
                tokens=int(obj["tokens"]),
                documents=tuple(obj["documents"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise FeedError(f"not a d4 feed batch line: {e!r}") from e


class _Retry(Exception):
    """A failure worth reconnecting for (connection refused or cut, 5xx, a truncated stream)."""


def _lines(resp: http.client.HTTPResponse) -> Iterator[bytes]:
    """The response's lines, each ending with a newline; _Retry if the stream was cut.

    Read with read1, not readline: the server streams chunked, and only read/read1 report a
    stream that stops without chunked encoding's last (empty) chunk, as when the server is
    killed, while readline takes that for a normal end (http.client swallows the error in peek).
    """
    pending = b""
    while True:
        try:
            data = resp.read1(1 << 16)
        except (OSError, http.client.HTTPException) as e:
            raise _Retry(f"the stream was cut: {e!r}") from e
        if not data:
            if pending:
                raise _Retry("the stream was cut in the middle of a line")
            return
        pending += data
        start = 0
        while True:
            end = pending.find(b"\n", start)
            if end < 0:
                break
            yield pending[start : end + 1]
            start = end + 1
        pending = pending[start:]


def _batches_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected the feed server's address, e.g. http://127.0.0.1:8765, got {url!r}")
    path = parts.path.rstrip("/")
    if not path.endswith("/batches"):
        path += "/batches"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class FeedLoader:
    """An iterable of :class:`Batch` from a ``d4 feed --serve`` server.

    >>> loader = FeedLoader("http://127.0.0.1:8765", resume=saved.get("checkpoint"))
    >>> for batch in loader:                      # doctest: +SKIP
    ...     train_step(batch.texts)
    ...     save({"model": ..., "data": loader.state_dict()})

    Iterating again continues after the last batch handed out (the loader is a cursor on the
    feed, not a list). The epochs, shuffle seed and batching are the server's options; a
    ``resume`` token made with other ones is refused with :class:`FeedError`.

    ``retries``: reconnections in a row (with exponential backoff from ``backoff`` up to
    ``max_backoff`` seconds) before :class:`FeedUnavailable`; the count starts over after every
    batch received. ``timeout``: seconds a read may wait (an epoch's first batch waits for the
    shuffle buffer to fill). ``max_batches``: stop each iteration after that many batches.
    ``bearer_token``: sent as ``Authorization: Bearer …`` for a server that requires one.
    """

    def __init__(
        self,
        url: str,
        *,
        resume: Optional[str] = None,
        max_batches: Optional[int] = None,
        timeout: float = 300.0,
        retries: int = 8,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        bearer_token: Optional[str] = None,
        on_retry: Optional[Callable[[int, str, float], None]] = None,
    ) -> None:
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"max_batches must be ≥ 1, got {max_batches}")
        if retries < 0:
            raise ValueError(f"retries must be ≥ 0, got {retries}")
        self.url = _batches_url(url)
        self.max_batches = max_batches
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._bearer = bearer_token
        self._on_retry = on_retry
        self._checkpoint: Optional[str] = resume
        self.batches_delivered = 0
        """Batches this loader has handed out, over all iterations."""
        self.reconnects = 0
        """Reconnections after a dropped connection or a server error."""

    @property
    def checkpoint(self) -> Optional[str]:
        """The token that resumes after the last batch handed out (the initial ``resume`` before any)."""
        return self._checkpoint

    def state_dict(self) -> Dict[str, Any]:
        """What to save with the model: ``FeedLoader(url, resume=state["checkpoint"])`` continues."""
        return {"checkpoint": self._checkpoint}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        token = state.get("checkpoint")
        if token is not None and not isinstance(token, str):
            raise TypeError(f"checkpoint must be a string token, got {type(token).__name__}")
        self._checkpoint = token

    def _request(self, remaining: Optional[int]) -> urllib.request.Request:
        query: Dict[str, str] = {}
        if self._checkpoint is not None:
            query["resume"] = self._checkpoint
        if remaining is not None:
            query["max_batches"] = str(remaining)
        url = self.url + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Accept": "application/x-ndjson"}
        if self._bearer is not None:
            headers["Authorization"] = f"Bearer {self._bearer}"
        return urllib.request.Request(url, headers=headers)

    def _open(self, remaining: Optional[int]) -> http.client.HTTPResponse:
        try:
            resp = urllib.request.urlopen(self._request(remaining), timeout=self.timeout)
            return resp  # type: ignore[no-any-return]
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            e.close()
            try:
                message = str(json.loads(body)["error"])
            except (ValueError, KeyError, TypeError):
                message = body.strip() or e.reason
            if e.code >= 500:
                raise _Retry(f"HTTP {e.code}: {message}") from e
            raise FeedError(f"the feed server refused the request (HTTP {e.code}): {message}", e.code) from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise _Retry(f"cannot reach {self.url}: {getattr(e, 'reason', e)}") from e

    def __iter__(self) -> Iterator[Batch]:
        delivered = 0
        failures = 0
        while self.max_batches is None or delivered < self.max_batches:
            remaining = None if self.max_batches is None else self.max_batches - delivered
            try:
                resp = self._open(remaining)
                with resp:
                    for line in _lines(resp):
                        try:
                            obj = json.loads(line)
                        except ValueError as e:
                            raise FeedError(f"the server sent a line that is not JSON: {line[:200]!r}") from e
                        if "error" in obj:
                            if obj.get("retriable") is False:
                                raise FeedError(f"the feed failed: {obj['error']}")
                            raise _Retry(f"the feed failed midway: {obj['error']}")
                        batch = Batch.from_json(obj)
                        self._checkpoint = batch.checkpoint
                        self.batches_delivered += 1
                        delivered += 1
                        failures = 0
                        yield batch
                        if self.max_batches is not None and delivered >= self.max_batches:
                            return
                return  # the server ended the response: epochs done or max_batches reached
            except _Retry as e:
                failures += 1
                if failures > self.retries:
                    raise FeedUnavailable(f"giving up after {failures} failed attempt(s) in a row: {e}") from e
                wait = min(self.max_backoff, self.backoff * (2 ** (failures - 1)))
                self.reconnects += 1
                if self._on_retry is not None:
                    self._on_retry(failures, str(e), wait)
                else:
                    log.warning("d4feed: %s; reconnecting in %.1f s from the last checkpoint (%d/%d)", e, wait, failures, self.retries)
                time.sleep(wait)
