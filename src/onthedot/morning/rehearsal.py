"""A rehearsal of the release morning on the live website, with a harmless test file.

A fault of the hosting (a web server keeping the file it had open, a cache the purge does not
reach, a copy waiting for its time that the public can open) often shows only on the live
service: a test server set up "the same" does not have it. ``rehearse`` puts a small text file,
made for the rehearsal and holding nothing but what it is, on the release's own website through
the release's own target and purges, exactly as the morning will: a first version put live at
once, then a second version staged, put in place on the dot a few seconds later, purged and
checked until the public sees it. Until that moment the first version is read again and again,
through the public address and from the web server behind the cache, as readers do on a release
morning: so the caches, and a web server that keeps the files it has open, hold it at T, as they
hold last quarter's file. What stood in the way is told in the words of the morning's
own checks. Nothing is sent to anyone (no alerts, no notice, no gates), nothing of the release's
own files is touched, and the rehearsal's checks are kept in a record of their own; what it found
may then be recorded on the release's timeline (``record``), for the breach report's tests.
The test file stays on the website (a later rehearsal replaces it)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import posixpath
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.calendar.timeutil import fmt_local
from onthedot.clock import Clock
from onthedot.errors import InputError
from onthedot.model import Artefact, Release, Status, and_joined, iso_utc, path_fault
from onthedot.morning.publisher import Publisher, PublishOutcome
from onthedot.record import kinds
from onthedot.record.narrative import reason
from onthedot.record.timeline import Event, Timeline
from onthedot.verify.probe import ProbeRequest, ProbeResponse
from onthedot.verify.verifier import busted_url

FILE_NAME = "release-rehearsal.txt"
"""The test file's name, in the folder of the release's first file unless another path is given."""
LEAD_S = 5.0
"""Seconds from making the second version to putting it in place (its release time): time to
stage it, and for the morning's look at the waiting copy through the public address."""
LIMIT_S = 120.0
"""How long each version is checked for, at most, before the rehearsal says it did not arrive."""
READ_EVERY_S = 0.2
"""How often the first version is read, until T, through the public address and behind it."""

CAUSES = {
    "origin": "the web server itself kept serving the old file",
    "cache": "a cache in front of the web server kept serving the old file",
    "exposed": "a copy waiting for its release time could be opened by the public",
    "failed": "clearing the cache failed",
    "unlooked": "there was no time before the change to look whether a waiting copy could be "
    "opened by the public",
    "other": "the public could not get the file",
}
"""What held the new version back, in the words the record keeps (no product named)."""

PublisherOf = Callable[[AsyncEngine, Release, float], AbstractAsyncContextManager[Publisher]]
"""A publisher for a release, its watch limited to so many seconds (the command makes it as the
morning's is made: the release's target, purges, vantage points and remedies)."""


class Reader(Protocol):
    """What reads the first version until T, as the public does (a ``Prober``)."""

    async def fetch(self, request: ProbeRequest) -> ProbeResponse: ...


