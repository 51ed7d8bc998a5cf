"""User-facing errors: the CLI prints them as one line, never as a traceback."""

from __future__ import annotations

from collections.abc import Callable
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


class OptionError(RsqError):
    """A bad value of one option or parameter, named without dashes (`after`, `image_weight`) so that each front
    end names it its own way: the CLI says `--after …` (the message), the API `after …` (`phrased(str)`).
    In `problem`, `{field}`s are filled from `values` (what the user gave) or else name other options."""

    def __init__(self, option: str, problem: str, **values: object) -> None:
        self.option, self.problem, self.values = option, problem, values
        super().__init__(self.phrased(cli_flag))

    def phrased(self, name: Callable[[str], str]) -> str:
        """The message with every option named by `name`."""
        return f"{name(self.option)} {self.problem.format_map(_Fields(name, self.values))}"


def cli_flag(option: str) -> str:
    """How the CLI spells an option: `image_weight` → `--image-weight`."""
    return "--" + option.replace("_", "-")


class _Fields(dict):
    def __init__(self, name: Callable[[str], str], values: dict[str, object]) -> None:
        super().__init__(values)
        self._name = name

    def __missing__(self, option: str) -> str:
        return self._name(option)


def check_range(option: str, value: float | None, low: float | None = None, high: float | None = None) -> None:
    """Refuse an option value outside [low, high] (None: the option was not given); `option` named without dashes."""
    if value is None or ((low is None or value >= low) and (high is None or value <= high)):
        return
    if low is not None and high is not None:
        bounds = f"between {low} and {high}"
    else:
        bounds = f"at least {low}" if low is not None else f"at most {high}"
    raise OptionError(option, "must be {bounds}, got {value}", bounds=bounds, value=value)
