"""Chaos around T with a leader and a standby (``bench/bench_chaos.py``, run once each): the store
stopped for 5 s around T, the purge API failing, the origin frozen. Whatever happens: one flip,
one end, the hash chain intact, one leader at the end, and the damage detected (a late breach; a
stale incident; an error incident)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from bench.bench_chaos import FROZEN_S, OUTAGE_S, origin_down, purge_fails, store_down
from bench.bench_publish import Site, start_site

from tests.conftest import _postgres_url

pytestmark = [pytest.mark.postgres, pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with ExitStack() as stack:
        yield start_site("file", stack, tmp_path / "site")


def _published_once(case: dict[str, object]) -> None:
    kinds = case["kinds"]
    assert isinstance(kinds, dict)
    for kind in ("publish.staged", "publish.flipped", "publish.done"):
        assert kinds.get(kind) == 1, (kind, case)
    assert case["verify_ok"] and case["leaders_at_end"] == 1 and not case["early"], case


def test_the_store_stopped_around_t_delays_the_flip_until_it_is_back(
    tmp_path: Path, site: Site
) -> None:
    case = store_down(tmp_path / "store-down", site)
    _published_once(case)
    late = case["flip_late_s"]
    assert isinstance(late, float) and late >= OUTAGE_S / 2 - 0.1, case  # nothing flips unrecorded
    assert case["edge_new_s"] is not None, case
    assert "late" in case["breaches"], case
    assert not case["tracebacks"], case  # the store away is one sentence in the log, each time


def test_a_failing_purge_api_leaves_the_edge_stale_and_says_so(tmp_path: Path, site: Site) -> None:
    urls = _postgres_url()
    try:
        case = purge_fails(tmp_path / "purge-fails", site, next(urls))
    finally:
        next(urls, None)
    _published_once(case)
    assert case["kinds"]["purge.failed"] == 1 and case["edge_new_s"] is None, case
    assert {"problem": "stale", "state": "open"} in case["incidents"], case
    assert "late" in case["breaches"], case  # (not live for everyone: the old file is served)


def test_a_frozen_origin_is_an_error_incident_until_it_answers(tmp_path: Path) -> None:
    urls = _postgres_url()
    try:
        with ExitStack() as stack:
            case = origin_down(tmp_path / "origin-down", stack, next(urls))
    finally:
        next(urls, None)
    _published_once(case)
    assert {"problem": "error", "state": "resolved"} in case["incidents"], case
    new = case["edge_new_s"]
    assert isinstance(new, float) and new >= FROZEN_S - 0.2, case  # (the edge had to wait)
