"""Files found, not only named: a release another system publishes (a content-management system,
GOV.UK) gets addresses for its files only when it is published, so each such file is declared by
its local copy (for its SHA-256), the words of its link or its file name, and the landing page that
will link to it (``Artefact.landing``).

From every vantage point the landing page's links are followed (and the links of the pages it links
to, ``depth`` levels deep, on the same site only); every file found is fetched, and each declared
file is matched to what was found: by contents first (its SHA-256), then by name (link words or
file-name pattern). Found with the release's contents it is live (``early`` before T); found by its
name with other contents it is ``wrong-file`` (last period's spreadsheet); never found, ``missing``
(before T: ``embargoed``, as it should be).

A declared file is recorded under one steady address, its landing page's with the file's name as
fragment (``found_url``): where the file was found goes in the result's ``cache["found_at"]``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from onthedot.model import OTHERS, Artefact, CheckResult, Release, Site, Status
from onthedot.verify.diagnose import LINKED_SUFFIXES
from onthedot.verify.probe import ProbeRequest, ProbeResponse
from onthedot.verify.vantage import Vantage

MAX_PAGES = 50
"""Pages followed from one landing page at most, every level together: a site map is not a release."""
_PAGE_BYTES = 2_000_000  # a page's body kept to read its links (as ``judgement.PAGE_KEEP_BYTES``)
_PAGE_SUFFIXES = ("", ".html", ".htm", ".aspx", ".php")
FetchMany = Callable[[Sequence[ProbeRequest]], Awaitable[list[ProbeResponse]]]
"""What the finder fetches through (``Prober.fetch_many``): responses in the requests' order."""


@dataclass(frozen=True, slots=True)
class Link:
    url: str  # absolute, without fragment
    text: str  # the link's words, spaces collapsed


@dataclass(frozen=True, slots=True)
class Published:
    """A file a page links to, as fetched from one vantage point."""

    link: Link
    response: ProbeResponse


class _Anchors(HTMLParser):
    """The ``<a href>`` of a page with their words (and the page's ``<base href>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, list[str]]] = []
        self.base: str | None = None
        self._open: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "base" and href and self.base is None:
            self.base = href
        elif tag == "a" and href:
            self._open = []
            self.links.append((href.strip(), self._open))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)


def page_links(page_url: str, body: bytes) -> list[Link]:
    """Every link of the page at ``page_url`` (absolute, fragment dropped), once, in order."""
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    base = urljoin(page_url, parser.base) if parser.base else page_url
    seen: dict[str, Link] = {}
    for href, words in parser.links:
        url = urldefrag(urljoin(base, href)).url
        if url.startswith(("http://", "https://")) and url not in seen:
            seen[url] = Link(url, " ".join("".join(words).split()))
    return list(seen.values())


def found_url(site: Site, artefact: Artefact) -> str:
    """The steady address a file found through its landing page is recorded under."""
    assert artefact.landing is not None and artefact.file is not None
    return f"{site.url(artefact.landing)}#{PurePosixPath(artefact.file).name}"


def found_artefacts(release: Release) -> list[tuple[str, Artefact]]:
    """The release's files found through a landing page, each with its ``found_url``."""
    site = release.site
    if site is None:
        return []
    return [(found_url(site, a), a) for a in release.artefact if a.landing is not None]


def landing_urls(release: Release) -> set[str]:
    """The public addresses of the pages the release's files are found through."""
    site = release.site
    if site is None:
        return set()
    return {site.url(a.landing) for a in release.artefact if a.landing is not None}


def _file_name(url: str) -> str:
    return unquote(PurePosixPath(urlsplit(url).path).name)


def _is_page(url: str) -> bool:
    return PurePosixPath(urlsplit(url).path).suffix.lower() in _PAGE_SUFFIXES


def names_it(artefact: Artefact, link: Link) -> bool:
    """The link is the declared file's by name: its words or its file name."""
    if artefact.link_text and " ".join(artefact.link_text.split()).lower() in link.text.lower():
        return True
    return bool(artefact.name) and fnmatch.fnmatch(
        _file_name(link.url).lower(), str(artefact.name).lower()
    )


