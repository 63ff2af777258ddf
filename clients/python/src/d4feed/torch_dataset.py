"""The feed as a ``torch.utils.data.IterableDataset`` (needs PyTorch)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Generic, Iterator, Mapping, Optional, TypeVar

try:
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("d4feed.FeedDataset needs PyTorch (pip install torch); FeedLoader works without it") from e

from .loader import Batch, FeedLoader

T = TypeVar("T")

__all__ = ["FeedDataset"]


def _identity(b: Batch) -> Any:
    return b


class FeedDataset(IterableDataset, Generic[T]):  # type: ignore[misc,type-arg,unused-ignore]
    """The batches of a ``d4 feed --serve`` server as an IterableDataset.

    The feed already batches and shuffles, so use ``DataLoader(ds, batch_size=None)``. It is one
    ordered stream: ``num_workers`` may be 0 or 1 (1 moves the HTTP reading to a worker process);
    more would each read the whole feed, so they are refused. ``transform`` maps each
    :class:`Batch` (tokenise, collate to tensors); keep its ``checkpoint`` in what it returns,
    since with a worker process that is how the trainer learns where to resume. With
    ``num_workers=0``, ``state_dict()`` / ``load_state_dict()`` also follow the torchdata
    ``StatefulDataLoader`` convention.
    """

    def __init__(self, url: str, *, resume: Optional[str] = None, transform: Optional[Callable[[Batch], T]] = None, **loader_options: Any) -> None:
        super().__init__()
        self.url = url
        self._checkpoint = resume
        self._transform: Callable[[Batch], Any] = transform if transform is not None else _identity
        self._options = loader_options

    def __iter__(self) -> Iterator[T]:
        info = get_worker_info()
        if info is not None and info.num_workers > 1:
            raise RuntimeError(f"FeedDataset is one ordered stream: use num_workers=0 or 1, not {info.num_workers} (each worker would read the whole feed)")
        loader = FeedLoader(self.url, resume=self._checkpoint, **self._options)
        for batch in loader:
            self._checkpoint = batch.checkpoint
            yield self._transform(batch)

    def state_dict(self) -> Dict[str, Any]:
        return {"checkpoint": self._checkpoint}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._checkpoint = state.get("checkpoint")
