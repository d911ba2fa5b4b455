"""Why the public got what it got, in one plain sentence a statistician can forward to IT.

``diagnose(edge, origin, ...)`` compares what the public address served with what the origin web
server serves, and says which layer is old: the cache (purge needed, with how long it would
otherwise stay: Age, lifetime, "fresh in the cache until 10:31:12 unless purged") or the origin
(the upload did not happen, or the web server still serves a copy of the old file it holds).
``linked_files`` finds the spreadsheets and PDFs a page links to so they are checked too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal, Protocol
from urllib.parse import urldefrag, urljoin, urlsplit

from onthedot.errors import InputError
from onthedot.model import Status
from onthedot.verify.caches import CacheModel
from onthedot.verify.caches.info import CacheInfo, recognise
from onthedot.verify.freshness import Freshness, clock, freshness, seconds_words, source_words

Phase = Literal["before", "after"]
Layer = Literal["cache", "origin", "network"]
LINKED_SUFFIXES = (".xlsx", ".xls", ".ods", ".csv", ".pdf", ".zip")
_NOT_FOUND = re.compile(
    r"(page|file|document)?\s*(not\s+found|cannot be found|can(?:no|')t be found|could not be found"
    r"|does(?:n't| not) exist|no longer available)|\b404\b",
    re.I,
)


class Fetched(Protocol):
    """What diagnose needs of a response (``onthedot.verify.probe.ProbeResponse`` fits)."""

    @property
    def http_status(self) -> int | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, str]]: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def text_found(self) -> bool | None: ...
    @property
    def body(self) -> bytes: ...
    @property
    def failure(self) -> str | None: ...
    @property
    def message(self) -> str: ...
    @property
    def effective_url(self) -> str: ...


@dataclass(slots=True)
class Diagnosis:
    """What ``diagnose`` found. Treat it as read-only."""

    status: Status
    layer: Layer | None  # which layer is at fault (None: nothing is, or it cannot be told)
    sentence: str
    cache: dict[str, Any] = field(default_factory=dict)
    freshness: Freshness | None = None


class _Case:
    """Everything the sentence builders need, worked out once (the path only when asked for)."""

    __slots__ = (
        "_path",
        "edge",
        "fresh",
        "from_origin",
        "info",
        "origin",
        "origin_new",
        "release_at",
    )

    def __init__(
        self,
        edge: Fetched,
        info: CacheInfo,
        fresh: Freshness,
        release_at: dt.datetime,
        origin_new: bool | None,  # None: the origin was not (or could not be) looked at
        origin: Fetched | None,
        from_origin: bool = True,
    ) -> None:
        self.edge = edge
        self.info = info
        self.fresh = fresh
        self.release_at = release_at
        self.origin_new = origin_new
        self.origin = origin
        self.from_origin = from_origin  # False: ``origin`` is the public URL, cache-busted
        self._path: str | None = None

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = urlsplit(self.edge.effective_url).path or "/"
        return self._path

    @property
    def behind(self) -> str:
        """What answered behind the cache, named as it exists: the configured origin web server,
        or (no origin configured, or it failed) the public address asked past its cache."""
        return "the origin web server" if self.from_origin else "the site, asked past its cache,"

    @property
    def behind_short(self) -> str:
        """``behind`` where a short name reads better: "while the origin has the new one"."""
        return "the origin" if self.from_origin else self.behind

    @property
    def cache_name(self) -> str:
        return f"The cache ({self.fresh.cache})" if self.info.product else "The cache"


def diagnose(
    edge: Fetched,
    origin: Fetched | None = None,
    origin_busted: Fetched | None = None,
    *,
    expected_sha256: str | None = None,
    expect_text: str | None = None,
    release_at: dt.datetime,
    now: dt.datetime,
    phase: Phase | None = None,
    models: Mapping[str, CacheModel] | None = None,
) -> Diagnosis:
    """Status, faulty layer and one sentence for what ``edge`` (the public address) served.

    ``origin`` is the same path fetched from the origin web server, ``origin_busted`` through the
    public address with a cache-busting query; either tells whether the origin has the new file.
    """
    if expected_sha256 is None and expect_text is None:
        raise InputError("Nothing to compare with: give the artefact's file or its expect_text.")
    phase = phase or ("before" if now < release_at else "after")
    info = recognise(edge.headers)
    fresh = freshness(info, now=now, models=models, url=edge.effective_url)
    from_origin = origin is not None and origin.failure is None
    other = origin if from_origin else origin_busted
    new = _is_new(other, expected_sha256, expect_text)
    case = _Case(edge, info, fresh, release_at, new, other, from_origin)
    status, layer, sentence = _judge(case, phase, expected_sha256, expect_text)
    cache = info.as_dict()
    cache["freshness"] = fresh.as_dict()
    return Diagnosis(status=status, layer=layer, sentence=sentence, cache=cache, freshness=fresh)


def _is_new(resp: Fetched | None, sha: str | None, text: str | None) -> bool | None:
    if resp is None or resp.failure is not None or resp.http_status is None:
        return None
    if resp.http_status >= 300:
        return False
    if sha is not None:
        return resp.sha256 == sha
    return bool(resp.text_found)


def _judge(
    case: _Case, phase: Phase, sha: str | None, text: str | None
) -> tuple[Status, Layer | None, str]:
    edge = case.edge
    if edge.failure is not None or (edge.http_status or 0) >= 500:
        return Status.ERROR, *_error(case)
    if edge.http_status in (404, 410) or looks_not_found(edge, sha, text):
        if phase == "before":
            at = clock(case.release_at)
            return (
                Status.EMBARGOED,
                None,
                f"Not published yet ({_answer(edge)}), as it should be before {at}.",
            )
        return Status.MISSING, *_missing(case)
    if 400 <= (edge.http_status or 0) < 500:
        if phase == "before":
            at = clock(case.release_at)
            return (
                Status.EMBARGOED,
                None,
                f"Not readable yet (HTTP {edge.http_status}), as it should be before {at}.",
            )
        return Status.ERROR, *_refused(case)
    if _is_new(edge, sha, text):
        if phase == "before":
            return Status.EARLY, *_early(case)
        return Status.LIVE, None, f"The new version is live{_served_by(case)}."
    if phase == "before":
        return Status.EMBARGOED, None, _embargoed(case)
    return Status.STALE, *_stale(case)


def _capital(words: str) -> str:
    return words[:1].upper() + words[1:]


def _answer(resp: Fetched) -> str:
    if resp.http_status in (404, 410):
        return f"{resp.http_status} Not Found" if resp.http_status == 404 else "410 Gone"
    return f"a {resp.http_status} page saying it was not found"


def _served_by(case: _Case) -> str:
    if not case.info.product:
        return ""
    age = f", Age {case.info.age:,} s" if case.info.age else ""
    return f" (served by {case.fresh.cache}{age})"


def _error(case: _Case) -> tuple[Layer | None, str]:
    edge = case.edge
    what = edge.message.rstrip(".") if edge.failure else f"The site answered {edge.http_status}"
    origin = case.origin
    if origin is not None and origin.failure is None and (origin.http_status or 500) < 500:
        return "cache", (
            f"{what}, while {case.behind} answers {origin.http_status}: "
            "the cache or network in front of it is failing, so ask IT to check it."
        )
    if case.origin is not None:
        return (
            "origin",
            f"{what}, and {case.behind} fails too: ask IT to check the web server.",
        )
    return "network", f"{what}: ask IT to check the site, then check again."


def _missing(case: _Case) -> tuple[Layer | None, str]:
    answer = _answer(case.edge)
    if case.origin_new:
        return "cache", (
            f"{case.cache_name} served {answer} for {case.path} while {case.behind_short} has "
            f"the new file: purge {case.path}."
        )
    if case.origin is not None:
        return "origin", (
            f"{_capital(case.behind)} does not have {case.path} either ({answer}), so "
            "the upload did not happen or went to the wrong place: check the target."
        )
    return None, (
        f"The site answered {answer} for {case.path}: check that the file was uploaded "
        "to the right place."
    )


def _early(case: _Case) -> tuple[Layer | None, str]:
    at = clock(case.release_at)
    where = f" and {case.behind} already serves it" if case.origin_new else ""
    return "origin" if case.origin_new else None, (
        f"The new version of {case.path} is public before the release time {at}{where}: "
        "take it down now and record a breach."
    )


def _embargoed(case: _Case) -> str:
    at, fresh = clock(case.release_at), case.fresh
    until = fresh.serves_stored_until
    if case.info.product and fresh.stored and until is not None and until > case.release_at:
        late = seconds_words((until - case.release_at).total_seconds())
        return (
            f"The new version is not public yet, as it should be before {at}, but "
            f"{fresh.cache} keeps the old copy until {clock(until)} "
            f"({late} after release) unless purged at {at}."
        )
    return f"The new version is not public yet, as it should be before {at}."


def _held(case: _Case) -> str:
    fresh, info = case.fresh, case.info
    lifetime = f"{source_words(fresh.source)} {fresh.lifetime_s:,.0f} s"
    if info.age is None:
        return f"no Age header, {lifetime}"
    return f"Age {info.age:,} s of {lifetime}"


def _refused(case: _Case) -> tuple[Layer | None, str]:
    """A 4xx other than 404/410: the file is there or not, but the public may not read it."""
    status = case.edge.http_status
    origin = case.origin
    both = origin is not None and origin.http_status == status
    where = case.behind if both else "the public address"
    return ("origin" if both else None), (
        f"{where.capitalize()} refused {case.path} with HTTP {status}: the public cannot read it — "
        "check the file's permissions (for S3, an ACL such as ?acl=public-read on the target) "
        "and the server's access rules."
    )


def _stale(case: _Case) -> tuple[Layer | None, str]:
    fresh = case.fresh
    if case.origin_new is False:
        return "origin", (
            f"{_capital(case.behind)} also serves the old file, so the upload did not "
            "happen or went to the wrong place, or the web server still serves a copy of the old "
            "file it holds (nginx's open_file_cache, or a network drive's cache, keeps one for up "
            "to a minute): check the target, and if the new file is there, ask IT to reload the "
            "web server."
        )
    if case.origin_new is None and not (case.info.hit or case.info.age):
        return None, (
            f"An older version of {case.path} was served and nothing shows it came from "
            "a cache: check that the upload reached the web server."
        )
    origin = f" while {case.behind_short} has the new one" if case.origin_new else ""
    lead = f"{case.cache_name} served the old file ({_held(case)}){origin}: purge {case.path}"
    same = _same_validator(case)
    if same:
        return "cache", (
            f"{lead} — {case.behind_short} gives the new file the same {same} as the old one, so "
            "a cache or browser that asks whether its copy has changed is told it has not: ask "
            "IT to upload the file again, so that its modification time is later."
        )
    if fresh.fresh and fresh.fresh_until is not None:
        wait = f"{fresh.remaining_s:,.0f} s"
        return "cache", (
            f"{lead} or wait {wait} — it is fresh in the cache until "
            f"{clock(fresh.fresh_until)} unless purged."
        )
    return "cache", (
        f"{lead} — it has outlived what its headers allow, so the cache's own "
        "configuration (a TTL override or grace) keeps it."
    )


def _same_validator(case: _Case) -> str:
    """The validator the new file behind the cache shares with the old copy the cache served
    ("ETag "…"" or "Last-Modified time …"), or "" when they differ: the server labels the
    two versions alike (nginx: the same size, written in the same second), and a revalidation
    keeps the old copy (If-None-Match, If-Modified-Since answered 304 Not Modified). Where
    either has an ETag, only ETags count: a cache sends If-None-Match for a copy that has one,
    and a server without ETags cannot match it (nginx then answers 200, whatever the time)."""
    new = case.origin if case.origin_new else None
    if new is None:
        return ""
    theirs, ours = recognise(new.headers), case.info
    if ours.etag or theirs.etag:
        return f"ETag ({ours.etag})" if ours.etag == theirs.etag else ""
    if ours.last_modified is not None and ours.last_modified == theirs.last_modified:
        return f"Last-Modified time ({clock(ours.last_modified)})"
    return ""


def looks_not_found(resp: Fetched, sha: str | None, text: str | None) -> bool:
    """A soft 404: a 200 page whose title or heading says "not found" instead of the content."""
    if resp.http_status != 200 or not resp.body:
        return False
    if text is not None and resp.text_found:
        return False
    if sha is not None and resp.sha256 == sha:
        return False
    head = resp.body[:65536].decode("utf-8", "replace")
    found = re.findall(r"<(title|h1)[^>]*>(.*?)</\1>", head, re.I | re.S)
    return any(_NOT_FOUND.search(re.sub(r"<[^>]+>", " ", inner)) for _, inner in found)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "base" and values.get("href") and self.base is None:
            self.base = values["href"]
        elif tag in ("a", "area") and values.get("href"):
            self.hrefs.append(str(values["href"]).strip())


def linked_files(base_url: str, html_body: str | bytes) -> list[str]:
    """Same-site links to .xlsx/.xls/.ods/.csv/.pdf/.zip files on a page, absolute, in order."""
    text = html_body.decode("utf-8", "replace") if isinstance(html_body, bytes) else html_body
    parser = _Links()
    parser.feed(text)
    parser.close()
    base = urljoin(base_url, parser.base) if parser.base else base_url
    site = urlsplit(base_url)
    found: list[str] = []
    for href in parser.hrefs:
        url = urldefrag(urljoin(base, href)).url
        parts = urlsplit(url)
        same = parts.scheme == site.scheme and parts.netloc.lower() == site.netloc.lower()
        if same and parts.path.lower().endswith(LINKED_SUFFIXES) and url not in found:
            found.append(url)
    return found


__all__: Sequence[str] = (
    "Diagnosis",
    "Fetched",
    "Phase",
    "diagnose",
    "linked_files",
    "looks_not_found",
)
