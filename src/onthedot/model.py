"""The domain: releases, artefacts, sites, findings, verification results, events. No I/O here.

Instants are timezone-aware and normalised to UTC; local (Europe/London) wall-clock times are only
for showing and for reading release files.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import ipaddress
import re
import string
import unicodedata
from collections.abc import Iterable, MutableMapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

DigestKey = tuple[str, int, int, int, int]
"""A local file as it was hashed: real path, device, inode, size, mtime_ns (a file moved in over
it, with the same size and mtime, has another device or inode)."""
Digests = MutableMapping[DigestKey, str]
"""SHA-256 of local files by ``DigestKey``: what is known of them between reads."""

UTC = dt.UTC

Nation = Literal["england-and-wales", "scotland", "northern-ireland", "uk"]
NATIONS: tuple[str, ...] = ("england-and-wales", "scotland", "northern-ireland", "uk")


def _slug(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,127}", value):
        raise ValueError(
            "must be a slug: lower-case letters, digits and hyphens, starting with a letter or digit"
        )
    return value


Slug = Annotated[str, AfterValidator(_slug)]

_NOT_IN_URLS = frozenset('<>"')


def web_url(value: str) -> str:
    """``value`` if it is an address a browser may open: http(s), a host, no spaces, line breaks,
    control characters or ``<>"`` (which no URL holds unencoded); else ValueError, one sentence.

    Every address a release or onthedot.toml gives for people to follow or for onthedot to fetch
    (``statement_url``, ``[site] public`` and ``origin``, a recorded statement's ``--url``) is one
    of these: a ``javascript:`` link or a header split by CR/LF never reaches a page or a calendar.
    """
    if any(c in _NOT_IN_URLS or c.isspace() or unicodedata.category(c)[0] == "C" for c in value):
        raise ValueError(
            'must be one web address without spaces, line breaks, control characters or <>": '
            "write a space as %20"
        )
    try:
        parts = urlsplit(value)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        ok = ok and (parts.port or 0) >= 0  # reading the port checks it is a number up to 65535
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            "must be an http:// or https:// address, e.g. https://www.example.org/statistics"
        )
    return value


def is_web_url(value: str) -> bool:
    try:
        web_url(value)
    except ValueError:
        return False
    return True


WebURL = Annotated[str, AfterValidator(web_url)]
"""A web address people follow or onthedot fetches: see ``web_url``."""


def _edge_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address: list edges like 192.0.2.10") from None
    return value


EdgeAddress = Annotated[str, AfterValidator(_edge_address)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


EXTERNAL = "external"
"""``[site] target`` of a release another system publishes."""
OTHERS = "another system"
"""Who publishes an external release whose ``published_by`` is not given."""


class Site(Strict):
    """Where a release is published and seen. May live in onthedot.toml, shared by many releases."""

    public: WebURL = Field(
        description="what users reach (CDN / cache), e.g. https://www.example.org"
    )
    origin: WebURL | None = Field(None, description="the web server behind the cache")
    target: str | None = Field(
        None,
        description='where artefacts are published (adapter URL), or "external" when another '
        "system (a content-management system, GOV.UK) publishes them",
    )
    published_by: str | None = Field(
        None, description='with target = "external": the system that publishes, e.g. GOV.UK'
    )
    purge: tuple[str, ...] = Field((), description="caches to purge at go-live (adapter URLs)")
    edges: tuple[EdgeAddress, ...] = Field((), description="extra edge IP addresses to probe")
    resolvers: tuple[str, ...] = Field((), description="extra DNS servers: 'address[:port]'")
    agents: tuple[str, ...] = Field((), description="remote probe agents that probe it, by name")

    @model_validator(mode="before")
    @classmethod
    def _external(cls, data: Any) -> Any:
        """``target = "external"``: no adapter; the release is published by ``published_by``."""
        if isinstance(data, dict) and data.get("target") == EXTERNAL:
            return {**data, "target": None, "published_by": data.get("published_by") or OTHERS}
        return data

    @model_validator(mode="after")
    def _published_by_alone(self) -> Self:
        if self.published_by is not None and self.target is not None:
            raise ValueError(
                "published_by names the system that publishes a release onthedot does not: set "
                'target = "external", or remove published_by'
            )
        return self

    @property
    def external(self) -> bool:
        """Another system publishes: onthedot neither stages nor flips, it watches and reports."""
        return self.published_by is not None

    def url(self, path: str) -> str:
        """The public URL of ``path`` (``/statistics/x.xlsx``) on this site."""
        return self.public.rstrip("/") + path

    def origin_url(self, path: str) -> str | None:
        """The URL of ``path`` at the web server behind the cache (None: no origin given)."""
        return self.origin.rstrip("/") + path if self.origin else None


class SiteDefaults(Site):
    """``[site]`` in onthedot.toml: any of a Site's keys, checked the same way, shared by every
    release that does not set them itself (``public`` may be left to each release)."""

    public: WebURL | None = None  # type: ignore[assignment]


STAGED_PREFIX = ".onthedot-"
"""The start of a staged copy's hidden name: no artefact may be named like one."""
_PATH_CHARACTERS = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]*")
MAX_PATH_LENGTH = 1024


