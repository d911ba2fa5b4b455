"""A busy release morning in a store: many releases of many files each, all due at the same T.

Each release's files were found embargoed five minutes before T; the sweep at T + 3 s found all of
them live but the last ``stale`` ones, still served old by the cache. Shared by the board's
user-side test (tests/web/test_board_morning.py) and its figure (bench/board_figure.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Artefact, CheckResult, Release, Site, Status
from onthedot.record.checks import CheckRecorder
from onthedot.store.releases import ReleaseRepository

T = dt.datetime(2026, 12, 8, 9, 30, tzinfo=dt.UTC)
SWEPT = T + dt.timedelta(seconds=3)
PUBLIC = "https://www.statistics.example"
NEW = hashlib.sha256(b"this morning's figures").hexdigest()
OLD = hashlib.sha256(b"last month's figures").hexdigest()


def stale_sentence(path: str) -> str:
    return (
        "The cache (Varnish) served the old file (Age 1,204 s of max-age 3,600 s) while the "
        f"origin has the new one: purge {path} or wait 2,396 s."
    )


def morning_release(n: int, files: int) -> Release:
    return Release(
        id=f"bulletin-{n:03d}",
        title=f"Quarterly bulletin {n:03d}: the new figures",
        producer="Office for Testing Statistics",
        release_at=T,
        site=Site(public=PUBLIC),
        artefact=tuple(
            Artefact(path=f"/statistics/{n:03d}/table-{i:02d}.xlsx", sha256=NEW, size=24)
            for i in range(files)
        ),
    )


def paths(release: Release) -> list[str]:
    """The release's files' paths, in order."""
    return [a.path for a in release.artefact if a.path is not None]


def sweep(release: Release, status_of: dict[str, Status], at: dt.datetime) -> list[CheckResult]:
    out = []
    for path in paths(release):
        status = status_of.get(path, Status.LIVE)
        out.append(
            CheckResult(
                url=PUBLIC + path,
                status=status,
                checked_at=at,
                served_sha256=NEW if status is Status.LIVE else OLD,
                expected_sha256=NEW,
                http_status=200,
                diagnosis=(
                    stale_sentence(path)
                    if status is Status.STALE
                    else "The new version is live (served by Varnish, Age 3 s)."
                ),
            )
        )
    return out


async def fill_morning(
    engine: AsyncEngine, releases: int = 200, files: int = 50, stale: int = 2, swept: bool = True
) -> list[Release]:
    """``releases`` releases of ``files`` files each, due at T; each found embargoed before T and
    (``swept``) at T + 3 s live but for its last ``stale`` files. Returns the releases."""
    made = [morning_release(n, files) for n in range(releases)]
    repo = ReleaseRepository(engine)
    recorder = CheckRecorder(engine)
    before = T - dt.timedelta(minutes=5)
    for release in made:
        await repo.sync(release, actor="test")
        embargoed = dict.fromkeys(paths(release), Status.EMBARGOED)
        await recorder.record(release.id, sweep(release, embargoed, before))
        if not swept:
            continue
        late = dict.fromkeys(paths(release)[files - stale :], Status.STALE)
        await recorder.record(release.id, sweep(release, late, SWEPT))
    return made
