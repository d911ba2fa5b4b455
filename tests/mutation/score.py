"""The mutation score of the judging modules: mutmut's verdicts less the listed equivalent mutants.

Pure: :func:`tally` reads the mutants (name, verdict, mutated line) and the equivalents file's
entries, and returns one :class:`Score` per module plus the entries that went stale (the mutant is
gone, was killed, or its mutated line changed), so the list of equivalents cannot rot.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

THRESHOLD = 90.0
#: mutmut's verdicts that mean a test (or the type checker, or a hang) caught the mutant
CAUGHT = frozenset({"killed", "timeout", "caught by type check", "segfault"})
#: verdicts that mean no test noticed
MISSED = frozenset({"survived", "no tests", "suspicious"})
START, END = "<!-- mutation:start -->", "<!-- mutation:end -->"


@dataclass(frozen=True, slots=True)
class Mutant:
    name: str
    status: str
    line: str = ""  # the mutated line(s) as mutmut shows them, for survivors

    @property
    def module(self) -> str:
        return self.name.rpartition(".")[0]


@dataclass(frozen=True, slots=True)
class Equivalent:
    mutant: str
    line: str
    why: str


@dataclass(frozen=True, slots=True)
class Score:
    module: str
    mutants: int
    killed: int
    equivalent: int
    survived: int
    unfinished: int = 0

    @property
    def percent(self) -> float:
        judged = self.mutants - self.equivalent
        return 100.0 if judged == 0 else 100.0 * self.killed / judged

    @property
    def passes(self) -> bool:
        return self.unfinished == 0 and self.percent >= THRESHOLD


def load_equivalents(path: Path) -> list[Equivalent]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [Equivalent(e["mutant"], e["line"], e["why"]) for e in data.get("equivalent", [])]


def stale(mutants: Mapping[str, Mutant], listed: Iterable[Equivalent]) -> list[str]:
    """One sentence per listed equivalent that no longer holds."""
    found = []
    for entry in listed:
        mutant = mutants.get(entry.mutant)
        if mutant is None:
            found.append(f"{entry.mutant} no longer exists: remove it from the equivalents.")
        elif mutant.status in CAUGHT:
            found.append(f"{entry.mutant} is now killed, so it was not equivalent: remove it.")
        elif mutant.line and mutant.line != entry.line:
            found.append(
                f"{entry.mutant} now mutates {mutant.line!r}, not {entry.line!r}: "
                "check it again and update or remove the entry."
            )
    return found


def caught_equivalents(
    mutants: Iterable[Mutant], listed: Iterable[Equivalent], modules: Sequence[str]
) -> list[str]:
    """The listed equivalents of ``modules`` that a test caught this run: worth running again
    before calling them stale, as a test may fail by chance on a busy machine."""
    names = {e.mutant for e in listed}
    return sorted(
        m.name for m in mutants if m.name in names and m.status in CAUGHT and m.module in modules
    )


def tally(
    modules: Sequence[str], mutants: Iterable[Mutant], listed: Iterable[Equivalent]
) -> list[Score]:
    """One score per module, in the order given; listed equivalents that still survive excluded."""
    equivalent = {e.mutant for e in listed}
    by_module: dict[str, list[Mutant]] = {m: [] for m in modules}
    for mutant in mutants:
        if mutant.module in by_module:
            by_module[mutant.module].append(mutant)
    return [_score(module, found, equivalent) for module, found in by_module.items()]


def _score(module: str, found: Sequence[Mutant], equivalent: set[str]) -> Score:
    killed = sum(m.status in CAUGHT for m in found)
    excused = sum(m.status in MISSED and m.name in equivalent for m in found)
    survived = sum(m.status in MISSED and m.name not in equivalent for m in found)
    unfinished = len(found) - killed - excused - survived
    return Score(module, len(found), killed, excused, survived, unfinished)


def table(scores: Sequence[Score]) -> str:
    """A Markdown table, one row per module."""
    rows = [
        "| module | mutants | killed | equivalent | survived | score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        rows.append(
            f"| `{s.module}` | {s.mutants} | {s.killed} | {s.equivalent} | {s.survived} "
            f"| {s.percent:.1f} % |"
        )
    return "\n".join(rows)


def with_table(document: str, rendered: str) -> str:
    """``document`` with the text between the mutation markers replaced by ``rendered``."""
    head, start, rest = document.partition(START)
    _, end, tail = rest.partition(END)
    if not (start and end):
        raise ValueError(f"the document has no {START} … {END} section")
    return f"{head}{START}\n{rendered}\n{END}{tail}"
