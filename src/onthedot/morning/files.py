"""The release files the scheduler cannot read, as the service reports them (log, ``/api/health``).

A broken file is one bad file: every other release is still published on time. A release whose
file broke after it was read keeps its last good version (the one in the store) and is still
published at its time; the problem says so. The scheduler replaces the whole list at once
(``FileProblems.replace``) and the dashboard reads it from another thread (``current``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FileProblem:
    file: str
    problems: tuple[str, ...]
    """Every ``file:line: field: what is wrong`` of the file (at least one)."""
    kept: str | None = None
    """The id of the release still published from its last good version, if any."""

    @property
    def message(self) -> str:
        """One line for a person: the first problem, how many more, and what is still published."""
        text = self.problems[0]
        if len(self.problems) > 1:
            text += f" (and {len(self.problems) - 1} more: run `onthedot check {self.file}`)"
        return text + self._still_published()

    @property
    def public_message(self) -> str:
        """The same for anyone (``/api/health``): the file named, nothing it says, as a problem
        may quote an embargoed artefact path or file name."""
        said = f"{self.file} cannot be read: run `onthedot check {self.file}` to see why."
        return said + self._still_published()

    def _still_published(self) -> str:
        if not self.kept:
            return ""
        return (
            f" Release {self.kept!r} is still published at its time, as it was last read "
            "(the version in the store)."
        )


class FileProblems:
    """The current list, safe to replace from one thread while another reads it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: tuple[FileProblem, ...] = ()

    def replace(self, problems: Iterable[FileProblem]) -> None:
        with self._lock:
            self._problems = tuple(problems)

    def current(self) -> tuple[FileProblem, ...]:
        with self._lock:
            return self._problems