@functools.lru_cache(maxsize=16_384)  # asked twice per artefact as a release file is read
def path_fault(path: str) -> str | None:
    """What makes ``path`` unfit as an artefact's URL path (one phrase), or None when it is fine.

    The one rule for every path onthedot publishes: checked when a release file is loaded (so
    ``check`` reports it), when a release is built, and again by every publish target. A path is
    absolute, names a file, and is plain: no query, fragment, percent-escape, backslash or control
    character, no empty, ``.`` or ``..`` segment, so the URL the public fetches and the file the
    target writes are one and the same.
    """
    if not path.startswith("/") or path.startswith("//"):
        return "must start with / (only one: a URL path under site.public, e.g. /statistics/x.xlsx)"
    if len(path) > MAX_PATH_LENGTH:
        return f"is longer than {MAX_PATH_LENGTH} characters: shorten it"
    bad = _PATH_CHARACTERS.sub("", path)
    if bad:
        shown = f"'{bad[0]}'" if bad[0].isprintable() else f"U+{ord(bad[0]):04X}"
        return (
            f"contains {shown}, which a plain URL path cannot: use letters, digits and "
            "- . _ ~ (no query, fragment, % escape, space or backslash)"
        )
    segments = path[1:].split("/")
    if any(s in ("", ".", "..") for s in segments):
        return "must name a file, with no empty, '.' or '..' part: e.g. /statistics/x.xlsx"
    if any(s.startswith(STAGED_PREFIX) for s in segments):
        return f"must not contain a part starting with {STAGED_PREFIX!r} (kept for staged copies)"
    return None


def _artefact_path(path: str) -> str:
    fault = path_fault(path)
    if fault is not None:
        raise ValueError(fault)
    return path


def duplicate_paths(paths: Iterable[str]) -> list[str]:
    """The paths listed more than once, in the order they repeat."""
    seen: set[str] = set()
    twice: list[str] = []
    for path in paths:
        if path in seen and path not in twice:
            twice.append(path)
        seen.add(path)
    return twice


class Artefact(Strict):
    """One thing the public must get at T: a file whose bytes we know, or a page with a marker;
    or (a release another system publishes) a file found through the page that links to it."""

    path: Annotated[str, AfterValidator(_artefact_path)] | None = Field(
        None, description="URL path under site.public, e.g. /statistics/x.xlsx"
    )
    file: str | None = Field(None, description="local file, relative to the release file")
    expect_text: str | None = Field(None, description="text only the new version contains")
    landing: Annotated[str, AfterValidator(_artefact_path)] | None = Field(
        None, description="instead of path: the URL path of the page that will link to the file"
    )
    link_text: str | None = Field(None, description="words of the link to the file, found")
    name: str | None = Field(None, description="the file's name as published, * for any part")
    # filled in when the release file is loaded (never written by users)
    sha256: str | None = None
    size: int | None = None
    local_path: Path | None = None


class Change(Strict):
    """A recorded change of release date/time after announcement (T3.2)."""

    previous: dt.datetime = Field(description="the release time announced before the change")
    reason: str = ""
    approved_by: str = ""
    announced_at: dt.datetime | None = None


class PreReleaseAccess(Strict):
    """One person on the release's pre-release access list (T3.4): who may be given access
    (``onthedot prerelease grant``), or, with ``granted_at``, who was given it outside onthedot."""

    name: str
    email: str | None = None
    organisation: str | None = None
    role: str | None = None  # their job or role, published with the list of recipients
    justification: str | None = None  # why they need access before release
    granted_at: dt.datetime | None = None


NOTICE_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "delayed": ("title", "producer", "due", "update_by"),
    "published": ("title", "producer", "due", "live"),
}
"""What each sentence of the notice to users may say: ``{due}`` the release time, ``{update_by}``
when the page will next be updated, ``{live}`` when the statistics went live (local times)."""