@dataclass(frozen=True, slots=True)
class Rehearsal:
    """What the rehearsal saw: when the version it watched (the second, unless the first never
    reached the public) was put in place, when each vantage point first saw it, and what stood in
    the way (plain sentences, none when nothing did)."""

    release: str
    url: str
    path: str
    stage: Literal["first", "second"]  # the version watched ("first": it never reached the public)
    put_in_place_at: dt.datetime | None  # when the version watched was put in place
    late_s: float
    seen: dict[str, dt.datetime]
    findings: tuple[str, ...]
    live: bool
    limit_s: float
    causes: tuple[str, ...] = ()  # of ``CAUSES``, in the order first met

    @property
    def ok(self) -> bool:
        return self.live and not self.findings

    @property
    def reached_after_s(self) -> float | None:
        """Seconds from the version watched put in place to the last vantage point seeing it."""
        if not self.live or self.put_in_place_at is None or not self.seen:
            return None
        return max(0.0, (max(self.seen.values()) - self.put_in_place_at).total_seconds())

    def sentences(self) -> list[str]:
        """The outcome for statisticians and web publishers, one sentence each."""
        if self.stage == "first":
            lead = (
                f"The rehearsal could not begin: a test file put on the website at {self.url} "
                f"did not reach the public within {self.limit_s:g} seconds."
            )
        else:
            when = fmt_local(self.put_in_place_at) if self.put_in_place_at else "its time"
            after = self.reached_after_s
            if after is None:
                lead = (
                    f"A test file changed on the website at {when} had not reached the public "
                    f"{self.limit_s:g} seconds later ({self.url})."
                )
            else:
                later = "at once" if after < 0.1 else f"{after:.1f} seconds later"
                lead = (
                    f"A test file changed on the website at {when} reached the public {later} "
                    f"({self.url})."
                )
        if self.ok:
            return [lead, "Nothing on the way held the old version back: this website is ready."]
        return [
            lead,
            *self.findings,
            "Put this right with IT before the release day, then rehearse again.",
        ]

    def record_text(self) -> str:
        """What the rehearsal found, as the release's timeline and breach report keep it: the
        public's wait and its causes, in a clause (no product, setting or address named)."""
        after = self.reached_after_s
        if self.stage == "first":
            found = (
                f"a test file put on it did not reach the public within {self.limit_s:g} seconds"
            )
        elif after is None:
            found = (
                f"a change to a test file had not reached the public {self.limit_s:g} seconds "
                "after it was made"
            )
        elif after < 0.1:
            found = "a change to a test file reached the public at once"
        else:
            found = (
                f"a change to a test file reached the public {after:.1f} seconds after it was made"
            )
        if self.ok:
            return f"{found}, and nothing held the old version back"
        causes = [CAUSES[c] for c in self.causes] or [CAUSES["other"]]
        return f"{found}: {and_joined(causes)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "ok": self.ok,
            "live": self.live,
            "url": self.url,
            "path": self.path,
            "stage": self.stage,
            "put_in_place_at": iso_utc(self.put_in_place_at) if self.put_in_place_at else None,
            "late_s": round(self.late_s, 3),
            "reached_after_s": (
                round(self.reached_after_s, 3) if self.reached_after_s is not None else None
            ),
            "seen": {vantage: iso_utc(at) for vantage, at in sorted(self.seen.items())},
            "findings": list(self.findings),
            "causes": list(self.causes),
            "limit_s": self.limit_s,
            "summary": " ".join(self.sentences()),
        }


def rehearsal_path(release: Release, path: str | None = None) -> str:
    """Where the test file goes: ``path``, else beside the release's first file; never one of
    the release's own files."""
    if path is None:
        first = next(iter(release.paths), "/")
        return posixpath.join(posixpath.dirname(first), FILE_NAME)
    fault = path_fault(path)
    if fault is not None:
        raise InputError(
            f"--path {path!r} {fault}: give the test file an address such as "
            f"/statistics/{FILE_NAME}."
        )
    if path in release.paths or path in {a.landing for a in release.artefact}:
        raise InputError(
            f"--path {path} is one of {release.id}'s own files: give the test file an address "
            f"of its own, such as /statistics/{FILE_NAME}."
        )
    return path


async def _refuse_taken(reader: Reader, urls: Sequence[str | None]) -> None:
    """An InputError when a file that is not a rehearsal's is already at one of ``urls``: the
    test file must never replace anything on the website."""
    for url in urls:
        if not url:
            continue
        answer = await reader.fetch(ProbeRequest(url=url, keep_body=len(_MARK), timeout=10.0))
        if answer.ok and not (answer.body or b"").startswith(_MARK):
            raise InputError(
                f"There is already a file at {url} that is not a rehearsal's test file: give "
                "the rehearsal another address with --path, so that nothing on the website is "
                "replaced."
            )


