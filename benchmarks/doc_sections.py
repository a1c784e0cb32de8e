"""Each benchmark owns one marked section of a shared Markdown report and rewrites only that."""

from __future__ import annotations

import sys
from pathlib import Path

TITLE = "# Benchmarks\n\nEvery figure here was produced by the command printed above it.\n"


def command_line(script: str) -> str:
    """The command that is running, as a report prints it: `python SCRIPT ARGS...`."""
    return " ".join(["python", script, *sys.argv[1:]])


def replace_section(path: Path, name: str, body: str) -> None:
    """Put `body` between `<!-- name:start -->` and `<!-- name:end -->`, appending if absent."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else TITLE
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
