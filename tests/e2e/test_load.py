"""The load benchmark, small: three releases of five URLs due at one T, two ``onthedot run`` on one
PostgreSQL store, the dashboard read from a process of its own meanwhile.

``bench/bench_load.py`` runs it at full size (200 × 50, three instances against one) and puts its
figures in docs/benchmarks.md; this keeps what it measures measurable: every URL classified after
T found in the store, one flip per release, the readers' requests on every page of both instances,
each instance's CPU during the burst.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from bench.bench_load import Shape, scenario
from bench.bench_publish import Site, start_site
from bench.dashboard_load import PAGES

pytestmark = [pytest.mark.postgres, pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with ExitStack() as stack:
        yield start_site("file", stack, tmp_path / "site")


def test_a_small_morning_under_two_instances_is_measured(tmp_path: Path, site: Site) -> None:
    found = scenario(tmp_path / "load", site, 2, Shape(releases=3, urls=5, lead_s=15, wait_s=20))

    assert found["classified_releases"] == 3, found
    assert found["all_classified_s"] is not None and found["all_classified_s"] >= 0
    assert (found["flipped_releases"], found["double_publishes"]) == (3, 0)
    readers = found["dashboard_ms"]
    assert set(readers["pages"]) == set(PAGES)
    assert readers["failed"] == 0 and readers["all"]["requests"] >= len(PAGES) * 2
    assert readers["before_t"]["requests"] and readers["after_t"]["requests"]
    assert len(found["burst_cpu_per_s"]["instances"]) == 2
    assert found["leaderships_taken"] == 1 and found["holds_lost"] == 0
    assert not any(found["tracebacks"]), found["tracebacks"]
