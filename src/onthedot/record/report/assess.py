"""Gather the record of a release, detect its breaches, attach corrective actions, store them.

``assess(engine, release)`` is what the ``breaches`` and ``report`` commands run: it reads the
timeline (and checks its hash chain), the stored verification results and the calendar findings,
and upserts the breaches it finds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.calendar.policy import Policy
from onthedot.calendar.rules import check_release
from onthedot.model import CheckResult, Finding, Release
from onthedot.record import breaches as breach_store
from onthedot.record.breaches import Breach, Evidence, merge_results, read_result
from onthedot.record.report.actions import actions_for
from onthedot.record.timeline import ChainCheck, Event, Timeline
from onthedot.store.releases import ReleaseRepository
from onthedot.store.tables import checks


@dataclass(frozen=True)
class Assessment:
    evidence: Evidence
    breaches: Sequence[Breach]
    chain: ChainCheck

    @property
    def release(self) -> Release:
        return self.evidence.release

    @property
    def record_reference(self) -> str | None:
        """The hash of the timeline's last event (its head) as read for this assessment: the
        fingerprint of the record a report or statement was drafted from."""
        return self.evidence.events[-1].hash if self.evidence.events else None

    @property
    def broken_event(self) -> Event | None:
        """The first event whose hash does not match, when the chain is broken."""
        if self.chain.ok or self.chain.broken_seq is None:
            return None
        return next((e for e in self.evidence.events if e.seq == self.chain.broken_seq), None)


async def stored_results(engine: AsyncEngine, release_id: str) -> list[CheckResult]:
    """The verification results in the checks table."""
    query = select(checks.c.result, checks.c.checked_at).where(checks.c.release_id == release_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query.order_by(checks.c.checked_at))).all()
    found = [read_result(r.result, r.checked_at) for r in rows if isinstance(r.result, Mapping)]
    return [o for o in found if o is not None]


async def earlier_versions(engine: AsyncEngine, release: Release) -> list[Release]:
    """The release as it was before each recorded change of its time (for T3.2)."""
    history = await ReleaseRepository(engine).history(release.id, "release_at")
    versions = []
    for entry in history:
        try:
            was = dt.datetime.fromisoformat(str(entry.old))
        except ValueError:
            continue
        was = was if was.tzinfo else was.replace(tzinfo=dt.UTC)
        versions.append(release.model_copy(update={"release_at": was.astimezone(dt.UTC)}))
    return versions


async def gather(
    engine: AsyncEngine, release: Release, policy: Policy
) -> tuple[Evidence, ChainCheck]:
    timeline = Timeline(engine)
    events, chain = await timeline.checked_signed(release.id)
    from_events = [
        o for e in events if e.kind == "verify.result" if (o := read_result(e.data, e.at))
    ]
    results = merge_results(from_events, await stored_results(engine, release.id))
    findings: list[Finding] = check_release(
        release, policy, history=await earlier_versions(engine, release)
    )
    evidence = Evidence(release, events, results, findings, policy)
    return evidence, chain


async def assess(
    engine: AsyncEngine,
    release: Release,
    *,
    policy: Policy | None = None,
    save: bool = True,
) -> Assessment:
    """Detect the release's breaches (with their corrective actions) and, by default, store them."""
    evidence, chain = await gather(engine, release, policy or Policy())
    found = breach_store.detect(evidence)
    with_actions = [
        dataclasses.replace(b, actions=tuple(actions_for(evidence, b))) for b in found
    ]
    if save:
        await breach_store.store(engine, release.id, with_actions)
    return Assessment(evidence, with_actions, chain)
