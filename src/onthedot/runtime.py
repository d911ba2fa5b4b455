"""Wire the parts for one release from its site config: prober, verifier, watcher, target, purgers.

The only place (with the CLI) that turns adapter URLs into adapters, through the registry.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, cast

from onthedot.clock import Clock
from onthedot.errors import ProbeError
from onthedot.model import Release
from onthedot.settings import RemediateSettings, VerifySettings
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse, ProbeTransport
from onthedot.verify.probe_curl import CurlTransport
from onthedot.verify.verifier import Verifier, allowed_hosts

if (
    TYPE_CHECKING
):  # what only publishing needs is imported by publisher_for (``verify`` starts faster)
    from sqlalchemy.ext.asyncio import AsyncEngine

    from onthedot.morning.publisher import Publisher
    from onthedot.morning.rehearsal import Rehearsal
    from onthedot.morning.spread import Spread
    from onthedot.morning.watch import OnSweep, WatchPlan
    from onthedot.verify.clockcheck import ClockOffset

def plain_tracebacks() -> None:
    """Log a crash's traceback as plain text (once, at the service's start). By default structlog
    renders it with rich, every frame's local variables included: measured here, one store error
    logged that way held the service's event loop for 7.7 s — and with it the flip and the checks
    that keep an instance the leader (``bench/bench_chaos.py``, the store stopped around T)."""
    import structlog

    renderer = structlog.get_config()["processors"][-1]
    if isinstance(renderer, structlog.dev.ConsoleRenderer):  # (its colours kept as they are)
        renderer.exception_formatter = structlog.dev.plain_traceback


def prober_for(
    release: Release, settings: VerifySettings, shared: SharedProbes | None = None
) -> Prober:
    """A prober for ``release``'s hosts over libcurl, the engine that fetches as the public does
    (``shared``: the engine every release of the service fetches through)."""
    transport = shared.lend() if shared is not None else curl_transport(settings)
    return Prober(transport, allowed_hosts=allowed_hosts(release))


def curl_transport(settings: VerifySettings) -> CurlTransport:
    return CurlTransport(
        concurrency=settings.concurrency, ca_file=settings.ca_file, verify_tls=settings.verify_tls
    )


class SharedProbes:
    """One probe engine (libcurl's multi handle, ``[verify] concurrency`` handles, their kept-alive
    connections) lent to every release a service publishes or helps sweep, instead of one each:
    200 releases due at one T made, drove and closed 200 engines, each waking the event loop on
    its own; their sweeps now wait in one queue, so ``concurrency`` bounds every release's
    fetches together (as ``morning.spread`` counts its budget). The engine is made for the first
    borrower and closed when the last one gives it back. One stopped by a fault is never lent
    again: the next borrower gets a new engine, and so does each prober of the old one at its
    next fetch (a fault met by one release's request must not stop every release's probing until
    all of them close)."""

    def __init__(self, settings: VerifySettings) -> None:
        self._settings = settings
        self._engine: CurlTransport | None = None
        self._lent: dict[CurlTransport, int] = {}  # engine -> probers holding it

    def lend(self) -> ProbeTransport:
        """The engine, for one prober (closing the prober gives it back)."""
        return _Lent(self, self.take())

    def take(self) -> CurlTransport:
        """The engine to fetch through now: a new one if the last was stopped by a fault."""
        engine = self._engine
        if engine is None or not engine.usable:
            engine = self._engine = curl_transport(self._settings)
        self._lent[engine] = self._lent.get(engine, 0) + 1
        return engine

    async def give_back(self, engine: CurlTransport) -> None:
        if self._release(engine):
            await engine.aclose()

    def exchange(self, broken: CurlTransport) -> CurlTransport:
        """A working engine for a prober that held ``broken`` (which a fault already stopped:
        nothing of it is left to close)."""
        self._release(broken)
        return self.take()

    def _release(self, engine: CurlTransport) -> bool:
        """One prober fewer holds ``engine``; True if it was the last (close it then)."""
        left = self._lent.pop(engine) - 1
        if left:
            self._lent[engine] = left
            return False
        if self._engine is engine:
            self._engine = None
        return True


class _Lent(ProbeTransport):
    """The shared engine as one prober sees it: closing it gives the engine back, once; an
    engine stopped by a fault is given back at the next fetch for the one lent now."""

    def __init__(self, owner: SharedProbes, engine: CurlTransport) -> None:
        self._owner = owner
        self._engine: CurlTransport | None = engine

    def stream(
        self, requests: Sequence[ProbeRequest], allowed_hosts: frozenset[str] | None
    ) -> AsyncGenerator[ProbeResponse, None]:
        engine = self._engine
        if engine is None:
            raise ProbeError("The prober was already closed; open a new one to fetch again.")
        if not engine.usable:
            engine = self._engine = self._owner.exchange(engine)
        return engine.stream(requests, allowed_hosts)

    async def aclose(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await self._owner.give_back(engine)


def make_verifier(prober: Prober, clock: Clock, settings: VerifySettings) -> Verifier:
    return Verifier(
        prober,
        clock=clock,
        timeout=settings.timeout,
        max_bytes=settings.max_bytes,
        cache_models=settings.caches.models(),
        follow_depth=settings.follow_depth,
    )


@asynccontextmanager
async def verifier_for(
    release: Release,
    clock: Clock,
    settings: VerifySettings | None = None,
    shared: SharedProbes | None = None,
) -> AsyncIterator[Verifier]:
    settings = settings or VerifySettings()
    async with prober_for(release, settings, shared) as prober:
        yield make_verifier(prober, clock, settings)


@asynccontextmanager
async def publisher_for(
    engine: AsyncEngine,
    release: Release,
    clock: Clock,
    *,
    plan: WatchPlan | None = None,
    settings: VerifySettings | None = None,
    wait_for_lease: bool = True,
    leak_probes: bool = True,
    on_sweep: OnSweep | None = None,
    remediate: RemediateSettings | None = None,
    spread: Spread | None = None,
    shared: SharedProbes | None = None,
) -> AsyncIterator[Publisher]:
    from onthedot.adapters import create
    from onthedot.morning.publisher import Publisher
    from onthedot.morning.watch import Watcher
    from onthedot.publish.purgers.base import Purger
    from onthedot.publish.targets.base import Target
    from onthedot.record.checks import CheckRecorder
    from onthedot.verify.clockcheck import measure

    site = release.site
    async with AsyncExitStack() as stack:
        target = None
        if site is not None and site.target:
            target = cast(Target, await stack.enter_async_context(create("target", site.target)))
        purgers = [
            cast(Purger, await stack.enter_async_context(create("purger", url)))
            for url in (site.purge if site else ())
        ]
        settings = settings or VerifySettings()
        prober = await stack.enter_async_context(prober_for(release, settings, shared))
        verifier = make_verifier(prober, clock, settings)
        recorder = CheckRecorder(engine)
        watcher = Watcher(verifier, recorder, clock, plan, on_sweep=on_sweep, spread=spread)
        ntp = settings.ntp

        async def clock_check(rel: Release) -> ClockOffset | None:
            return await measure(rel, prober, ntp)

        yield Publisher(
            engine,
            target=target,
            purgers=purgers,
            watcher=watcher,
            clock=clock,
            wait_for_lease=wait_for_lease,
            leak_probes=leak_probes,
            clock_check=clock_check,
            remediate=remediate,
        )


async def rehearse(
    release: Release,
    clock: Clock,
    settings: VerifySettings,
    *,
    remediate: RemediateSettings | None = None,
    path: str | None = None,
    limit_s: float | None = None,
) -> Rehearsal:
    """``release``'s morning rehearsed on its website (``morning.rehearsal``), wired as the
    morning is: each test version published by ``publisher_for`` (its watch limited to
    ``limit_s``), the first version read by the release's prober, the rehearsal's checks kept in
    a temporary store of its own."""
    import tempfile
    from pathlib import Path

    from onthedot.morning import rehearsal
    from onthedot.morning.watch import WatchPlan
    from onthedot.store.db import open_store

    def publisher_of(
        store: AsyncEngine, test: Release, watch_s: float
    ) -> AbstractAsyncContextManager[Publisher]:
        plan = WatchPlan.for_seconds(watch_s)
        return publisher_for(store, test, clock, plan=plan, settings=settings, remediate=remediate)

    with tempfile.TemporaryDirectory(prefix="onthedot-rehearsal-") as folder:
        engine = await open_store(f"sqlite:///{Path(folder) / 'rehearsal.db'}")
        try:
            async with prober_for(release, settings) as reader:
                return await rehearsal.rehearse(
                    release,
                    engine,
                    Path(folder),
                    publisher_of,
                    reader,
                    clock,
                    path=path,
                    limit_s=rehearsal.LIMIT_S if limit_s is None else limit_s,
                )
        finally:
            await engine.dispose()


def warm_up(releases: Iterable[Release]) -> None:
    """Import now what publishing these releases needs (the publisher, their targets' and
    purgers' modules): a standby that takes over a second before T must not spend that second
    importing (a purger's HTTP client alone takes ≈0.4 s on a busy machine)."""
    import onthedot.morning.publisher
    import onthedot.record.checks
    import onthedot.verify.clockcheck  # noqa: F401
    from onthedot.adapters import AdapterURL, lookup
    from onthedot.errors import InputError

    for release in releases:
        site = release.site
        if site is None:
            continue
        wanted = [("purger", url) for url in site.purge]
        wanted += [("target", site.target)] if site.target else []
        for kind, url in wanted:
            try:
                lookup(kind, AdapterURL.parse(url).scheme)
            except InputError:  # (said when the release is published)
                continue