@dataclass
class Crawl:
    """One vantage point's walk from the landing pages: the pages fetched, the files found."""

    site: Site
    wanted: Sequence[Artefact]
    depth: int

    def same_site(self, url: str) -> bool:
        return url.startswith(self.site.public.rstrip("/") + "/")

    def is_file(self, link: Link) -> bool:
        """A link that may be one of the wanted files: named like one, or of the same kind (a
        page's other attachments are not fetched on every sweep)."""
        suffix = PurePosixPath(urlsplit(link.url).path).suffix.lower()
        return any(
            names_it(a, link) or (suffix and suffix == PurePosixPath(str(a.file)).suffix.lower())
            for a in self.wanted
        )

    def split(self, links: Iterable[Link], seen: set[str]) -> tuple[list[Link], list[Link]]:
        """Of ``links`` not seen yet on this site: (files to fetch, pages to follow)."""
        files: list[Link] = []
        pages: list[Link] = []
        for link in links:
            if link.url in seen or not self.same_site(link.url):
                continue
            seen.add(link.url)
            if self.is_file(link):
                files.append(link)
            elif _is_page(link.url):
                pages.append(link)
        return files, pages


class Finder:
    """Follows landing pages' links through ``fetch`` (the verifier's prober) and matches what
    it finds to the declared files."""

    def __init__(
        self,
        fetch: FetchMany,
        *,
        timeout: float,
        max_bytes: int | None,
        depth: int = 1,
    ) -> None:
        self._fetch = fetch
        self._timeout = timeout
        self._max_bytes = max_bytes
        self.depth = depth

    def _request(self, url: str, vantage: Vantage, keep: int) -> ProbeRequest:
        return ProbeRequest(
            url=url,
            keep_body=keep,
            max_bytes=self._max_bytes,
            timeout=self._timeout,
            connect_to=vantage.connect_to_for(url),
        )

    async def published(
        self, crawl: Crawl, landings: Sequence[ProbeResponse], vantage: Vantage
    ) -> list[Published]:
        """Every file the landing pages (as ``vantage`` got them) link to, directly or through
        the pages they link to, ``crawl.depth`` levels deep, fetched from ``vantage``."""
        seen = {r.request.url for r in landings}
        pages = [r for r in landings if r.ok and r.body]
        found: list[Published] = []
        followed = 0
        for level in range(crawl.depth + 1):
            links = [link for r in pages for link in page_links(_where(r), r.body)]
            files, next_pages = crawl.split(links, seen)
            fetched = await self._fetch([self._request(f.url, vantage, _keep(f)) for f in files])
            found += [Published(f, r) for f, r in zip(files, fetched, strict=True) if not _html(r)]
            read = [r for r in fetched if _html(r)]  # named like the file, but a page
            next_pages = next_pages[: max(0, MAX_PAGES - followed)]
            if level == crawl.depth or not (next_pages or read):
                break
            followed += len(next_pages)
            requests = [self._request(p.url, vantage, _PAGE_BYTES) for p in next_pages]
            pages = [r for r in [*read, *await self._fetch(requests)] if r.ok and r.body]
        return found


def _keep(link: Link) -> int:
    """A link to a spreadsheet is a file; one only named like the file may be a page, kept to
    follow its links."""
    return 0 if urlsplit(link.url).path.lower().endswith(LINKED_SUFFIXES) else _PAGE_BYTES


def _html(response: ProbeResponse) -> bool:
    kind = (response.header("Content-Type") or "").split(";")[0].strip().lower()
    return response.ok and kind in ("text/html", "application/xhtml+xml")


def _where(response: ProbeResponse) -> str:
    return response.effective_url or response.request.url


@dataclass(frozen=True, slots=True)
class Declared:
    """A declared file to match: its steady address and what it is."""

    url: str
    artefact: Artefact
    landing_url: str


