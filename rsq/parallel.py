"""Small concurrency helpers shared by the stages: ordered prefetching and batching."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetch(fn: Callable[[T], R], items: list[T], workers: int, ahead: int = 64) -> Iterator[tuple[T, R]]:
    """`fn` over `items` in a thread pool, in order, with at most `ahead` in flight; yields (item, result)."""
    iterator = iter(items)
    with ThreadPoolExecutor(max(workers, 1)) as pool:
        pending: deque[tuple[T, Future]] = deque((item, pool.submit(fn, item)) for item in islice(iterator, ahead))
        while pending:
            item, future = pending.popleft()
            for following in islice(iterator, 1):
                pending.append((following, pool.submit(fn, following)))
            yield item, future.result()


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