def _refuse(release: Release) -> None:
    """An InputError when the release cannot be rehearsed (onthedot does not put its files in
    place, or has nowhere to put them)."""
    if release.published_by is not None:
        raise InputError(
            f"{release.published_by} publishes {release.id}, not onthedot: a rehearsal puts a "
            "test file in place as the morning would, so rehearse with that system's own test."
        )
    if release.site is None or not release.site.target:
        raise InputError(
            f"{release.id} has no target (target = ... under [site]): a rehearsal puts its test "
            "file on the website the way the release will go, so set where the files go first."
        )


_MARK = b"Release rehearsal "
"""How a rehearsal's test file begins (what a later rehearsal may replace)."""


def _version(folder: Path, number: int, token: str) -> tuple[Path, str, int]:
    body = (
        f"{_MARK.decode()}{token}, version {number}.\n"
        "This file checks that a change to this website reaches the public on time. "
        "It holds nothing else.\n"
    ).encode()
    local = folder / f"version-{number}.txt"
    local.write_bytes(body)
    return local, hashlib.sha256(body).hexdigest(), len(body)


def _test_release(
    release: Release, path: str, local: Path, sha256: str, size: int, at: dt.datetime, n: int
) -> Release:
    """The release's site and target with one file, the test file, due ``at``; no gates,
    notice or pre-release access (nothing is sent to anyone)."""
    artefact = Artefact(path=path, file=local.name, sha256=sha256, size=size, local_path=local)
    return Release(
        id=f"rehearsal-{n}",
        title=f"Rehearsal for {release.title}",
        producer=release.producer,
        release_at=at,
        nation=release.nation,
        site=release.site,
        artefact=(artefact,),
    )


async def rehearse(
    release: Release,
    engine: AsyncEngine,
    folder: Path,
    publisher_of: PublisherOf,
    reader: Reader,
    clock: Clock,
    *,
    path: str | None = None,
    limit_s: float = LIMIT_S,
) -> Rehearsal:
    """Rehearse ``release``'s morning with a test file (see the module doc). ``engine`` is the
    rehearsal's own store, ``folder`` where its two versions are written, ``reader`` what reads
    the first version until T."""
    _refuse(release)
    path = rehearsal_path(release, path)
    assert release.site is not None
    url = release.site.url(path)
    behind = release.site.origin_url(path)
    # (asked behind the caches: a "not found" of the public address would stay in them)
    await _refuse_taken(reader, [behind or busted_url(url)])
    token = secrets.token_hex(4)
    timeline = Timeline(engine, clock)

    local, sha256, size = _version(folder, 1, token)
    first = _test_release(release, path, local, sha256, size, clock.now(), 1)
    async with publisher_of(engine, first, limit_s) as publisher:
        outcome = await publisher.publish(first, immediately=True)
    if not outcome.live:
        events = await timeline.events(first.id)
        return _told(release, url, path, "first", outcome, events, limit_s)

    local, sha256, size = _version(folder, 2, token)
    second = _test_release(release, path, local, sha256, size, clock.now(), 2)
    readers: asyncio.Future[None] | None = None
    try:
        async with publisher_of(engine, second, limit_s) as publisher:
            # (its time counted once the publisher is ready: the lead is for staging it and for
            # the look at the waiting copy, on a busy machine too)
            at = clock.now() + dt.timedelta(seconds=LEAD_S)
            second = second.model_copy(update={"release_at": at})
            readers = asyncio.ensure_future(_read_until(reader, [url, behind], at, clock))
            outcome = await publisher.publish(second)
    finally:
        if readers is not None:
            readers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await readers
    events = await timeline.events(second.id)
    return _told(release, url, path, "second", outcome, events, limit_s)


async def _read_until(
    reader: Reader, urls: Sequence[str | None], until: dt.datetime, clock: Clock
) -> None:
    """Read each of ``urls`` every ``READ_EVERY_S`` until ``until`` (what they answer does not
    matter here: the morning's checks judge what the public gets after T)."""
    requests = [ProbeRequest(url=u, timeout=2.0) for u in urls if u]
    while clock.now() < until:
        await asyncio.gather(*(reader.fetch(r) for r in requests))
        await asyncio.sleep(min(READ_EVERY_S, max(0.0, (until - clock.now()).total_seconds())))


