"""d4feed: the training loader for d4stream's feed (``d4 feed --serve``).

>>> from d4feed import FeedLoader
>>> for batch in FeedLoader("http://127.0.0.1:8765"):   # doctest: +SKIP
...     train_step(batch.texts)

With PyTorch installed, :class:`d4feed.FeedDataset` is a ``torch.utils.data.IterableDataset``
of the same batches (``DataLoader(ds, batch_size=None)``); without it, importing d4feed works
and only ``FeedDataset`` is unavailable.
"""

from typing import Any

from .loader import Batch, Document, FeedError, FeedLoader, FeedUnavailable

__all__ = ["Batch", "Document", "FeedError", "FeedLoader", "FeedUnavailable", "FeedDataset"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # FeedDataset needs torch: imported on first use, so that d4feed itself never requires it.
    if name == "FeedDataset":
        from .torch_dataset import FeedDataset

        return FeedDataset
    raise AttributeError(f"module 'd4feed' has no attribute {name!r}")
