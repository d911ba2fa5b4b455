"""A content-management system played by files under an nginx webroot, and the release file of a
release it publishes (``target = "external"``).

Before T the landing page is the announcement; ``publish`` puts the attachment under a generated
path (as a CMS names its uploads), then swaps the landing page for the published one in one rename,
so a reader sees either the announcement or the published page with its attachment in place.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path

from tests.e2e.helpers import local

LANDING = "/government/statistics/labour-market-overview-uk-march-2026"
TITLE = "Labour market overview, UK: March 2026"
EXPECT = "Main points"
NEW = b"PK spreadsheet: labour market tables, March 2026\n" * 400
OLD = b"PK spreadsheet: labour market tables, December 2025\n" * 400
LINK_TEXT = "Labour market statistics tables"

ANNOUNCEMENT = f"""<!doctype html><html><head><title>{TITLE}</title></head><body>
<h1>{TITLE}</h1><p>Official Statistics announcement. These statistics will be released on
12 March 2026 9:30am.</p></body></html>"""

PUBLISHED = """<!doctype html><html><head><title>{title}</title></head><body>
<h1>{title}</h1><p>Official Statistics</p><h2>{expect}</h2><p>The employment rate rose.</p>
<h2>Documents</h2><ul><li><a href="{href}">{link} ({period})</a></li>
<li><a href="/help/cookies">Cookies</a></li></ul></body></html>"""


SERVES_PAGES = "default_type text/html;"
"""nginx configuration: a page's address has no .html, and a CMS serves it as a web page."""


class Cms:
    """The landing page and attachments of one release under ``webroot``."""

    def __init__(self, webroot: Path, landing: str = LANDING) -> None:
        self.webroot = webroot
        self.page = webroot / landing.lstrip("/")
        self.page.parent.mkdir(parents=True, exist_ok=True)
        self._write(self.page, ANNOUNCEMENT.encode())
        self.attachment: str | None = None

    def publish(self, data: bytes = NEW, name: str = "lms-march-2026.xlsx") -> str:
        """Upload the attachment under a generated path, then show the published page; the
        attachment's path."""
        self.attachment = f"/media/{secrets.token_hex(12)}/{name}"
        self._write(self.webroot / self.attachment.lstrip("/"), data)
        period = "March 2026" if data == NEW else "December 2025"
        page = PUBLISHED.format(
            title=TITLE, expect=EXPECT, href=self.attachment, link=LINK_TEXT, period=period
        )
        self._write(self.page, page.encode())
        return self.attachment

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        part.write_bytes(data)
        os.replace(part, path)  # one rename: never half a page


def write_external_release(
    folder: Path,
    *,
    public: str,
    release_at: dt.datetime,
    id: str = "labour-market-march-2026",
    title: str = TITLE,
    origin: str | None = None,
    published_by: str = "GOV.UK",
) -> Path:
    """A release GOV.UK publishes: its landing page (told by ``EXPECT``) and the spreadsheet the
    page will link to, found by its contents or its name."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lms-march-2026.xlsx").write_bytes(NEW)
    lines = [
        f'id = "{id}"',
        f"title = {json.dumps(title)}",
        'producer = "Office for National Statistics"',
        f"release_at = {local(release_at)}",
        f"announced_at = {local(release_at - dt.timedelta(days=40))}",
        'lead_statistician = "A Statistician <stats@example.org>"',
        "",
        "[site]",
        f'public = "{public}"',
        'target = "external"',
        f"published_by = {json.dumps(published_by)}",
    ]
    if origin:
        lines.append(f'origin = "{origin}"')
    lines += [
        "",
        "[[artefact]]",
        f'path = "{LANDING}"',
        f'expect_text = "{EXPECT}"',
        "",
        "[[artefact]]",
        f'landing = "{LANDING}"',
        'file = "lms-march-2026.xlsx"',
        f'link_text = "{LINK_TEXT}"',
        'name = "lms-*.xlsx"',
    ]
    release = folder / f"{id}.toml"
    release.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return release
