"""``publish``: stage, wait for T, go live, purge, watch until live — and report the outcome;
``watch-stop``: a person stops the watch of a release that will not go live by waiting."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from onthedot.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    emit_json,
    fail,
    out,
    resolve_release,
    run,
    state,
)
from onthedot.cli.verify_cmds import print_results
from onthedot.errors import InputError

if TYPE_CHECKING:
    from onthedot.morning.watch import WatchPlan
    from onthedot.publish.steps import StepLog
    from onthedot.record.timeline import Timeline

ENDINGS = {
    "limit": "onthedot stopped checking at the watch's limit; not every address is live yet.",
    "stopped": "The watch was stopped by {by}; not every address is live yet.",
}


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)
    app.command("watch-stop")(watch_stop)
    app.command("rehearse")(rehearse)


def publish(
    release: Annotated[str, typer.Argument(help="A release file, or the id of a known release.")],
    now: Annotated[
        bool, typer.Option("--now", help="Go live now instead of at release_at.")
    ] = False,
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            help="Check for at most this many seconds after go-live. Default: until every URL is "
            "live, for at most [publish] watch_until_live_s (24 hours), or until `onthedot "
            "watch-stop`.",
            min=0.1,
        ),
    ] = None,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="Refuse instead of waiting when another publisher holds the release."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Stage under embargo, wait in the foreground until release_at (or --now), go live, purge, and
    check every URL until it is live.

    Never refuses because of calendar-policy findings (`onthedot check` raises those); only input
    it cannot act on. Exit 0 when every URL is live, 1 when not.
    """
    from onthedot.calendar.timeutil import fmt_local
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.collector import tune_gc
    from onthedot.morning.watch import WatchPlan
    from onthedot.runtime import publisher_for

    tune_gc()

    async def body() -> int:
        async with state.store() as engine:
            rel = await resolve_release(engine, release)
            if not as_json and not now:
                out.print(f"Staging {rel.id}; it goes live at {fmt_local(rel.release_at)}.")
            async with publisher_for(
                engine,
                rel,
                SYSTEM_CLOCK,
                plan=_plan(watch, WatchPlan),
                settings=state.config.verify,
                wait_for_lease=not no_wait,
                remediate=state.config.remediate,
            ) as publisher:
                outcome = await publisher.publish(rel, immediately=now)
        if as_json:
            emit_json(outcome.as_json())
        else:
            when = fmt_local(outcome.flipped_at) if outcome.flipped_at else "—"
            late = f", {outcome.late_s:.3f} s late" if outcome.late_s > 0.001 else ""
            out.print(f"Went live at {when}{late}.")
            if outcome.watch:
                print_results(outcome.watch.last)
                ending = ENDINGS.get(outcome.watch.ended)
                if ending:
                    out.print(ending.format(by=outcome.watch.stopped_by), highlight=False)
        return EXIT_OK if outcome.live else EXIT_FINDINGS

    run(body, as_json)


def _plan(seconds: float | None, plan: type[WatchPlan]) -> WatchPlan:
    """``--watch`` seconds at most, else until live within ``[publish] watch_until_live_s``."""
    if seconds is not None:
        return plan.for_seconds(seconds)
    return plan(until_live_s=state.config.publish.watch_until_live_s)


