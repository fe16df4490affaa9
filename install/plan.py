"""An install plan: each step either reuses what the helpdesk already has or creates it, and gives .env values;
`--dry-run` prints the plan and runs nothing."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, TextIO

# Variables whose values are never printed.
SECRET_SUFFIXES = ("_SECRET", "_TOKEN")


@dataclass
class Step:
    """One thing slaclock needs: `what` it is, what will happen (`action`: reuse … / create …), the .env values it
    gives (`env`, plus what `run` returns: run on apply, never on a dry run) and what is left to do by hand."""

    what: str
    action: str
    env: dict[str, str] = field(default_factory=dict)
    run: Callable[[], Mapping[str, str]] | None = None
    by_hand: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The steps of one helpdesk, in order, and the to-dos that belong to no step."""

    helpdesk: str
    steps: list[Step] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)

    def print(self, out: TextIO) -> None:
        """The plan, one line per step."""
        print(f"plan for {self.helpdesk}:", file=out)
        for step in self.steps:
            print(f"  - {step.what}: {step.action}", file=out)

    def apply(self) -> dict[str, str]:
        """Run each step that writes; return every .env value of the plan."""
        values: dict[str, str] = {}
        for step in self.steps:
            if step.run is not None:
                step.env.update(step.run())
            values.update(step.env)
        return values

    def to_do(self) -> list[str]:
        return [*(line for step in self.steps for line in step.by_hand), *self.by_hand]


def missing_fields(named: Iterable[tuple[str, str]], present: set[str], noun: str, holder: str,
                   where: str) -> list[str]:
    """A to-do per custom field the rules file names (`named`: (rules key, field id), `checks.rules_fields`) that
    the helpdesk does not have: install creates only its own fields, and a rule reading an absent field reads
    nothing (a resolution path that cannot be filled in puts back every solve)."""
    keys: dict[str, list[str]] = {}
    for key, fid in named:
        if fid not in present:
            keys.setdefault(fid, []).append(key)
    return [f"the rules file names {noun} {fid} ({', '.join(names)}), which {holder} does not have: create the "
            f"field ({where}) and put its id in the rules file in place of {fid}, or turn the rule off"
            + ("; until then each solve is put back, as the resolution path cannot be filled in"
               if any(n.startswith("resolution_path.") for n in names) else "")
            for fid, names in keys.items()]


def shown(name: str, value: str) -> str:
    """`NAME=value`, or `NAME (secret, not shown)`."""
    return f"{name} (secret, not shown)" if name.endswith(SECRET_SUFFIXES) else f"{name}={value}"
