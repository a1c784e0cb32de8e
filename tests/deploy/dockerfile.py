"""Just enough Dockerfile and .dockerignore reading for the deploy tests.

`parse_stages` splits a Dockerfile into build stages of (instruction, arguments) pairs, with
continuation lines joined and comments dropped. `DockerIgnore` answers "does this path reach the
build context?" with the rules of Docker's pattern matcher: patterns are `filepath.Match` globs
plus `**`, a path is also excluded when one of its parent directories matches, and the last
matching pattern wins (`!` re-includes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]


def logical_lines(text: str) -> list[str]:
    """Dockerfile lines with `\\` continuations joined and comment lines dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return [line for line in lines if line.strip()]


def parse_stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults (before the first FROM) and the stages in file order."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        instruction, _, arguments = line.partition(" ")
        instruction, arguments = instruction.upper(), arguments.strip()
        if instruction == "FROM":
            parts = [p for p in arguments.split() if not p.startswith("--platform")]
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        elif not stages:
            if instruction == "ARG" and "=" in arguments:
                key, value = arguments.split("=", 1)
                global_args[key] = value
        else:
            stages[-1].instructions.append((instruction, arguments))
    return global_args, stages


def copy_sources(arguments: str) -> list[str]:
    """The source paths of a COPY instruction from the build context (not `--from`)."""
    words = arguments.split()
    if any(word.startswith("--from=") for word in words):
        return []
    paths = [word for word in words if not word.startswith("--")]
    return paths[:-1]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Docker's translation of a .dockerignore pattern into a regular expression."""
    out, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*" and pattern.startswith("*", index):
            index += 1
            if pattern.startswith("/", index):  # "**/" is read as "**"
                index += 1
            out += ".*" if index == len(pattern) else "(?:.*/)?"
        elif char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "\\" and index < len(pattern):
            out += re.escape(pattern[index])
            index += 1
        elif char in ".+()|{}$^":
            out += "\\" + char
        else:  # letters, "/", and the brackets of character classes
            out += char
    return re.compile(f"^{out}$")


@dataclass(frozen=True)
class IgnoreRule:
    regex: re.Pattern[str]
    include: bool


class DockerIgnore:
    """The rules of one .dockerignore file."""

    def __init__(self, text: str) -> None:
        self.rules: list[IgnoreRule] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            pattern = line[1:].strip() if include else line
            pattern = str(Path(pattern)).lstrip("/")  # Docker cleans patterns: "model/" -> "model"
            self.rules.append(IgnoreRule(glob_regex(pattern), include))

    def excluded(self, relative_path: str) -> bool:
        """True when the file at `relative_path` (from the context root) is left out."""
        parts = Path(relative_path).parts
        candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
        excluded = False
        for rule in self.rules:
            if any(rule.regex.match(candidate) for candidate in candidates):
                excluded = not rule.include
        return excluded