def match(
    declared: Declared,
    found: Sequence[Published],
    *,
    release: Release,
    vantage: str,
    now: dt.datetime,
) -> CheckResult:
    """What ``vantage`` found for ``declared``: by contents first, then by name."""
    art = declared.artefact
    before = now < release.release_at
    by_contents = next(
        (p for p in found if p.response.ok and p.response.sha256 == art.sha256), None
    )
    if by_contents is not None:
        return _result(
            declared,
            by_contents,
            Status.EARLY if before else Status.LIVE,
            _found_sentence(declared, by_contents, release, before),
            vantage,
            now,
        )
    by_name = next((p for p in found if names_it(art, p.link)), None)
    if before:
        return _result(declared, by_name, Status.EMBARGOED, _not_yet(declared), vantage, now)
    if by_name is None:
        return _result(
            declared, None, Status.MISSING, _never_found(declared, release), vantage, now
        )
    status, sentence = _named(declared, by_name, release)
    return _result(declared, by_name, status, sentence, vantage, now)


def as_published_by(release: Release, result: CheckResult, expect_text: str | None) -> CheckResult:
    """``result`` of one of the release's own addresses, its diagnosis told for a release another
    system publishes: the page not published yet, or published early, is that system's doing (a
    cache keeping the previous version is told as for any release)."""
    who = release.published_by
    if who is None or result.layer == "cache":
        return result
    page = urlsplit(result.url).path
    if result.status is Status.STALE:
        shows = f" (it does not show “{expect_text}”)" if expect_text else ""
        sentence = f"{who} has not published {page} yet{shows}: ask {who} to publish it now."
    elif result.status is Status.EARLY:
        sentence = (
            f"{who} shows the new version of {page} before the release time: ask {who} to "
            "withdraw it until the release time, and record a breach."
        )
    else:
        return result
    return result.model_copy(update={"diagnosis": sentence})


def _who(release: Release) -> str:
    return release.published_by or OTHERS


def _name(declared: Declared) -> str:
    return PurePosixPath(str(declared.artefact.file)).name


def _found_sentence(declared: Declared, found: Published, release: Release, before: bool) -> str:
    if before:
        return (
            f"{_who(release)} has published {_name(declared)} at {found.link.url} before the "
            "release time: ask them to withdraw it until the release time, and record the breach."
        )
    return f"Found at {found.link.url}, linked from {declared.landing_url}, with the release's contents."


def _not_yet(declared: Declared) -> str:
    return (
        f"{declared.landing_url} does not link to {_name(declared)} yet, as it should not before "
        "the release time."
    )


def _never_found(declared: Declared, release: Release) -> str:
    return (
        f"{declared.landing_url} does not link to {_name(declared)}: ask {_who(release)} to "
        "publish the release with its file attached."
    )


def _named(declared: Declared, found: Published, release: Release) -> tuple[Status, str]:
    response, name, url = found.response, _name(declared), found.link.url
    if response.ok:
        return Status.WRONG_FILE, (
            f"{declared.landing_url} links to {url} for {name}, but that file is not the "
            f"release's (other contents, perhaps the previous period's): replace the attachment "
            f"in {_who(release)} with {name}."
        )
    if response.http_status in (404, 410):
        return Status.MISSING, (
            f"{declared.landing_url} links to {url} for {name}, which is not found: ask "
            f"{_who(release)} to attach the file again."
        )
    why = response.message or f"it answered {response.http_status}"
    return Status.ERROR, (
        f"{declared.landing_url} links to {url} for {name}, which cannot be fetched ({why.rstrip('.')}): "
        f"ask {_who(release)} to check the attachment."
    )


def _result(
    declared: Declared,
    found: Published | None,
    status: Status,
    sentence: str,
    vantage: str,
    now: dt.datetime,
) -> CheckResult:
    response = found.response if found is not None else None
    return CheckResult(
        url=declared.url,
        status=status,
        served_sha256=response.sha256 if response is not None else None,
        expected_sha256=declared.artefact.sha256,
        diagnosis=sentence,
        cache={"found_at": found.link.url} if found is not None else {},
        vantage=vantage,
        checked_at=now,
        http_status=response.http_status if response is not None else None,
        timings=dict(response.timings) if response is not None else {},
    )
