"""How many of rsq's files and functions one command passes through (a reader following it opens them all).

Runs the command in-process under a profile hook and counts the distinct rsq source files and functions
entered, and how often the path crosses back into a file it left (the "bouncing" a reader does).
Run: .venv/bin/python bench/code_paths.py -- search "flooded farmland" --index DIR --bbox -1,38,0,39
     .venv/bin/python bench/code_paths.py -- index STORE --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import rsq

ROOT = Path(rsq.__file__).parent


def trace(argv: list[str]) -> dict[str, object]:
    """Files, functions and file re-entries of rsq's own code while `rsq argv` runs."""
    from typer.testing import CliRunner

    from rsq.cli import app

    functions: set[tuple[str, str]] = set()
    visits: list[str] = []

    def hook(frame, event, _arg):
        if event != "call" or not frame.f_code.co_filename.startswith(str(ROOT)):
            return
        name = str(Path(frame.f_code.co_filename).relative_to(ROOT.parent))
        if "<" not in frame.f_code.co_qualname:  # module bodies, lambdas and comprehensions are not functions
            functions.add((name, frame.f_code.co_qualname))
        if not visits or visits[-1] != name:
            visits.append(name)

    sys.setprofile(hook)
    try:
        result = CliRunner().invoke(app, argv)
    finally:
        sys.setprofile(None)
    files = {name for name, _ in functions}
    return {
        "exit_code": result.exit_code,
        "output": result.output,
        "files": len(files),
        "functions": len(functions),
        "file_switches": len(visits) - 1,
        "by_file": sorted(files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="the rsq command line, after --")
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    report = trace(argv)
    print(
        f"rsq {' '.join(argv)}\n  exit {report['exit_code']}: {report['files']} files, "
        f"{report['functions']} functions, {report['file_switches']} switches between files"
    )
    if report["exit_code"]:
        print(report["output"])
    for name in report["by_file"]:
        print(f"    {name}")


if __name__ == "__main__":
    main()
