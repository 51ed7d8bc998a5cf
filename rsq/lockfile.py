"""One writer per folder at a time: an advisory lock file (an index's OUT/writer.lock, the models folder's
install.lock), released when the process ends."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rsq.errors import RsqError

LOCK_FILE = "writer.lock"


class WriterLock:
    """`with WriterLock(root, wait=True):` holds the folder's lock; `wait=False` refuses if it is taken."""

    def __init__(
        self, root: Path, wait: bool = True, on_wait: Callable[[str], None] | None = None, name: str = LOCK_FILE
    ) -> None:
        self.path = root / name
        self.wait, self.on_wait = wait, on_wait
        self._fd: int | None = None

    def __enter__(self) -> WriterLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RsqError(f"cannot open the writer lock {self.path}: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            if not self.wait:
                os.close(fd)
                raise RsqError(
                    f"{self.path.parent} is being written by {holder}; try again later, or drop --no-wait to wait"
                ) from None
            if self.on_wait:
                self.on_wait(f"waiting for {holder} to finish writing {self.path.parent}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            f"rsq pid {os.getpid()} on {socket.gethostname()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S}Z\n".encode(),
            0,
        )
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
