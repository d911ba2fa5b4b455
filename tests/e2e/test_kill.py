"""Chaos: SIGKILL a real ``onthedot publish`` at a random moment, start it again: exactly one publication.

The file target under a real nginx origin and Varnish edge (``-t 3600``, ``purge = ["varnish://…"]``).
Each case kills the venv's ``onthedot publish RELEASE --watch 1 --json`` inside one phase (before
staging, mid-staging of a large file, waiting for T, right after the flip, during purge/verify) at
a seeded random offset, expires its lease as if 15 s had passed, runs the command again to the end
and checks: the new bytes at the target and at the edge, one ``publish.flipped``, one
``publish.done``, one ``publish.staged`` whose manifest matches the files, ``timeline --verify``
passes, never early at the edge, and no ``.onthedot-*`` staged copies left behind.
``bench/bench_kill.py`` is the same over 30 runs and FTP too, with figures in docs/benchmarks.md.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from bench.bench_kill import kill_run
from bench.bench_publish import Site, start_site

pytestmark = pytest.mark.services

BIG_BYTES = 8 * 2**20
LEAD_S = 3.0
CASES = [
    (0, "before-staging"),
    (1, "mid-staging"),
    (2, "mid-staging"),
    (3, "waiting-for-T"),
    (4, "right-after-flip"),
    (5, "right-after-flip"),
    (6, "purge-verify"),
    (7, "purge-verify"),
]


@pytest.fixture(scope="module")
def file_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Path]]:
    work = tmp_path_factory.mktemp("kill")
    with ExitStack() as stack:
        yield start_site("file", stack, work), work


@pytest.mark.parametrize(("run", "phase"), CASES, ids=[f"{r}-{p}" for r, p in CASES])
def test_killed_publisher_publishes_exactly_once_after_restart(
    file_site: tuple[Site, Path], run: int, phase: str
) -> None:
    site, work = file_site
    result = kill_run(
        site, work, run, phase, random.Random(run), big_bytes=BIG_BYTES, lead_s=LEAD_S
    )
    checks = result["checks"]
    context = {k: result[k] for k in ("phase_hit", "killed_vs_t_ms", "at_kill", "outcome_error")}
    assert all(checks.values()), f"{checks} {context}"
    assert result["staged_events"] == 1
    assert result["leftovers"] == [], f"staged copies left at the target {context}"
