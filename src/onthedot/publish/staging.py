"""Staging: every file of a release uploaded hidden before T, then flipped into place at T.

The token that names the hidden copies is stored (step ``staging``) before the first byte goes up,
so a run killed mid-staging is resumed over the same hidden names (or its copies removed, if the
release changed) instead of leaving them behind. Staging and discarding are recorded on the
timeline; flipping is recorded by the publisher, which knows when T was.
"""

from __future__ import annotations

import secrets
from typing import Any

from onthedot import logs
from onthedot.clock import Clock
from onthedot.errors import ConfigError, LeaseLostError, OnthedotError
from onthedot.model import Release
from onthedot.publish.manifest import Manifest
from onthedot.publish.steps import StepLog
from onthedot.publish.targets.base import Staged, Target
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.verify.exposure import StagedCopy

log = logs.get_logger("onthedot.staging")

Done = dict[str, dict[str, Any]]  # the publish steps already done, by name (``StepLog.done``)


class Staging:
    def __init__(self, target: Target | None, timeline: Timeline, clock: Clock) -> None:
        self._target = target
        self._timeline = timeline
        self._clock = clock

    @property
    def target_url(self) -> str | None:
        return self._target.url() if self._target else None

    async def ensure(
        self, release: Release, manifest: Manifest, steps: StepLog, done: Done
    ) -> list[Staged]:
        """The staged copies of ``release``: those of an earlier run if it staged the same files
        (or already flipped them), else staged now (replacing an earlier run's, and saying so)."""
        previous = done.get("staged")
        if previous and (previous["digest"] == manifest.digest or "flipped" in done):
            old = [Staged(**s) for s in previous["staged"]]
            if "flipped" not in done:
                await self._note_found_live(release, old, changed=False)
            return old
        if previous:  # the release changed since staging: replace the staged copies, and say so
            old = [Staged(**s) for s in previous["staged"]]
            await self._note_found_live(release, old, changed=True)
            _raise_first(await self._discard(release, old))
            await steps.reset_from("staging")
            done = {}
        return await self.stage(release, manifest, steps, done.get("staging"))

    async def stage(
        self,
        release: Release,
        manifest: Manifest,
        steps: StepLog,
        started: dict[str, Any] | None = None,
    ) -> list[Staged]:
        """Upload every file hidden, resuming the staging ``started`` by an earlier run."""
        target = self._need_target(manifest)
        if started and started["digest"] != manifest.digest:
            _raise_first(
                await self._discard(release, _unfinished(started, target) if target else [])
            )
            await steps.reset_from("staging")
            started = None
        if started is None:
            started = {
                "digest": manifest.digest,
                "token": secrets.token_hex(16),
                "manifest": manifest.as_json(),
            }
            if not await steps.mark("staging", self._clock.now(), started):
                # (another run marked it between this one's fence and its mark: an old leader
                # waking late; its copies would go up under a token no run knows of)
                raise LeaseLostError(
                    f"Another run began staging {release.id} first: this one stops, and that "
                    "one publishes it."
                )
        staged: list[Staged] = []
        if target is not None:
            staged = await self._upload_all(release, target, manifest, started)
        await self._record_staged(release, manifest, steps, staged)
        return staged

    async def _upload_all(
        self, release: Release, target: Target, manifest: Manifest, started: dict[str, Any]
    ) -> list[Staged]:
        """Upload every file at once; if any upload fails, every hidden copy is removed (those
        that went up, and whatever a failed one left), then the first failure is raised."""
        uploads = [(e.path, e.local, e.sha256) for e in manifest.entries]
        try:
            return await target.stage_all(uploads, str(started["token"]))
        except Exception:
            await self._discard(release, _unfinished(started, target))  # (what stays is recorded)
            raise

    async def _record_staged(
        self, release: Release, manifest: Manifest, steps: StepLog, staged: list[Staged]
    ) -> None:
        step = {
            "digest": manifest.digest,
            "target": self.target_url,
            "staged": [s.__dict__ for s in staged],
        }
        listing = [
            {**m, "location": s.location} for m, s in zip(manifest.as_json(), staged, strict=True)
        ]
        at = self._clock.now()
        await self._timeline.append(
            release.id,
            kinds.PUBLISH_STAGED,
            {"target": self.target_url, "manifest": listing},
            at=at,
            with_=steps.marker("staged", at, step),
        )

    async def _note_found_live(self, release: Release, staged: list[Staged], changed: bool) -> None:
        """After T, a run that finds the staged files of an earlier one live with no record of
        their flip (it stopped between putting them in place and recording it) says so on the
        timeline, before they are flipped again (the same version: recorded as flipped now) or
        replaced (the release changed since): the record keeps that they went out. One file is
        looked at (the first renamed): a run that did not flip costs one look more."""
        if self._target is None or not staged or self._clock.now() < release.release_at:
            return
        first = staged[0]
        if await self._target.fetch_sha256(first.path) != first.sha256:
            return
        then = (
            "the release has changed since, and its new version is published over them now"
            if changed
            else "they are recorded as put in place now"
        )
        text = (
            "The files staged for the release time were found already published when "
            "publishing went on after a stop, with no record of when they were put in place "
            f"(the stop came between the two): {then}."
        )
        log.warning("staged files found live with no record of their flip", release=release.id)
        await self._timeline.append(
            release.id, kinds.NOTE, {"text": text}, at=self._clock.now(), actor="publisher"
        )

    def public_copies(
        self, release: Release, manifest: Manifest, staged: list[Staged]
    ) -> list[StagedCopy]:
        """Each staged copy with the public URL it has if the web server serves where it waits
        (None when it waits outside the served tree): what the leak probes fetch."""
        site, target = release.site, self._target
        if site is None or target is None:
            return []
        local = {e.path: e.local for e in manifest.entries}
        copies = []
        for item in staged:
            if item.path in local:
                where = target.public_path(item)
                url = site.url(where) if where else None
                copies.append(
                    StagedCopy(item.path, url, item.location, item.sha256, local[item.path])
                )
        return copies

    async def flip(self, staged: list[Staged]) -> None:
        """Move every staged copy into place (renames: the only thing done at T)."""
        if self._target is not None:
            await self._target.flip_all(staged)

    async def in_place(self, copy: Staged) -> bool:
        """Whether the target holds ``copy``'s bytes at its final path (the whole file read)."""
        return self._target is not None and (
            await self._target.fetch_sha256(copy.path) == copy.sha256
        )

    async def let_go(self, staged: list[Staged]) -> None:
        """Once the flip is done and watched: let go of what the target kept of the files it
        replaced (``Target.let_go``)."""
        if self._target is not None:
            await self._target.let_go(staged)

    async def _discard(self, release: Release, staged: list[Staged]) -> list[OnthedotError]:
        """Remove every staged copy (each tried, whatever the others do) and record it; returns
        the failures, also recorded with the copies that may still be there."""
        removed: list[Staged] = []
        failures: list[OnthedotError] = []
        left: list[dict[str, str]] = []
        for item in staged:
            try:
                if self._target is not None:
                    await self._target.discard(item)
                removed.append(item)
            except OnthedotError as exc:
                failures.append(exc)
                left.append({"path": item.path, "location": item.location, "error": str(exc)})
        listing = [{"path": s.path, "sha256": s.sha256, "location": s.location} for s in removed]
        data: dict[str, Any] = {"target": self.target_url, "manifest": listing}
        if left:
            data["not_removed"] = left
        await self._timeline.append(release.id, kinds.PUBLISH_DISCARDED, data, at=self._clock.now())
        return failures

    def _need_target(self, manifest: Manifest) -> Target | None:
        if manifest.entries and self._target is None:
            raise ConfigError(
                f"{manifest.release_id} has files to publish but no target: set [site] target, "
                'e.g. target = "ftp://publisher@host/".'
            )
        return self._target


def _raise_first(failures: list[OnthedotError]) -> None:
    if failures:
        raise failures[0]


def _unfinished(started: dict[str, Any], target: Target) -> list[Staged]:
    """The hidden copies an interrupted staging may have left (named by its token)."""
    token = str(started["token"])
    return [
        Staged(m["path"], token, target.staged_location(m["path"], token), m["sha256"], m["size"])
        for m in started["manifest"]
    ]
