"""Embargo exposures: which answers give a staged copy away, and which exposures are open."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.record import kinds
from onthedot.record.exposures import open_exposures, record_changes
from onthedot.record.timeline import Timeline
from onthedot.verify.exposure import Exposure, StagedCopy, exposed
from onthedot.verify.probe import Prober
from onthedot.verify.probe_curl import CurlTransport
from tests.servers.nginx import Nginx

NEW = b"new figures, April to September 2019\n" * 5000
T0 = dt.datetime(2019, 12, 18, 9, 25, tzinfo=dt.UTC)


def _copy(tmp_path: Path, url: str | None) -> StagedCopy:
    local = tmp_path / "new.csv"
    local.write_bytes(NEW)
    sha = hashlib.sha256(NEW).hexdigest()
    return StagedCopy("/statistics/x.csv", url, "/statistics/.onthedot-1", sha, local)


@pytest.mark.services
@pytest.mark.parametrize(
    ("served", "is_exposure"),
    [
        (NEW, True),  # the whole staged file
        (NEW[:10_000], True),  # a part of it (an upload under way, a Range answer)
        (b"<html>Page not found</html>", False),  # a soft 404
        (b"", False),  # nothing
        (None, False),  # a real 404
    ],
    ids=["whole", "start", "soft-404", "empty", "404"],
)
async def test_an_answer_is_an_exposure_only_when_it_gives_staged_bytes_away(
    tmp_path: Path, webroot: Path, origin: Nginx, served: bytes | None, is_exposure: bool
) -> None:
    if served is not None:
        (webroot / "statistics").mkdir()
        (webroot / "statistics" / ".onthedot-1").write_bytes(served)
    copy = _copy(tmp_path, origin.url + "/statistics/.onthedot-1")
    unprobed = _copy(tmp_path, None)
    async with Prober(CurlTransport(), allowed_hosts=[origin.host]) as prober:
        found = await exposed(prober, [copy, unprobed])
    assert [e.copy for e in found] == ([copy] if is_exposure else [])
    if is_exposure:
        assert found[0].http_status == 200 and found[0].served_bytes == len(served or b"")


async def test_an_exposure_is_open_until_contained_flipped_or_discarded(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    timeline, seen = Timeline(engine), set[str]()
    copy = _copy(tmp_path, "https://www.example.org/statistics/.onthedot-1")
    leak = Exposure(copy, str(copy.url), 200, len(NEW))
    assert await open_exposures(engine) == []
    await record_changes(timeline, "r", [leak], seen, T0)
    await record_changes(timeline, "r", [leak], seen, T0 + dt.timedelta(minutes=1))  # no change
    (still,) = await open_exposures(engine)
    assert (still.release_id, still.since, still.urls) == ("r", T0, (copy.url,))
    fix = still.as_json()["fix"]
    assert fix.startswith("A copy of the statistics could be opened on the public website")
    assert "ask IT now" in fix and "staging=" not in fix
    await record_changes(timeline, "r", [], seen, T0 + dt.timedelta(minutes=2))
    assert await open_exposures(engine) == []  # contained: the web server refuses it now
    await record_changes(timeline, "r", [leak], seen, T0 + dt.timedelta(minutes=3))
    assert len(await open_exposures(engine)) == 1
    await timeline.append("r", kinds.PUBLISH_FLIPPED, {"paths": [copy.path]}, at=T0)
    assert await open_exposures(engine) == []  # flipped: the staged copy is gone
    kinds_seen = [e.kind for e in await timeline.events("r")]
    assert kinds_seen.count(kinds.EMBARGO_EXPOSED) == 2
    assert kinds_seen.count(kinds.EMBARGO_CONTAINED) == 1
