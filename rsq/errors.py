"""User-facing errors: the CLI prints them as one line, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class RsqError(Exception):
    """An error caused by input or configuration, with a message meant for the user."""


class TileError(RsqError):
    """A tile that cannot be read or rendered; names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SourceError(RsqError):
    """A tile source (folder, glob, manifest, STAC file, dataset) that cannot be listed."""
