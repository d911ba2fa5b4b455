"""The 2019 incident (the seed) as onthedot would have recorded it, built with Timeline.append.

18 December 2019 (GMT, so London time = UTC): the spreadsheet published by FTP at 09:30, a Varnish
cache with a 1-hour TTL and no purger keeps serving the previous version, the statistician and the
Head of Profession are informed, IT purges the cache at 10:35, a notice goes up at 11:35, and the
officials' briefing is held until the release is live.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.model import Artefact, Release, Site
from onthedot.record import kinds
from onthedot.record.timeline import Timeline

TITLE = "Fatal injuries arising from accidents at work in Great Britain: Summary for April to September 2019"
PRODUCER = "Health and Safety Executive (HSE)"
PUBLIC = "https://www.hse.gov.uk"
PATH = "/statistics/fatalquarterly.xlsx"
URL = PUBLIC + PATH
NEW = "a" * 64
OLD = "b" * 64
T = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)
BRIEFING = "the update on the quarterly statistics for HSE officials"


def at(hh: int, mm: int, ss: int = 0) -> dt.datetime:
    return dt.datetime(2019, 12, 18, hh, mm, ss, tzinfo=dt.UTC)


def release_2019(**changes: Any) -> Release:
    fields: dict[str, Any] = {
        "id": "fatal-injuries-2019-apr-sep",
        "title": TITLE,
        "producer": PRODUCER,
        "release_at": T,
        "announced_at": dt.datetime(2019, 11, 1, 9, 30, tzinfo=dt.UTC),
        "lead_statistician": "Jane Smith <jane.smith@hse.gov.uk>, 0300 000 0000",
        "head_of_profession": "A Head <hop@hse.gov.uk>",
        "site": Site(public=PUBLIC, origin="http://origin.hse.internal", target="ftp://publisher@origin.hse.internal/"),
        "artefact": (Artefact(path=PATH, sha256=NEW, size=52_000),),
    }
    fields.update(changes)
    return Release(**fields)


def result(when: dt.datetime, status: str, *, vantage: str = "default", age: int | None = None) -> dict[str, Any]:
    stale = status == "stale"
    return {
        "url": URL,
        "status": status,
        "served_sha256": OLD if stale else NEW,
        "expected_sha256": NEW,
        "diagnosis": (
            f"The cache served the old file (Age {age:,} s of max-age 3,600): purge {PATH} or wait {3600 - (age or 0)} s."
            if stale else "The new file is served."
        ),
        "cache": {"product": "varnish", "hit": stale, "age": age, "cache_control": {"max-age": "3600"},
                  "served_by": "cache-lon-1" if vantage != "origin" else None},
        "vantage": vantage,
        "checked_at": when.isoformat(),
        "http_status": 200,
        "layer": "cache" if stale else None,
    }


async def record_2019(engine: AsyncEngine, release: Release | None = None) -> Release:
    release = release or release_2019()
    tl = Timeline(engine)
    rid = release.id

    async def add(kind: str, data: dict[str, Any], when: dt.datetime, actor: str = "onthedot", source: str = "onthedot") -> None:
        await tl.append(rid, kind, data, actor=actor, source=source, at=when)

    jane = {"by": "Jane Smith", "by_role": "statistician responsible for the release"}
    await add(kinds.PUBLISH_STAGED, {"target": "ftp://publisher@origin.hse.internal/", "manifest": [
        {"path": PATH, "sha256": NEW, "size": 52_000, "location": "/statistics/.onthedot-0f"}]}, at(9, 0))
    await add(kinds.CLOCK_OFFSET, {"reference": "the HTTP Date of https://www.hse.gov.uk", "offset_s": 0.012, "uncertainty_s": 0.5}, at(9, 29, 50))
    await add(kinds.PUBLISH_FLIPPED, {"target": "ftp://publisher@origin.hse.internal/", "paths": [PATH], "release_at": T.isoformat(), "late_s": 0.004}, at(9, 30))
    await add(kinds.VERIFY_RESULT, result(at(9, 30, 1), "live", vantage="origin"), at(9, 30, 1))
    await add(kinds.VERIFY_RESULT, result(at(9, 30, 1), "stale", age=2940), at(9, 30, 1))
    await add(kinds.ALERT_SENT, {"to": "Jane Smith (statistician responsible for the release)", "channel": "email", "message": "not live"}, at(9, 30, 2))
    await add(kinds.PERSON_INFORMED, {**jane, "name": "B Lead", "role": "Head of Statistics"}, at(9, 33), "Jane Smith", "cli")
    await add(kinds.PERSON_INFORMED, {**jane, "name": "A Head", "role": "Head of Profession for Statistics"}, at(9, 33, 30), "Jane Smith", "cli")
    await add(kinds.ACTION_TAKEN, {"by": "Jane Smith", "role": "statistician responsible for the release", "what": "referred the problem to HSE's IT providers"}, at(9, 36), "Jane Smith", "cli")
    await add(kinds.GATE_HELD, {**jane, "gate": "briefing", "what": BRIEFING, "text": BRIEFING}, at(9, 40), "Jane Smith", "cli")
    for when in (at(9, 45), at(10, 0), at(10, 30)):
        await add(kinds.VERIFY_RESULT, result(when, "stale", age=2940 + int((when - at(9, 30, 1)).total_seconds())), when)
    await add(kinds.ACTION_TAKEN, {"by": "HSE IT service desk", "role": "HSE's IT provider", "what": "purged the cache on the web server"}, at(10, 35), "HSE IT service desk", "cli")
    await add(kinds.VERIFY_RESULT, result(at(10, 35, 2), "live"), at(10, 35, 2))
    await add(kinds.VERIFY_ALL_LIVE, {"urls": [URL], "vantages": ["default"], "at": at(10, 35, 2).isoformat()}, at(10, 35, 2))
    await add(kinds.GATE_RELEASED, {**jane, "gate": "briefing", "what": BRIEFING, "text": BRIEFING}, at(10, 45), "Jane Smith", "cli")
    await add(kinds.NOTICE_PUBLISHED, {"by": "HSE online publishing team", "url": "https://www.hse.gov.uk/statistics/fatals.htm",
                                       "text": "The quarterly statistics were published late today because of a problem with our website"}, at(11, 35), "HSE online publishing team", "cli")
    return release
