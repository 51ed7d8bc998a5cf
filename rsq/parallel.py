"""Small concurrency helpers shared by the stages: ordered prefetching and batching."""

from __future__ import annotations

import queue
import threading
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


def run_ahead(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """`items` produced in a background thread, at most `depth` ahead of the consumer (so producing the next one
    overlaps using this one); an error in the producer is raised here, and closing this iterator stops it."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(buffer, (True, item), stop):
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            _put(buffer, (False, error), stop)
            return
        _put(buffer, (False, None), stop)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            more, item = buffer.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()


def _put(buffer: queue.Queue, entry: tuple, stop: threading.Event) -> bool:
    """Put `entry` unless the consumer has gone; False when it has."""
    while not stop.is_set():
        try:
            buffer.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
