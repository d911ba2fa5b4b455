"""Wire the parts for one release from its site config: prober, verifier, watcher, target, purgers.

The only place (with the CLI) that turns adapter URLs into adapters, through the registry.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.adapters import create
from onthedot.clock import Clock
from onthedot.errors import ConfigError
from onthedot.model import Release
from onthedot.morning.publisher import Publisher
from onthedot.morning.watch import OnSweep, Watcher, WatchPlan
from onthedot.publish.purgers.base import Purger
from onthedot.publish.targets.base import Target
from onthedot.record.checks import CheckRecorder
from onthedot.verify.caches import MODELS, CacheModel
from onthedot.verify.clockcheck import ClockOffset, measure
from onthedot.verify.probe import Prober
from onthedot.verify.verifier import Verifier, allowed_hosts

GC_THRESHOLD = (50_000, 20, 100)
"""Young-generation collections every 50,000 allocations instead of CPython's 700."""


def tune_gc() -> None:
    """Keep the cyclic garbage collector out of a release morning's way (once, at start-up).

    A 10,000-URL sweep allocates a dozen objects per URL while every request and result of the
    sweep is alive, so with CPython's defaults the collector ran hundreds of times per sweep and its
    older-generation passes walked all of them: about a tenth of the sweep's CPU (measured with
    ``bench/bench_morning.py``). What the program loaded before the first sweep is frozen (never
    scanned again) and the young generation is collected less often; reference counting still
    frees everything without cycles at once, so memory stays bounded (the morning's peak RSS is
    measured by the same benchmark).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


@dataclass(frozen=True)
class VerifySettings:
    """``[verify]`` in onthedot.toml; ``[verify.caches]`` tells how this site's caches are set up,
    e.g. ``varnish = {default_ttl = 3600}`` (varnishd -t) or ``nginx = {valid = 600}``
    (proxy_cache_valid), so diagnoses and predictions are exact rather than product defaults."""

    concurrency: int = 64
    timeout: float = 10.0
    max_bytes: int | None = None
    ca_file: str | None = None
    verify_tls: bool = True
    caches: Mapping[str, CacheModel] = field(default_factory=dict)
    ntp: str | None = None  # "host:port" of an NTP server for the clock-offset record

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> VerifySettings:
        known = {
            k: table[k]
            for k in ("concurrency", "timeout", "max_bytes", "ca_file", "verify_tls", "ntp")
            if k in table
        }
        return cls(**known, caches=cache_models(table.get("caches", {})))


def cache_models(table: Mapping[str, Any]) -> dict[str, CacheModel]:
    models: dict[str, CacheModel] = {}
    for product, params in table.items():
        if product not in MODELS or not isinstance(params, Mapping):
            known = ", ".join(sorted(MODELS))
            raise ConfigError(
                f"[verify.caches] {product}: not a cache onthedot knows; use one of {known}."
            )
        try:
            models[product] = replace(MODELS[product], configured=True, **params)  # type: ignore[call-arg]
        except TypeError:
            raise ConfigError(
                f"[verify.caches] {product}: unknown setting in {dict(params)}: see docs/configuration.md."
            ) from None
    return models


def prober_for(release: Release, settings: VerifySettings) -> Prober:
    return Prober(
        concurrency=settings.concurrency,
        allowed_hosts=allowed_hosts(release),
        ca_file=settings.ca_file,
        verify_tls=settings.verify_tls,
    )


def make_verifier(prober: Prober, clock: Clock, settings: VerifySettings) -> Verifier:
    return Verifier(
        prober,
        clock=clock,
        timeout=settings.timeout,
        max_bytes=settings.max_bytes,
        cache_models=settings.caches,
    )


@asynccontextmanager
async def verifier_for(
    release: Release, clock: Clock, settings: VerifySettings | None = None
) -> AsyncIterator[Verifier]:
    settings = settings or VerifySettings()
    async with prober_for(release, settings) as prober:
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
) -> AsyncIterator[Publisher]:
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
        prober = await stack.enter_async_context(prober_for(release, settings))
        verifier = make_verifier(prober, clock, settings)
        watcher = Watcher(verifier, CheckRecorder(engine), clock, plan, on_sweep=on_sweep)
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
        )
