"""Publish a release: stage under embargo, go live on the dot, purge, verify — as recorded steps.

Everything slow (uploads) happens before T; at T only flips (renames). Each completed step is a row
in ``publish_steps`` and an event in the timeline, so a publisher killed at any moment and started
again resumes after the last completed step: it never uploads twice and never publishes twice.
A release whose T passed while nothing was running is published at once and recorded as late.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import Clock
from onthedot.errors import ConfigError, OnthedotError, PurgeError
from onthedot.model import CheckResult, Release, iso_utc
from onthedot.publish.lease import Lease
from onthedot.publish.manifest import Manifest
from onthedot.publish.purgers.base import PurgeAttempt, Purger
from onthedot.publish.steps import StepLog
from onthedot.publish.targets.base import Staged, Target, staged_path
from onthedot.publish.timer import wait_until
from onthedot.record import kinds
from onthedot.record.timeline import Timeline
from onthedot.verify.clockcheck import ClockOffset
from onthedot.verify.schedule import Repurge, Watcher, WatchOutcome

log = structlog.get_logger("onthedot.publisher")

PREPARE_BEFORE_S = 3.0  # the sweep at T is got ready this long before T (see _until_t_preparing)
REPURGE_LIMIT = 3
ClockCheck = Callable[[Release], Awaitable[ClockOffset | None]]


@dataclass
class PublishOutcome:
    release: str
    flipped_at: dt.datetime | None = None
    late_s: float = 0.0
    early_s: float = 0.0
    resumed: tuple[str, ...] = ()
    purge_attempts: list[PurgeAttempt] = field(default_factory=list)
    watch: WatchOutcome | None = None

    @property
    def live(self) -> bool:
        return self.watch is not None and self.watch.live

    def as_json(self) -> dict[str, Any]:
        last = self.watch.last if self.watch else None
        return {
            "release": self.release,
            "live": self.live,
            "flipped_at": iso_utc(self.flipped_at) if self.flipped_at else None,
            "late_s": round(self.late_s, 3),
            "early_s": round(self.early_s, 3),
            "resumed_after": list(self.resumed),
            "purge_attempts": [
                {
                    "purger": a.purger,
                    "request": a.request,
                    "status": a.status,
                    "ok": a.ok,
                    "detail": a.detail,
                }
                for a in self.purge_attempts
            ],
            "verify": last.as_json() if last else None,
        }


class Publisher:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        target: Target | None,
        purgers: Sequence[Purger],
        watcher: Watcher,
        clock: Clock,
        wait_for_lease: bool = True,
        leak_probes: bool = True,
        clock_check: ClockCheck | None = None,
    ) -> None:
        self._engine = engine
        self._target = target
        self._purgers = list(purgers)
        self._watcher = watcher
        self._clock = clock
        self._wait_for_lease = wait_for_lease
        self._leak_probes = leak_probes
        self._clock_check = clock_check
        self.timeline = Timeline(engine)

    async def publish(self, release: Release, *, immediately: bool = False) -> PublishOutcome:
        lease = Lease(self._engine, release.id)
        await lease.acquire(wait=self._wait_for_lease)
        try:
            return await self._run(release, immediately)
        finally:
            await lease.release()

    async def _event(
        self,
        release: Release,
        kind: str,
        data: dict[str, Any],
        at: dt.datetime | None = None,
        step: tuple[StepLog, str, dict[str, Any]] | None = None,
    ) -> None:
        """Record an event; with ``step``, mark that publish step done in the same transaction."""
        at = at or self._clock.now()
        marker = step[0].marker(step[1], at, step[2]) if step else None
        await self.timeline.append(release.id, kind, data, at=at, with_=marker)

    async def _run(self, release: Release, immediately: bool) -> PublishOutcome:
        steps = StepLog(self._engine, release.id)
        done = await steps.done()
        outcome = PublishOutcome(
            release.id,
            resumed=tuple(s for s in ("staged", "flipped", "purged", "verified") if s in done),
        )
        manifest = Manifest.of(release)
        purging: asyncio.Task[None] | None = None
        try:
            staged = await self._ensure_staged(release, manifest, steps, done)
            if "flipped" not in done:
                await self._measure_clock(release)
                if self._leak_probes and not immediately and self._clock.now() < release.release_at:
                    await self._watcher.leak_probes(release)
                purging = await self._go_live(release, staged, steps, outcome, immediately, done)
            else:
                outcome.flipped_at = dt.datetime.fromisoformat(done["flipped"]["at"])
                outcome.late_s = float(done["flipped"].get("late_s", 0.0))
        except OnthedotError as exc:
            await self._event(
                release, kinds.PUBLISH_FAILED, {"error": str(exc), "kind": type(exc).__name__}
            )
            raise
        # the sweep starts at T, while the caches are being purged (a CDN may take minutes)
        if purging is None and "purged" not in done:
            purging = asyncio.create_task(self._purge_step(release, steps, outcome))
        try:
            outcome.watch = await self._watcher.after_t(
                release, repurge=self._repurger(release, purging), since=outcome.flipped_at
            )
        finally:
            if purging is not None:
                await purging
        if "verified" not in done:  # a re-run of a finished release only looks again
            done_data = {"live": outcome.watch.live, "late_s": outcome.late_s}
            await self._event(
                release, kinds.PUBLISH_DONE, done_data, step=(steps, "verified", done_data)
            )
        return outcome

    async def _measure_clock(self, release: Release) -> None:
        """Record how far this host's clock is from a reference, for the report's uncertainty."""
        if self._clock_check is None:
            return
        offset = await self._clock_check(release)
        if offset is not None:
            await self._event(release, kinds.CLOCK_OFFSET, offset.as_json())

    # --- staging ----------------------------------------------------------------------------------

    async def _ensure_staged(
        self, release: Release, manifest: Manifest, steps: StepLog, done: dict[str, dict[str, Any]]
    ) -> list[Staged]:
        previous = done.get("staged")
        if previous and (previous["digest"] == manifest.digest or "flipped" in done):
            return [Staged(**s) for s in previous["staged"]]
        if previous:  # the release changed before T: replace the staged copies, and say so
            await self._discard(release, [Staged(**s) for s in previous["staged"]])
            await steps.reset_from("staging")
            done = {}
        return await self._stage(release, manifest, steps, done.get("staging"))

    async def _stage(
        self,
        release: Release,
        manifest: Manifest,
        steps: StepLog,
        started: dict[str, Any] | None = None,
    ) -> list[Staged]:
        """Upload every file hidden. The token that names the hidden copies is stored before the
        first byte goes up, so a run killed mid-staging is resumed over the same hidden names (or
        its copies removed, if the release changed) instead of leaving them behind."""
        target = self._need_target(manifest)
        if started and started["digest"] != manifest.digest:
            await self._discard(release, self._unfinished(started))
            await steps.reset_from("staging")
            started = None
        if started is None:
            started = {
                "digest": manifest.digest,
                "token": secrets.token_hex(16),
                "manifest": manifest.as_json(),
            }
            await steps.mark("staging", self._clock.now(), started)
        token = str(started["token"])
        if target is None:
            staged: list[Staged] = []
        else:
            staged = list(
                await asyncio.gather(
                    *(target.stage(e.path, e.local, e.sha256, token) for e in manifest.entries)
                )
            )
        data = {
            "digest": manifest.digest,
            "target": target.url() if target else None,
            "staged": [s.__dict__ for s in staged],
        }
        await self._event(
            release,
            kinds.PUBLISH_STAGED,
            {
                "target": data["target"],
                "manifest": [
                    {**m, "location": s.location}
                    for m, s in zip(manifest.as_json(), staged, strict=True)
                ],
            },
            step=(steps, "staged", data),
        )
        return staged

    @staticmethod
    def _unfinished(started: dict[str, Any]) -> list[Staged]:
        """The hidden copies an interrupted staging may have left (named by its token)."""
        token = str(started["token"])
        return [
            Staged(m["path"], token, staged_path(m["path"], token), m["sha256"], m["size"])
            for m in started["manifest"]
        ]

    async def _discard(self, release: Release, staged: list[Staged]) -> None:
        if self._target is not None:
            for item in staged:
                await self._target.discard(item)
        await self._event(
            release,
            kinds.PUBLISH_DISCARDED,
            {
                "target": self._target.url() if self._target else None,
                "manifest": [
                    {"path": s.path, "sha256": s.sha256, "location": s.location} for s in staged
                ],
            },
        )

    def _need_target(self, manifest: Manifest) -> Target | None:
        if manifest.entries and self._target is None:
            raise ConfigError(
                f"{manifest.release_id} has files to publish but no target: set [site] target, "
                'e.g. target = "ftp://publisher@host/".'
            )
        return self._target

    # --- go live ----------------------------------------------------------------------------------

    async def _go_live(
        self,
        release: Release,
        staged: list[Staged],
        steps: StepLog,
        outcome: PublishOutcome,
        immediately: bool,
        done: dict[str, dict[str, Any]],
    ) -> asyncio.Task[None] | None:
        """Wait for T, flip every file, start the purges at once, then record the flip."""
        if not immediately:
            if self._clock.now() < release.release_at:
                await self._event(
                    release, kinds.PUBLISH_WAITING, {"release_at": iso_utc(release.release_at)}
                )
            await self._until_t_preparing(release)
        fired = self._clock.now()
        if self._target is not None:
            await asyncio.gather(*(self._target.flip(s) for s in staged))
        purging = None
        if "purged" not in done:
            purging = asyncio.create_task(self._purge_step(release, steps, outcome))
        offset = (fired - release.release_at).total_seconds()
        outcome.flipped_at, outcome.late_s, outcome.early_s = (
            fired,
            max(0.0, offset),
            max(0.0, -offset),
        )
        data = {
            "target": self._target.url() if self._target else None,
            "paths": [s.path for s in staged],
            "release_at": iso_utc(release.release_at),
            "at": iso_utc(fired),
            "late_s": round(outcome.late_s, 6),
            "early_s": round(outcome.early_s, 6),
            "immediately": immediately,
        }
        await self._event(
            release, kinds.PUBLISH_FLIPPED, data, at=fired, step=(steps, "flipped", data)
        )
        return purging

    async def _until_t_preparing(self, release: Release) -> None:
        """Wait for T; from ``PREPARE_BEFORE_S`` before it, get the sweep at T ready (the site's
        addresses resolved, its requests built) alongside. Whatever is not ready at T is dropped,
        unawaited: the flip never waits for it."""
        await wait_until(self._clock, release.release_at - dt.timedelta(seconds=PREPARE_BEFORE_S))
        preparing = asyncio.create_task(self._watcher.prepare(release))
        preparing.add_done_callback(partial(_log_failed_preparation, release.id))
        try:
            await wait_until(self._clock, release.release_at)
        finally:
            preparing.cancel()  # (nothing, if it is done)

    # --- purge ------------------------------------------------------------------------------------

    async def _purge(self, release: Release, paths: Sequence[str]) -> list[PurgeAttempt]:
        if not self._purgers or release.site is None:
            return []
        urls = [release.site.url(p) for p in paths]
        results = await asyncio.gather(*(self._purge_one(release, p, urls) for p in self._purgers))
        return [a for attempts in results for a in attempts]

    async def _purge_one(
        self, release: Release, purger: Purger, urls: list[str]
    ) -> list[PurgeAttempt]:
        try:
            attempts = await purger.purge(urls)
            failed: str | None = None
        except PurgeError as exc:
            attempts, failed = list(exc.attempts), str(exc)
        await self.timeline.append_many(
            release.id,
            [
                (
                    kinds.PURGE_ATTEMPT,
                    {
                        "purger": a.purger,
                        "request": a.request,
                        "status": a.status,
                        "ok": a.ok,
                        "detail": a.detail,
                        "duration_s": round(a.duration_s, 4),
                        "started_at": iso_utc(a.started_at),
                    },
                )
                for a in attempts
            ],
            at=self._clock.now(),
        )
        if failed:
            await self._event(
                release, kinds.PURGE_FAILED, {"purger": purger.url(), "urls": urls, "error": failed}
            )
        else:
            await self._event(release, kinds.PURGE_DONE, {"purger": purger.url(), "urls": urls})
        return attempts

    async def _purge_step(self, release: Release, steps: StepLog, outcome: PublishOutcome) -> None:
        outcome.purge_attempts = await self._purge(release, [a.path for a in release.artefact])
        await steps.mark("purged", self._clock.now(), {"attempts": len(outcome.purge_attempts)})

    def _repurger(self, release: Release, purging: asyncio.Task[None] | None) -> Repurge:
        """Purge again what is still stale in a cache, once the first purge is done (3 rounds)."""
        rounds = {"n": 0}

        async def repurge(stale: Sequence[CheckResult]) -> None:
            if purging is not None and not purging.done():
                return
            if not self._purgers or rounds["n"] >= REPURGE_LIMIT or release.site is None:
                return
            rounds["n"] += 1
            base = release.site.public.rstrip("/")
            paths = sorted({r.url[len(base) :] for r in stale if r.url.startswith(base)})
            await self._purge(release, paths)

        return repurge


def _log_failed_preparation(release_id: str, task: asyncio.Task[None]) -> None:
    """A preparation that failed is only a lost head start: the sweep at T resolves and builds
    for itself. Say so in the log."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("sweep.prepare_failed", release=release_id, error=repr(task.exception()))
