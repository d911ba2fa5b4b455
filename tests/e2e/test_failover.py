"""Failover: two ``onthedot run`` on one PostgreSQL store; the leader SIGKILLed around T.

A file target under a real nginx origin and a Varnish edge (old bytes cached, ``-t 3600``,
``purge = ["varnish://…"]``), three releases one after the other, and a chain of instances (real
subprocesses, ``tests.e2e.helpers.start_service``): the leader is SIGKILLed at T − 1 s of the
first release, at T of the second, at T + 0.5 s of the third; each time a standby is running
(it must lead within 2 s), and a new standby is started once it has taken over. For every
release: the edge has the new bytes (by T + 2 s when the leader died before T) and never before
T, exactly one ``publish.staged``, ``publish.flipped`` and ``publish.done``, and ``onthedot
timeline --verify`` passes (no event lost or changed). ``bench/bench_failover.py`` is the same, with a baseline, and
puts its figures in docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from bench.bench_failover import EDGE_BY_S, TAKE_OVER_S, failover_run
from bench.bench_publish import Site, start_site

from tests.conftest import _postgres_url

pytestmark = [pytest.mark.postgres, pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def database() -> Iterator[str]:
    yield from _postgres_url()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with ExitStack() as stack:
        yield start_site("file", stack, tmp_path / "site")


def test_a_standby_publishes_when_the_leader_is_killed_around_t(
    tmp_path: Path, database: str, site: Site
) -> None:
    cases = failover_run(tmp_path / "failover", database, site, kills=(-1.0, 0.0, 0.5))
    assert not cases[0]["tracebacks"]
    for case in cases:
        where = f"{case['release']} (leader killed at T{case['kill_s']:+} s): {case}"
        assert case["roles_before"], where  # one led and one stood by before the kill
        assert case["take_over_s"] is not None and case["take_over_s"] <= TAKE_OVER_S, where
        assert case["edge_new_s"] is not None, where  # published, whenever it was killed
        if case["kill_s"] < 0:  # a standby existed before T: the new bytes by T + 2 s
            assert case["edge_new_s"] <= EDGE_BY_S, where
        assert not case["early"], where
        assert case["verify_ok"], where
        for kind in ("publish.staged", "publish.flipped", "publish.done"):
            assert case["kinds"].get(kind) == 1, (kind, where)