def template_fault(template: str, allowed: tuple[str, ...]) -> str | None:
    try:
        names = [n for _, n, _, _ in string.Formatter().parse(template) if n is not None]
    except ValueError as exc:  # a lone { or }
        return (
            f"is not a template ({exc}): write a placeholder as {{due}} and a brace as {{{{ or }}}}"
        )
    for name in names:
        if name not in allowed:
            shown = ", ".join(f"{{{n}}}" for n in allowed)
            return f"{{{name}}} is not a placeholder this sentence can use: use {shown}"
    return None


def notice_path_fault(path: str) -> str | None:
    """What makes ``path`` (``{release}`` standing for the release's id) unfit for a notice."""
    fault = path_fault(path.replace("{release}", "x"))
    if fault is None and not path.lower().endswith((".html", ".htm")):
        fault = "must end in .html: the notice is a fragment of a web page"
    return fault


class Notice(Strict):
    """``[notice]`` of a release file: its own notice to users, each key replacing the one of
    onthedot.toml's ``[notice]`` (settings.NoticeSettings documents them)."""

    enabled: bool | None = None
    after_s: float | None = Field(None, ge=0)
    update_in_s: float | None = Field(None, gt=0)
    path: str | None = None
    delayed: str | None = None
    published: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        fault = None if value is None else notice_path_fault(value)
        if fault is not None:
            raise ValueError(fault)
        return value

    @field_validator(*NOTICE_PLACEHOLDERS)
    @classmethod
    def _template(cls, value: str | None, info: ValidationInfo) -> str | None:
        fault = (
            None
            if value is None
            else template_fault(value, NOTICE_PLACEHOLDERS[str(info.field_name)])
        )
        if fault is not None:
            raise ValueError(fault)
        return value


_SECRET_QUERY = frozenset({"password", "pass", "token", "apikey", "key", "secret", "webhook"})