def rehearse(
    release: Annotated[str, typer.Argument(help="A release file, or the id of a known release.")],
    path: Annotated[
        str | None,
        typer.Option(
            "--path",
            help="The test file's address on the website. Default: release-rehearsal.txt in "
            "the folder of the release's first file.",
        ),
    ] = None,
    limit: Annotated[
        float,
        typer.Option("--limit", help="Check each version for at most this many seconds.", min=1),
    ] = 120.0,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Record what the rehearsal found on the release's timeline, as done by this "
            "person: the breach report's section on tests then tells it.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Rehearse the release morning on the live website with a harmless test file.

    Puts a small text file on the release's website the way the release will go (its target and
    purges): a first version at once, then a second version on the dot a few seconds later,
    checked until the public sees it. Until then the first is read again and again, as readers
    do on a release morning, so the caches hold it at that moment as they hold the old file. Says
    what held the old version back, in the words of the morning's checks. Nothing is sent to
    anyone, the release's own files are not touched, and the test file stays on the website (a
    later rehearsal replaces it); with --by, what it found is recorded on the release's timeline.
    Exit 0 when nothing stood in the way, 1 otherwise.
    """
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.morning.rehearsal import record
    from onthedot.runtime import rehearse as rehearsed

    who = by.strip() if by is not None else None
    if who == "":
        fail(
            '--by is empty: give the name of who rehearses, e.g. --by "Jane Smith".',
            EXIT_USAGE,
            as_json,
        )

    async def body() -> int:
        async with state.store() as engine:
            rel = await resolve_release(engine, release)
        if not as_json:
            out.print(
                f"Rehearsing on the website of {rel.id} with a test file: this takes a few "
                f"seconds, and each version is checked for at most {limit:g}.",
                highlight=False,
            )
        config = state.config
        done = await rehearsed(
            rel, SYSTEM_CLOCK, config.verify, remediate=config.remediate, path=path, limit_s=limit
        )
        if who:
            async with state.store() as engine:
                await record(engine, rel.id, done, who, SYSTEM_CLOCK)
        if as_json:
            emit_json(done.as_json())
        else:
            for sentence in done.sentences():
                out.print(sentence, highlight=False)
        return EXIT_OK if done.ok else EXIT_FINDINGS

    run(body, as_json)


def watch_stop(
    release: Annotated[str, typer.Argument(help="A release file, or the id of a known release.")],
    by: Annotated[str, typer.Option("--by", help="Who stops it (a name, not empty).")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why, e.g. 'IT will purge the cache by hand'.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Stop checking a release that is not live yet (recorded on its timeline with who and why).

    The publish or the service watching it ends its watch before its next check (within a
    minute), recording that it was stopped and which addresses were still not live.
    """
    from onthedot.publish.steps import StepLog
    from onthedot.record import kinds
    from onthedot.record.timeline import Timeline

    async def body() -> int:
        who, why = by.strip(), reason.strip()
        if not who:
            raise InputError(
                '--by is empty: give the name of who stops it, e.g. --by "Jane Smith".'
            )
        if not why:
            raise InputError(
                '--reason is empty: say why the watch stops, e.g. --reason "IT purges the cache by hand".'
            )
        async with state.store() as engine:
            rel = await resolve_release(engine, release)
            await _check_watched(StepLog(engine, rel.id), Timeline(engine), rel.id)
            event = await Timeline(engine).append(
                rel.id, kinds.WATCH_STOPPED, {"by": who, "reason": why}, actor=who, source="cli"
            )
        if as_json:
            emit_json({"ok": True, "release": rel.id, "event": event.as_json()})
        else:
            out.print(
                f"Recorded event {event.seq}: the watch of {rel.id} stops before its next check "
                "(within a minute).",
                highlight=False,
            )
        return EXIT_OK

    run(body, as_json)


async def _check_watched(steps: StepLog, timeline: Timeline, release_id: str) -> None:
    """An InputError unless ``release_id`` went live and its watch has not ended."""
    from onthedot.record import kinds

    done = await steps.done()
    if "flipped" not in done:
        raise InputError(
            f"{release_id} has not gone live, so nothing is checking it yet: stop its "
            "publication instead (stop `onthedot publish`, or take it out of the release files)."
        )
    newest = await timeline.newest(release_id, (kinds.WATCH_STOPPED, kinds.WATCH_ENDED))
    if "verified" in done and (newest is None or newest.kind == kinds.WATCH_ENDED):
        raise InputError(f"The watch of {release_id} has already ended: there is nothing to stop.")
