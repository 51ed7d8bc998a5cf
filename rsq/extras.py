"""Optional dependencies: import one, or say in one line what installs it (an rsq extra, or a package)."""

from __future__ import annotations

import importlib
from typing import Any

from rsq.errors import RsqError


def require(module: str, extra: str | None = None, package: str | None = None, needed_by: str = "this") -> Any:
    """The imported `module`; if it is missing, a RsqError naming what needs it and what installs it:
    `rsq[extra]`, or else the PyPI `package`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RsqError(f"{needed_by} needs {module}: {install_hint(extra, package or module)}") from None


def install_hint(extra: str | None, package: str) -> str:
    """`install rsq[EXTRA] (pip install 'rsq[EXTRA]')`, or `pip install PACKAGE`."""
    return f"install rsq[{extra}] (pip install 'rsq[{extra}]')" if extra else f"pip install {package}"


def is_installed(module: str) -> bool:
    """Whether `module` can be imported here (without importing it)."""
    return importlib.util.find_spec(module) is not None