def _gate_address(url: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", url):
        raise ValueError(
            "must be an address such as mailto://, json:// or slack://, without spaces"
        )
    return url


def has_secret(url: str) -> bool:
    """True when ``url`` carries a password or a token (its user's password, or a query key
    such as ``token=``): such an address is kept in onthedot.toml, never in a release file."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return False
    keys = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    return bool(password) or bool(keys & _SECRET_QUERY)


class Gate(Strict):
    """``[[gate]]``: an action held until the release is live everywhere (a briefing to
    officials, a press or social-media webhook, a data-API switch), then sent once."""

    name: str = Field(min_length=1, description="what it is, in a few words")
    send: Annotated[str, AfterValidator(_gate_address)] = Field(
        description="where it goes: an Apprise address (mailto://, json:// for a webhook POST ...)"
    )
    message: str = ""


class Release(Strict):
    id: Slug
    title: str
    producer: str
    release_at: dt.datetime  # aware, UTC
    announced_at: dt.datetime | None = None
    nation: Nation = "england-and-wales"
    lead_statistician: str | None = None
    head_of_profession: str | None = None
    exemption: str | None = None
    statement_url: WebURL | None = None
    site: Site | None = None
    artefact: tuple[Artefact, ...] = ()
    change: tuple[Change, ...] = ()
    pre_release_access: tuple[PreReleaseAccess, ...] = ()
    notice: Notice | None = None
    gate: tuple[Gate, ...] = ()
    # where it came from (set by the loader)
    source: Path | None = None
    lines: dict[str, int] = Field(default_factory=dict)

    @field_validator("artefact")
    @classmethod
    def _paths_once(cls, value: tuple[Artefact, ...]) -> tuple[Artefact, ...]:
        twice = duplicate_paths(a.path for a in value if a.path is not None)
        if twice:
            raise ValueError(f"{twice[0]} is listed twice: list each artefact path once")
        return value

    @field_validator("gate")
    @classmethod
    def _gates(cls, value: tuple[Gate, ...]) -> tuple[Gate, ...]:
        names = [g.name for g in value]
        twice = duplicate_paths(names)
        if twice:
            raise ValueError(
                f"the gate {twice[0]!r} is declared twice: give each gate its own name"
            )
        return value

    def line_of(self, field: str) -> int | None:
        return self.lines.get(field)

    @property
    def paths(self) -> tuple[str, ...]:
        """The URL paths of the artefacts that have one (a found file has none until published)."""
        return tuple(a.path for a in self.artefact if a.path is not None)

    @property
    def published_by(self) -> str | None:
        """The system that publishes this release when onthedot does not (None: onthedot does)."""
        return self.site.published_by if self.site is not None else None

    @property
    def not_controlled(self) -> str | None:
        """What onthedot does not do for a release another system publishes, in one sentence for
        ``check``, ``preflight`` and the dashboard (None when onthedot publishes it)."""
        who = self.published_by
        if who is None:
            return None
        return (
            f"{who} publishes this release: onthedot does not upload its files or put them live "
            "at the release time; it watches the public website before and after, alerts, and "
            "records what it sees."
        )


class Severity(enum.StrEnum):
    ERROR = "error"  # a breach of the Code if the release goes ahead like this
    WARNING = "warning"  # worth a human look
    INFO = "info"


class Finding(Strict):
    rule: str
    severity: Severity
    message: str
    line: int | None = None


class Status(enum.StrEnum):
    """What one verification result says about one URL from one vantage point."""

    EMBARGOED = "embargoed"  # before T, new content not visible: fine
    EARLY = "early"  # before T, new content visible: breach
    LIVE = "live"  # from T, new content served
    STALE = "stale"  # from T, an older version served
    MISSING = "missing"  # 404 / 410
    ERROR = "error"  # 5xx, timeout, TLS, DNS, connection
    WRONG_FILE = "wrong-file"  # from T, a file found by its name holds other contents

    @property
    def is_breach(self) -> bool:
        return self in (
            Status.EARLY,
            Status.STALE,
            Status.MISSING,
            Status.ERROR,
            Status.WRONG_FILE,
        )


class CheckResult(Strict):
    """What one vantage point got for one URL at one moment, and why."""

    url: str
    status: Status
    served_sha256: str | None
    expected_sha256: str | None
    diagnosis: str
    cache: dict[str, Any] = Field(default_factory=dict)
    vantage: str = "default"
    checked_at: dt.datetime
    http_status: int | None = None
    layer: str | None = None  # which layer is old: "cache", "origin", None
    timings: dict[str, float] = Field(default_factory=dict)

    @classmethod
    def judged(
        cls,
        *,
        url: str,
        status: Status,
        served_sha256: str | None,
        expected_sha256: str | None,
        diagnosis: str,
        cache: dict[str, Any],
        vantage: str,
        checked_at: dt.datetime,
        http_status: int | None,
        layer: str | None,
        timings: dict[str, float],
    ) -> CheckResult:
        """A result made by onthedot's own judgement of a response (``verify.judgement``),
        whose values need no validating: a sweep makes one per URL, and validating was 12 of its
        15 µs (as ``model_construct`` does, at a quarter of its cost). ``cache`` and ``timings``
        are kept, not copied. What comes from elsewhere (an agent, the store) is validated."""
        made = cls.__new__(cls)
        _set = object.__setattr__
        _set(
            made,
            "__dict__",
            {
                "url": url,
                "status": status,
                "served_sha256": served_sha256,
                "expected_sha256": expected_sha256,
                "diagnosis": diagnosis,
                "cache": cache,
                "vantage": vantage,
                "checked_at": checked_at,
                "http_status": http_status,
                "layer": layer,
                "timings": timings,
            },
        )
        _set(made, "__pydantic_fields_set__", set(_CHECK_FIELDS))
        _set(made, "__pydantic_extra__", None)
        _set(made, "__pydantic_private__", None)
        return made


_CHECK_FIELDS = frozenset(CheckResult.model_fields)


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a zone")
    return value.astimezone(UTC)


@functools.lru_cache(maxsize=256)  # a sweep writes the same instant for thousands of results
def iso_utc(value: dt.datetime) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z")


def and_joined(items: Sequence[str]) -> str:
    """A short list in a sentence: "a", "a and b", "a, b and c" (``items`` not empty)."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def iso(value: dt.datetime) -> str:
    """``value.isoformat()``, remembered for a plain UTC datetime: a sweep's responses share a few
    Last-Modified and fresh-until instants, and isoformat was 1–1.5 µs of each URL's ~19 µs of
    judging. (Only UTC ones, as an equal instant in another zone is written otherwise.)"""
    if value.tzinfo is UTC and type(value) is dt.datetime:
        return _iso_of_utc(value)
    return value.isoformat()


@functools.lru_cache(maxsize=4096)
def _iso_of_utc(value: dt.datetime) -> str:
    return value.isoformat()
