"""Update a .env file in place: replace the lines of the variables given, append the others, keep every other
line (comments, order, blank lines) as it was."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
# Values python-dotenv reads back unchanged without quotes.
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@,+-]*$")


def _quoted(value: str) -> str:
    if _PLAIN.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def update_env_file(path: str | Path, values: Mapping[str, str]) -> list[str]:
    """Set each variable of `values` in the file (created if missing, mode 600); return the names changed."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    current: dict[str, str] = {}
    from dotenv import dotenv_values

    if path.exists():
        current = {k: v or "" for k, v in dotenv_values(path).items()}
    changed = [name for name, value in values.items() if current.get(name) != value]
    if not changed:
        return []
    pending = {name: values[name] for name in changed}
    out = []
    for line in lines:
        match = _ASSIGNMENT.match(line)
        name = match.group(1) if match else None
        if name in pending:
            out.append(f"{name}={_quoted(pending.pop(name))}")
        elif name in changed:
            continue  # a second assignment of a variable already rewritten above
        else:
            out.append(line)
    out.extend(f"{name}={_quoted(value)}" for name, value in pending.items())
    tmp = path.with_name(path.name + ".tmp")
    # The file holds secrets: readable by its owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write("\n".join(out) + "\n")
    os.replace(tmp, path)
    return changed
