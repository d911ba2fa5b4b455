"""The seed incident: the release of 18 December 2019 and what people did that morning.

Health and Safety Executive published its quarterly fatal injuries statistics by FTP at 09:30; the
web server's cache kept serving last quarter's spreadsheet until IT purged it at 10:35. The
demo's first act and the incident replay test (tests/e2e/test_incident_replay.py) both record
these steps, so the breach report they draft states the same facts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

RELEASE_ID = "fatal-injuries-2019-apr-sep"
TITLE = (
    "Fatal injuries arising from accidents at work in Great Britain: "
    "Summary for April to September 2019"
)
PRODUCER = "Health and Safety Executive (HSE)"
STATISTICIAN = "Jane Smith <jane.smith@example.org>"
HEAD_OF_PROFESSION = "A Head <hop@example.org>"
PATH = "/statistics/fatalquarterly.xlsx"
PAGE = "/statistics/fatal-injuries.html"
OLD = b"PK old spreadsheet: April to June 2019" * 300
NEW = b"PK new spreadsheet: April to September 2019" * 300
RELEASE_AT = dt.datetime(2019, 12, 18, 9, 30, tzinfo=dt.UTC)  # December: London time is UTC
PAGE_OLD = (
    b"<html><body><h1>Fatal injuries: April to June 2019</h1>"
    b'<a href="/statistics/fatalquarterly.xlsx">Spreadsheet</a></body></html>'
)
PAGE_NEW = (
    b"<html><body><h1>Fatal injuries: April to September 2019</h1>"
    b'<a href="/statistics/fatalquarterly.xlsx">Spreadsheet</a></body></html>'
)
BRIEFING = "the update on the quarterly statistics for HSE officials"


def utc(hh: int, mm: int, ss: int = 0) -> dt.datetime:
    """An instant on the morning of 18 December 2019."""
    return dt.datetime(2019, 12, 18, hh, mm, ss, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Step:
    """Something a person did, as ``onthedot timeline-add KIND --by BY --role ROLE --text TEXT
    --at AT`` records it. ``by_hand``: what onthedot does itself when configured (the notice, the
    held briefing), so the demo's first act does not record it again."""

    kind: str
    by: str
    text: str
    at: str
    role: str = ""
    by_hand: bool = False

    def cli_args(self) -> list[str]:
        """The arguments of ``onthedot timeline-add RELEASE ...`` recording this step."""
        role = ["--role", self.role] if self.role else []
        return [self.kind, "--by", self.by, *role, "--text", self.text, "--at", self.at]


_STATISTICIAN_ROLE = "statistician responsible for the release"
_PUBLISHING = "HSE online publishing team"

MORNING = [
    Step("informed", "Jane Smith", "the Head of Profession for Statistics", "09:36",
         _STATISTICIAN_ROLE),
    Step("action", "Jane Smith", "referred the problem to HSE's IT providers", "09:37",
         _STATISTICIAN_ROLE),
    Step("held", "Jane Smith", BRIEFING, "09:40", by_hand=True),
    Step("action", "HSE IT service desk", "purged the cache on the web server", "10:35",
         "HSE's IT provider"),
    Step("released", "Jane Smith", BRIEFING, "10:45", by_hand=True),
    Step("notice", _PUBLISHING, "The quarterly statistics were published late today because of "
         "a problem with our website", "11:35", by_hand=True),
]  # fmt: skip
"""What people did that morning, in the seed's order."""

INQUIRY = [
    Step("noticed", "Jane Smith", "in the routine check of the website made for every release, "
         "she saw the previous quarter's figures", "09:32"),
    Step("investigated", _PUBLISHING, "the web server had the new file while browsers were given "
         "the old one from a cache", "10:50"),
    Step("uat", _PUBLISHING, "the fault does not appear on the test (UAT) web server, so the "
         "cause lies in the hosting environment", "11:50"),
    Step("root-cause", _PUBLISHING, "resolved for now; the root cause has not yet been fully "
         "addressed", "11:55"),
    Step("test-planned", _PUBLISHING, "tests of the server configuration with HSE's IT providers "
         "in early January 2020", "12:00"),
]  # fmt: skip
"""What the inquiry after the morning found, as people record it."""


@dataclass(frozen=True)
class SiteAddresses:
    """Where the release is published: the public (cached) address, the origin, the FTP target,
    the purgers (none in 2019)."""

    public: str
    origin: str
    target: str
    purge: tuple[str, ...] = ()


def write_release(
    folder: Path,
    site: SiteAddresses,
    *,
    release_id: str = RELEASE_ID,
    release_at: str = "2019-12-18T09:30:00",
    with_page: bool = False,
    extra: str = "",
) -> Path:
    """The seed's release file (and its spreadsheet) in ``folder``; ``with_page``: the HTML page
    that links the spreadsheet is published with it; ``extra`` is appended (a ``[[gate]]``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fatalquarterly.xlsx").write_bytes(NEW)
    page = ""
    if with_page:
        (folder / "fatal-injuries.html").write_bytes(PAGE_NEW)
        page = f'\n[[artefact]]\nfile = "fatal-injuries.html"\npath = "{PAGE}"\n'

    path = folder / f"{release_id}.toml"
    purge = ", ".join(json.dumps(url) for url in site.purge)
    path.write_text(
        f'''id = "{release_id}"
title = "{TITLE}"
producer = "{PRODUCER}"
release_at = {release_at}
announced_at = 2019-11-01T09:30:00
lead_statistician = "{STATISTICIAN}"
head_of_profession = "{HEAD_OF_PROFESSION}"

[site]
public = "{site.public}"
origin = "{site.origin}"
target = "{site.target}"
purge = [{purge}]

[[artefact]]
file = "fatalquarterly.xlsx"
path = "{PATH}"
{page}{extra}''',
        encoding="utf-8",
    )
    return path
