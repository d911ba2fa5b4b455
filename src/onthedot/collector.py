"""The cyclic garbage collector, set for long runs that hold many objects at once: a release
morning's sweeps, the dashboard's pages."""

from __future__ import annotations

import gc

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
    measured by the same benchmark). The dashboard's process does the same once its app is made:
    a page of 200 releases' cards makes about a hundred thousand objects, and with the defaults
    collecting them cost 4 to 5 ms of every page's 30 to 45 (measured with the store of
    ``bench/bench_load.py``).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
