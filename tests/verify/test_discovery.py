"""Files found, not only named: a release another system publishes, looked at through a real nginx
playing the CMS; each case one row (when, what the CMS shows) → the page's and the file's status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from onthedot.clock import ShiftedClock
from onthedot.config import load_release
from onthedot.model import Release, Status
from onthedot.runtime import verifier_for
from onthedot.settings import VerifySettings
from onthedot.testing import MockProbeTransport, mock_response
from onthedot.verify.discovery import page_links
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse
from onthedot.verify.verifier import Verifier, VerifyReport
from tests.e2e.cms import LANDING, NEW, OLD, SERVES_PAGES, Cms, write_external_release
from tests.servers.nginx import Nginx
from tests.servers.plugin import StartServer

pytestmark = pytest.mark.services

T = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)
FILE = f"{LANDING}#lms-march-2026.xlsx"


def announce(cms: Cms) -> None:
    """(the announcement page, as the CMS shows it before it publishes)"""


def publish_new(cms: Cms) -> None:
    cms.publish(NEW)


def publish_old(cms: Cms) -> None:
    cms.publish(OLD, "lms-december-2025.xlsx")


def publish_broken(cms: Cms) -> None:
    attachment = cms.publish(NEW)
    (cms.webroot / attachment.lstrip("/")).unlink()


Case = tuple[str, float, Callable[[Cms], None], Status, Status, str]
CASES: list[Case] = [
    ("announced", -60, announce, Status.EMBARGOED, Status.EMBARGOED, "does not link"),
    ("early", -60, publish_new, Status.EARLY, Status.EARLY, "before the release time"),
    ("not yet", 5, announce, Status.STALE, Status.MISSING, "ask GOV.UK to publish"),
    ("on time", 5, publish_new, Status.LIVE, Status.LIVE, "with the release's contents"),
    ("old file", 5, publish_old, Status.LIVE, Status.WRONG_FILE, "replace the attachment"),
    ("gone", 5, publish_broken, Status.LIVE, Status.MISSING, "not found"),
]


async def look(release: Release, at: dt.datetime, depth: int = 1) -> VerifyReport:
    settings = VerifySettings(follow_depth=depth)
    async with verifier_for(release, ShiftedClock(at), settings) as verifier:
        return await verifier.check(release)


def statuses(report: VerifyReport) -> dict[str, tuple[Status, str, str]]:
    base = report.results[0].url[: -len(LANDING)]
    return {
        r.url[len(base) :]: (r.status, r.diagnosis, str(r.cache.get("found_at", "")))
        for r in report.results
    }


@pytest.mark.parametrize(("case", "offset", "cms_does", "page", "file", "said"), CASES)
async def test_each_thing_the_cms_does_gives_the_page_and_the_file_their_status(
    tmp_path: Path,
    webroot: Path,
    origin: Nginx,
    case: str,
    offset: float,
    cms_does: Callable[[Cms], None],
    page: Status,
    file: Status,
    said: str,
) -> None:
    cms = Cms(webroot)
    cms_does(cms)
    release = load_release(
        write_external_release(tmp_path / "rel", public=origin.url, release_at=T)
    )
    got = statuses(await look(release, T + dt.timedelta(seconds=offset)))
    assert set(got) == {LANDING, FILE}, case
    assert got[LANDING][0] is page, (case, got)
    status, sentence, found_at = got[FILE]
    assert status is file, (case, got)
    assert said in sentence, (case, sentence)
    if cms.attachment and status is not Status.EMBARGOED:
        assert found_at == origin.url + cms.attachment  # where it was found, on the record


async def test_a_file_on_a_page_the_landing_page_links_to_is_found_to_the_set_depth(
    tmp_path: Path, webroot: Path, start_server: StartServer
) -> None:
    origin = start_server(Nginx(webroot, SERVES_PAGES))
    cms = Cms(webroot)
    attachment = cms.publish(NEW)
    sub = "/government/statistics/labour-market-overview-data"
    sub_page = (
        f'<html><body><a href="{attachment}">Labour market statistics tables</a></body></html>'
    )
    page = (webroot / LANDING.lstrip("/")).read_text().replace(attachment, sub)
    (webroot / LANDING.lstrip("/")).write_text(page)
    (webroot / sub.lstrip("/")).write_text(sub_page)
    release = load_release(
        write_external_release(tmp_path / "rel", public=origin.url, release_at=T)
    )
    after = T + dt.timedelta(seconds=5)
    assert statuses(await look(release, after, depth=1))[FILE][0] is Status.LIVE
    assert statuses(await look(release, after, depth=0))[FILE][0] is Status.MISSING


def test_page_links_read_words_base_and_drop_fragments() -> None:
    body = (
        b'<base href="https://www.gov.uk/media/"><a href="a.xlsx#x">Tables\n  (March)</a>'
        b'<a href="/b.csv"><span>CSV</span> data</a><a href="a.xlsx">again</a>'
        b'<a href="mailto:x@example.org">mail</a>'
    )
    links = page_links("https://www.gov.uk/government/statistics/x", body)
    assert [(link.url, link.text) for link in links] == [
        ("https://www.gov.uk/media/a.xlsx", "Tables (March)"),
        ("https://www.gov.uk/b.csv", "CSV data"),
    ]


async def test_only_links_that_may_be_a_wanted_file_are_fetched_and_only_on_the_site(
    tmp_path: Path,
) -> None:
    page = (
        b'<a href="/media/1/annex.pdf">Annex</a><a href="/media/2/lms-march-2026.xlsx">x</a>'
        b'<a href="https://elsewhere.example/lms-march-2026.xlsx">mirror</a>'
        b'<a href="/media/3/other.xlsx">Other tables</a>'
    )
    asked: list[str] = []

    def handler(request: ProbeRequest) -> ProbeResponse:
        asked.append(urlsplit(request.url).path)
        body = page if request.url.endswith(LANDING) else NEW
        return mock_response(request, body=body)

    release = load_release(
        write_external_release(tmp_path / "rel", public="http://www.gov.uk", release_at=T)
    )
    prober = Prober(MockProbeTransport(handler), allowed_hosts=["www.gov.uk"])
    report = await Verifier(prober, clock=ShiftedClock(T), bust_cache=False).check(release)
    got = statuses(report)
    assert got[FILE][0] is Status.LIVE and got[FILE][2].endswith("/media/2/lms-march-2026.xlsx")
    assert sorted(asked) == sorted([LANDING, "/media/2/lms-march-2026.xlsx", "/media/3/other.xlsx"])


async def test_a_landing_page_s_links_are_only_followed_for_its_files_never_judged_on_their_own(
    tmp_path: Path,
) -> None:
    page = b'<p>Main points</p><a href="/media/2/lms-march-2026.xlsx">Tables</a>'

    def handler(request: ProbeRequest) -> ProbeResponse:
        return mock_response(request, body=page if request.url.endswith(LANDING) else NEW)

    release = load_release(
        write_external_release(tmp_path / "rel", public="http://www.gov.uk", release_at=T)
    )
    prober = Prober(MockProbeTransport(handler), allowed_hosts=["www.gov.uk"])
    verifier = Verifier(prober, clock=ShiftedClock(T))  # (a cache-busted copy vouches for a file)
    for only in (None, [f"http://www.gov.uk{LANDING}"], [f"http://www.gov.uk{FILE}"]):
        report = await verifier.check(release, only=only)
        assert set(statuses(report)) <= {LANDING, FILE}, only  # no attachment judged by itself
        assert all(r.status is Status.LIVE for r in report.results)
        assert not any(key.startswith("_") for r in report.results for key in r.cache)
