"""Pre-release access: grant a person a signed link to the staged files, serve it, record it.

``grant`` checks the rules (``calendar.prerelease``: the window before T, the release's list),
stores the grant and records ``pra.granted``; the link (``publish.prerelease_links``) expires at
T at the latest. ``Desk.admit`` checks a link as it is used, in this order: its signature (no
store read for a forged one), its grant (known, not revoked), the window (not before it opens,
not from T: the public has the statistics then), the link's own expiry, and the staged files (the
newest ``publish.staged`` manifest, not discarded or flipped since). ``Desk.open`` then reads the
staged copy through the release's target (file:// and memory:// can; others are refused with a
plain sentence), checks its SHA-256 against the manifest, and records the opening
(``pra.opened``, and in the store) before the first byte is sent. A genuine link used out of time
is recorded as ``pra.refused``; a forged one is only refused (the web layer logs it), so nobody
can fill the record by guessing links.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.adapters import create
from onthedot.calendar.policy import Policy
from onthedot.calendar.prerelease import Recipient, grant_findings, listed, window
from onthedot.calendar.timeutil import fmt_local
from onthedot.errors import AccessError, InputError, OnthedotError
from onthedot.model import Release
from onthedot.publish.prerelease_links import FORGED, Link, LinkKey
from onthedot.publish.targets.base import Staged, Target
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.store.prerelease import Grant, Opening, PreReleaseGrants, new_grant_id

ACTOR = "onthedot prerelease"


async def grant(
    engine: AsyncEngine,
    key: LinkKey,
    release: Release,
    policy: Policy,
    person: tuple[Recipient, str, str],
    now: dt.datetime,
    hours: float | None = None,
) -> tuple[Grant, str]:
    """Give ``person`` (recipient, role, justification) access: the grant and its link token.
    InputError (``rule: sentence``, on one line) when the rules refuse it."""
    recipient, role, why = person
    if not role.strip() or not why.strip():
        raise InputError(
            "Say what the person does (--role) and why they need the statistics before release "
            '(--why): both are recorded, and their role is published, e.g. --role "Press officer".'
        )
    refused = grant_findings(release, policy, recipient, now)
    if refused:
        raise InputError(" ".join(f"{f.rule}: {f.message}" for f in refused))
    closes = window(release, policy).closes
    expires = min(closes, now + dt.timedelta(hours=hours)) if hours else closes
    made = Grant(
        new_grant_id(),
        release.id,
        recipient.name,
        recipient.email,
        role.strip(),
        why.strip(),
        now,
        expires,
    )
    await PreReleaseGrants(engine).add(made)
    entry = listed(release, recipient)
    data = {
        **_who(made),
        "organisation": entry.organisation if entry else None,
        "role": made.role,
        "justification": made.justification,
        "expires_at": expires,
    }
    await Timeline(engine).append(release.id, kinds.PRA_GRANTED, data, actor=ACTOR, at=now)
    return made, key.sign(Link(release.id, made.id, expires))


async def revoke(
    engine: AsyncEngine, release: Release, recipient: Recipient, now: dt.datetime
) -> list[Grant]:
    """Revoke every open grant of ``recipient`` for ``release``; the grants that were revoked."""
    store = PreReleaseGrants(engine)
    theirs = [
        g
        for g in await store.of_release(release.id)
        if g.revoked_at is None and recipient.same_as(g.name, g.email)
    ]
    if not theirs:
        raise InputError(
            f"{recipient.name} has no pre-release access to {release.id} to revoke: see "
            f"onthedot prerelease list {release.id}."
        )
    await store.revoke([g.id for g in theirs], now)
    data = {"name": recipient.name, "email": recipient.email, "grants": [g.id for g in theirs]}
    await Timeline(engine).append(release.id, kinds.PRA_REVOKED, data, actor=ACTOR, at=now)
    return theirs


@dataclass(frozen=True, slots=True)
class StagedFile:
    """One staged copy as ``publish.staged`` recorded it: the exact bytes that will go live."""

    path: str
    sha256: str
    size: int
    location: str

    def staged(self) -> Staged:
        return Staged(self.path, "", self.location, self.sha256, self.size)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A link that may be used now: its grant, the release, and the staged files."""

    grant: Grant
    release: Release
    files: tuple[StagedFile, ...]
    target: str