def _told(
    release: Release,
    url: str,
    path: str,
    stage: Literal["first", "second"],
    outcome: PublishOutcome,
    events: Sequence[Event],
    limit_s: float,
) -> Rehearsal:
    seen: dict[str, dt.datetime] = {}
    for event in events:
        if event.kind == kinds.VERIFY_FIRST_LIVE:
            seen.setdefault(
                str(event.data["vantage"]),
                dt.datetime.fromisoformat(str(event.data["at"]).replace("Z", "+00:00")),
            )
    found = findings(events, outcome.flipped_at, looked_ahead=stage == "second")
    return Rehearsal(
        release=release.id,
        url=url,
        path=path,
        stage=stage,
        put_in_place_at=outcome.flipped_at,
        late_s=outcome.late_s,
        seen=seen,
        findings=tuple(sentence for _, sentence in found),
        live=outcome.live,
        limit_s=limit_s,
        causes=tuple(dict.fromkeys(cause for cause, _ in found)),
    )


UNLOOKED = (
    "There was no time, before the change, to look whether the copy waiting for its release "
    "time could be opened by the public: rehearse again, and if this is said again, ask IT why "
    "putting a file on the website takes so long."
)


def findings(
    events: Sequence[Event], flipped_at: dt.datetime | None, *, looked_ahead: bool = True
) -> list[tuple[str, str]]:
    """What stood in the way, in the record's order, each sentence once with its cause (of
    ``CAUSES``): a waiting copy the public could open, a purge that failed, and each check after
    the change that did not find the new version (its diagnosis); with ``looked_ahead``, also
    that there was no look before the change at all (so no waiting copy was looked for)."""
    said: list[tuple[str, str]] = []

    def say(cause: str, sentence: str) -> None:
        if sentence and all(sentence != known for _, known in said):
            said.append((cause, sentence))

    looked = False
    for event in events:
        data = event.data
        if event.kind == kinds.EMBARGO_EXPOSED:
            say(
                "exposed",
                "While it waited for its release time, the test file's new version could be "
                f"opened on the public website at {data.get('url')}: on the day, anyone who "
                "found that address could read the statistics early. Ask IT to keep copies "
                "waiting for their release time outside the web root, or to block such addresses.",
            )
        elif event.kind == kinds.PURGE_FAILED:
            why = reason(str(data.get("error") or ""))
            say("failed", f"Clearing the cache failed{f': {why}' if why else ''}.")
        elif event.kind == kinds.VERIFY_RESULT and flipped_at is not None:
            if event.at < flipped_at:
                looked = True
            elif data.get("status") != Status.LIVE.value:
                layer = data.get("layer")
                cause = layer if layer in ("origin", "cache") else "other"
                say(cause, _sentence(data.get("diagnosis")))
    if looked_ahead and flipped_at is not None and not looked:
        say("unlooked", UNLOOKED)
    return said


async def record(
    engine: AsyncEngine, release_id: str, rehearsal: Rehearsal, by: str, clock: Clock
) -> Event:
    """What ``rehearsal`` found, on the release's own timeline, as done by ``by``: the breach
    report's tests then tell it."""
    data = {
        "by": by,
        "text": rehearsal.record_text(),
        "ok": rehearsal.ok,
        "url": rehearsal.url,
        "reached_after_s": rehearsal.as_json()["reached_after_s"],
        "causes": list(rehearsal.causes),
    }
    return await Timeline(engine, clock).append(
        release_id, kinds.REHEARSED, data, actor=by, source="rehearse"
    )


def _sentence(text: Any) -> str:
    words = str(text or "").strip()
    if not words:
        return ""
    return words if words.endswith((".", "!", "?")) else words + "."
