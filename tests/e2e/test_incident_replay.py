"""The 2019 incident replayed on this machine, end to end, and the breach report it yields.

The spreadsheet is published by FTP (real vsftpd) at 09:30 on 18 December 2019 (an injected clock),
a real Varnish with a 1-hour TTL stands in front of the real nginx origin, and no purger is
configured. The publisher watches until the release is live, as it does by default: after the
first minutes the replay's clock runs 240 times faster, IT purges the cache at 10:35 (a real
PURGE), and the watch itself sees the new file from then on, with no check run by the test after
T. People record what they did with ``onthedot timeline-add``; a notice goes up at 11:35, the
officials' briefing is held until live. The report drafted from the timeline states every fact of
the seed's report, in its order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
import zipfile
from pathlib import Path

import pytest
import typer
from docx import Document

from onthedot.config import load_config, load_release
from onthedot.demo.replay import RacingClock, watch_plan
from onthedot.demo.seed import (
    INQUIRY,
    MORNING,
    NEW,
    OLD,
    PATH,
    TITLE,
    SiteAddresses,
    utc,
    write_release,
)
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.runtime import publisher_for
from onthedot.store.db import open_store
from tests.e2e.helpers import fetch, runner, write_config
from tests.record.readback import docx_text, in_order, markdown_seen, odt_text
from tests.servers.nginx import Nginx
from tests.servers.varnish import Varnish
from tests.servers.vsftpd import Vsftpd

pytestmark = pytest.mark.services

# the seed's facts, in its order, in every format (they hold whether the release was seen live at
# 10:35 by a later check, as here, or by a watch that keeps looking until it is live)
FACTS = [
    "Report of a breach of the Code of Practice for Statistics",
    TITLE,
    "Health and Safety Executive (HSE)",
    "Jane Smith <jane.smith@example.org>",
    "Principle T3: Orderly release",
    "Practice T3.6: Statistics should be released to all users at 9.30am on a weekday.",
    "due at 09:30 on Wednesday 18 December 2019",
    "The new version was put on the web server at 09:30.",
    "Checks of the public website from 09:30 showed the previous version until 10:35; the web "
    "server itself had the new version from 09:30.",
    "informed the Head of Profession for Statistics",
    "referred the problem to HSE's IT providers",
    "At 10:35 HSE IT service desk (HSE's IT provider) purged the cache",
    "At 11:35 a notice alerting users was published",
    "for 1 hour 5 minutes, from 09:30 to 10:35",
    "Jane Smith noticed the problem at 09:32: in the routine check of the website made for every release",
    "3. Impact of the breach",
    "held back from 09:40 until the statistics were live",
    "4. Corrective actions",
    "At 09:37 Jane Smith",  # short-term actions in time order
    "At 09:40 the update on the quarterly statistics for HSE officials was held back",
    "At 10:35 HSE IT service desk",
    "At 11:35 a notice",
    "The web server had the new file while browsers were given the old one from a cache.",
    "The fault does not appear on the test (UAT) web server",
    "the root cause has not yet been fully addressed",
    "Tests of the server configuration with HSE's IT providers in early January 2020",
    "Clear the web cache automatically at the moment of release, and test that it has worked.",
    "Annex A",
    "Annex C: the record this report was drafted from",
]
# what a reader at the regulator should never meet in the body of the report
TOOL_TALK = [
    "onthedot",
    "Varnish",
    "varnish",
    "nginx",
    "purger",
    "max-age",
    "Age ",
    "vantage",
    "`",
    "[site]",
    "://HOST",
    "ftp://",
    "HTTP Date",
    "python-docx",
    "Cache-Control",
    "preflight",
    "timeline-add",
    "Europe/London",
    "FTP",
    "(default)",
    "Cause: cache",
    # every phrase the issue quotes from the first draft
    "as recorded in",
    "timeline",
    "host clock",
    "±",
    "Varnish, Age",
    "vantage point(s)",
    "were affected (default)",
    "Configure a purger",
    "purge list",
    "varnish://",
    "Run `onthedot preflight",
    "stopped checking",
    "still not live",
    "1 hour 5 minutes 2 seconds",
    "10:35:02",
    "09:36:00",
    "28 of 29 checks",
    "checks found the new version missing",
    "publish.staged",
    "gate.held",
    ".onthedot-",
    "New content visible before the release time",  # the seed's release was never early
]
BODY_ENDS = "Annex A:"  # the body is everything before the annexes' first heading


def tool_talk(text: str) -> list[str]:
    """The forbidden phrases in ``text``, and every time given to the second."""
    return [p for p in TOOL_TALK if p in text] + re.findall(r"\b\d\d:\d\d:\d\d\b", text)


def body_of(text: str) -> str:
    """The report before its annexes (the body a regulator reads first)."""
    assert text.count(BODY_ENDS) == 1, text
    return text.split(BODY_ENDS)[0]


def read_back(fmt: str, data: bytes) -> str:
    if fmt == "md":
        return markdown_seen(data.decode("utf-8"))
    if fmt == "html":
        return html.unescape(re.sub(r"<[^>]+>", "", data.decode("utf-8")))
    return docx_text(data) if fmt == "docx" else html.unescape(odt_text(data))


def odt_properties(path: Path) -> dict[str, str]:
    """What LibreOffice shows in File › Properties: title, author and dates (meta.xml)."""
    with zipfile.ZipFile(path) as archive:
        meta = archive.read("meta.xml").decode("utf-8")
    wanted = ("title", "creator", "initial-creator", "creation-date", "date")
    found = re.findall(r"<(?:dc|meta):([a-z-]+)>([^<]*)</", meta)
    return {name: html.unescape(value) for name, value in found if name in wanted}


def add(config: Path, db: str, release: Path, *args: str) -> None:
    result = runner.invoke(
        app_(), ["--config", str(config), "--database", db, "timeline-add", str(release), *args]
    )
    assert result.exit_code == 0, result.stdout


def app_() -> typer.Typer:
    from onthedot.cli import app

    return app


def test_2019_incident_replay(tmp_path: Path, ftp_server: Vsftpd, database_url: str) -> None:
    """On the embedded SQLite store and on PostgreSQL alike."""
    for folder in ("www", "staging"):
        (ftp_server.root / folder).mkdir()
    origin = Nginx(ftp_server.root / "www").start()
    cache = Varnish(origin.host, origin.port, default_ttl=3600).start()
    try:
        target = ftp_server.root / "www" / PATH.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(OLD)
        assert fetch(cache.url + PATH)[1] == OLD  # last quarter's file, in the cache since 08:40

        config = write_config(tmp_path)
        # the staged copy waits outside the served tree, as in 2019 nothing was reachable early
        target_url = f"{ftp_server.url}www?staging=/staging"
        release_file = write_release(
            tmp_path / "rel", SiteAddresses(cache.url, origin.url, target_url)
        )
        db = database_url
        asyncio.run(_publish_at_0930_and_watch(release_file, config, db, cache.url + PATH))
        assert target.read_bytes() == NEW  # the FTP upload worked: the origin has the new file

        for step in [*MORNING, *INQUIRY]:  # what people did, as the seed tells it
            add(config, db, release_file, *step.cli_args())

        for fmt in ("md", "html", "docx", "odt"):
            out = tmp_path / f"report.{fmt}"
            result = runner.invoke(
                app_(),
                [
                    "--config",
                    str(config),
                    "--database",
                    db,
                    "report",
                    str(release_file),
                    "--format",
                    fmt,
                    "-o",
                    str(out),
                    "--date",
                    "2019-12-19",
                ],
            )
            assert result.exit_code == 0, result.stdout
            text = read_back(fmt, out.read_bytes())
            assert in_order(text, [*FACTS[:2], cache.url + PATH, *FACTS[2:]]) == [], text
            body = body_of(text)
            assert "Annex C" not in body and tool_talk(body) == [], body
        props = Document(str(tmp_path / "report.docx")).core_properties
        assert (props.author, props.created) == (
            "Jane Smith, Health and Safety Executive (HSE)",
            dt.datetime(2019, 12, 19, tzinfo=dt.UTC),
        )
        assert TITLE in props.title and "python-docx" not in (props.author + props.last_modified_by)
        assert odt_properties(tmp_path / "report.odt") == {
            "title": f"Report of a breach of the Code of Practice for Statistics: {TITLE}",
            "creator": "Jane Smith, Health and Safety Executive (HSE)",
            "initial-creator": "Jane Smith, Health and Safety Executive (HSE)",
            "creation-date": "2019-12-19T00:00:00",
            "date": "2019-12-19T00:00:00",
        }
        said = runner.invoke(
            app_(), ["--config", str(config), "--database", db, "statement", str(release_file)]
        )
        assert said.exit_code == 0, said.stdout
        assert "1 hour 5 minutes late" in said.stdout and "We apologise" in said.stdout
        words = " ".join(re.sub(r"<h2>.*</h2>|<[^>]+>", "", said.stdout).split())
        assert tool_talk(words) == [] and "Jane Smith" not in words, words
        assert 3 <= len(re.split(r"(?<=\.) (?=[A-Z“])", words)) <= 5, words
        result = runner.invoke(
            app_(), ["--database", db, "timeline", str(release_file), "--verify"]
        )
        assert result.exit_code == 0, result.stdout
    finally:
        cache.stop()
        origin.stop()


async def _publish_at_0930_and_watch(
    release_file: Path, config_path: Path, db: str, public_url: str
) -> None:
    """Publish at 09:30 and watch until live (the default); IT purges the cache at 10:35."""
    config = load_config(config_path)
    release = load_release(release_file, config)
    engine = await open_store(db)
    clock = RacingClock(utc(9, 29, 58), [public_url], purge_at=utc(10, 35))

    async def the_hour_passes() -> None:
        while clock.now() < utc(9, 30, 10):
            await asyncio.sleep(0.05)
        clock.race()  # (the test itself looks at nothing after T: only the watch does)

    try:
        async with publisher_for(
            engine, release, clock, plan=watch_plan(), settings=config.verify
        ) as publisher:
            racing = asyncio.create_task(the_hour_passes())
            outcome = await publisher.publish(release)
            await racing
        assert clock.purged and clock.purge_statuses == [200]
        assert outcome.flipped_at is not None and outcome.flipped_at >= release.release_at
        assert outcome.live  # seen by the watch, not by the test
        timeline = Timeline(engine)
        seen = [
            (e.at, e.data["status"])
            for e in await timeline.events(release.id, kinds.VERIFY_RESULT)
            if e.data.get("url") == public_url  # the public address, as people get it
        ]
        # the origin had the new file at 09:30, the public the old one from the cache until 10:35
        assert [(at.hour, at.minute, status) for at, status in seen if at >= utc(9, 30)] == [
            (9, 30, "stale"),
            (10, 35, "live"),
        ], seen
        first = await timeline.events(release.id, kinds.VERIFY_FIRST_LIVE)
        assert [(e.at.hour, e.at.minute) for e in first] == [(10, 35)], first
    finally:
        await engine.dispose()