class Desk:
    """Where links are used: checks each one, reads the staged copies, records every opening."""

    def __init__(
        self,
        engine: AsyncEngine,
        key: LinkKey,
        policy: Policy,
        release_of: Callable[[str], Awaitable[Release]],
    ) -> None:
        self._engine, self._key, self._policy, self._release_of = engine, key, policy, release_of

    async def admit(
        self, release_id: str, token: str, now: dt.datetime, path: str | None = None
    ) -> Admitted:
        """The link checked for use at ``now``; AccessError (one sentence) when it may not be,
        recorded when the link is genuine."""
        link = self._key.check(release_id, token)
        found = await PreReleaseGrants(self._engine).get(link.grant_id)
        if found is None or found.release_id != release_id:
            raise AccessError(FORGED)
        try:
            return await self._admitted(found, link, now)
        except OnthedotError as exc:
            await self._refused(found, now, path, str(exc))
            raise

    async def _admitted(self, found: Grant, link: Link, now: dt.datetime) -> Admitted:
        if found.revoked_at is not None:
            raise AccessError(
                "This pre-release link was withdrawn: ask the release's statistician if you "
                "still need the statistics before release."
            )
        release = await self._release_of(found.release_id)
        when = window(release, self._policy)
        if now >= when.closes:
            raise AccessError(
                f"{release.title} was published at {fmt_local(when.closes, self._policy.zone)}: "
                "this link has ended; read the statistics where they are published."
            )
        if now < when.opens:
            raise AccessError(
                "This pre-release link opens at "
                f"{fmt_local(when.opens, self._policy.zone)}: open it again then."
            )
        if now >= link.expires_at:
            raise AccessError(
                "This pre-release link has expired: ask the release's statistician for a new "
                "one, or read the statistics when they are published."
            )
        target, files = await self._staged(release)
        return Admitted(found, release, files, target)

    async def _staged(self, release: Release) -> tuple[str, tuple[StagedFile, ...]]:
        events = await Timeline(self._engine).events(release.id)
        staged = [e for e in events if e.kind == kinds.PUBLISH_STAGED]
        gone = {kinds.PUBLISH_DISCARDED, kinds.PUBLISH_FLIPPED}
        if not staged or any(e.kind in gone and e.seq > staged[-1].seq for e in events):
            raise AccessError(
                f"The files of {release.title} are not ready yet: open this link again later."
            )
        data: dict[str, Any] = dict(staged[-1].data)
        files = tuple(
            StagedFile(str(m["path"]), str(m["sha256"]), int(m["size"]), str(m["location"]))
            for m in data.get("manifest") or []
        )
        return str(data.get("target") or ""), files

    async def open(
        self, admitted: Admitted, path: str, now: dt.datetime
    ) -> tuple[StagedFile, AsyncIterator[bytes]]:
        """The staged file at ``path``: checked to be the staged bytes and recorded as opened;
        its chunks follow."""
        item = next((f for f in admitted.files if f.path == path), None)
        if item is None:
            raise AccessError(f"{path} is not one of the files of this release: see the list.")
        try:
            target = self._target(admitted)
        except OnthedotError as exc:
            await self._refused(admitted.grant, now, path, str(exc))
            raise
        try:  # (the target is closed once its chunks are read, or here if they never will be)
            try:
                if await _sha256(target.read_staged(item.staged())) != item.sha256:
                    raise AccessError(
                        f"The staged copy of {path} is not the file that was staged: tell the "
                        "release's statistician, who should stage the release again."
                    )
            except OnthedotError as exc:
                await self._refused(admitted.grant, now, path, str(exc))
                raise
            await self.opened(admitted.grant, now, path, item.sha256)
        except BaseException:
            await target.aclose()
            raise
        return item, _closing(target, target.read_staged(item.staged()))

    def _target(self, admitted: Admitted) -> Target:
        site = admitted.release.site
        if site is None or not site.target:
            raise AccessError(f"{admitted.release.id} has no target to read its staged files from.")
        target = cast(Target, create("target", site.target))
        if target.url() != admitted.target:
            raise AccessError(
                f"The files of {admitted.release.title} were staged elsewhere than where they "
                "will be published now: open this link again once they are staged again."
            )
        return target

    async def opened(
        self, found: Grant, now: dt.datetime, path: str | None, sha256: str | None = None
    ) -> None:
        """Record a use of the link: on the timeline (who, when, what file) and in the store."""
        data = {**_who(found), "path": path, "sha256": sha256}
        await Timeline(self._engine).append(
            found.release_id, kinds.PRA_OPENED, data, actor=ACTOR, at=now
        )
        await PreReleaseGrants(self._engine).record(
            Opening(found.id, found.release_id, now, path, sha256, True)
        )

    async def _refused(self, found: Grant, now: dt.datetime, path: str | None, why: str) -> None:
        data = {**_who(found), "path": path, "reason": why}
        await Timeline(self._engine).append(
            found.release_id, kinds.PRA_REFUSED, data, actor=ACTOR, at=now
        )
        await PreReleaseGrants(self._engine).record(
            Opening(found.id, found.release_id, now, path, None, False, why)
        )


def _who(found: Grant) -> dict[str, Any]:
    return {"name": found.name, "email": found.email, "grant": found.id}


async def _closing(target: Target, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks``, then ``target`` closed (its connections, its worker threads), however the
    reading ends."""
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await target.aclose()


async def _sha256(chunks: AsyncIterator[bytes]) -> str:
    digest = hashlib.sha256()
    async for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()
