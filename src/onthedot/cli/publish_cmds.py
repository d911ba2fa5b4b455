"""``publish``: stage, wait for T, go live, purge, verify — and report the outcome."""

from __future__ import annotations

from typing import Annotated

import typer

from onthedot.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    emit_json,
    out,
    resolve_release,
    run,
    state,
)
from onthedot.cli.verify_cmds import print_results


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)


def publish(
    release: Annotated[str, typer.Argument(help="A release file, or the id of a known release.")],
    now: Annotated[
        bool, typer.Option("--now", help="Go live now instead of at release_at.")
    ] = False,
    watch: Annotated[
        float,
        typer.Option(
            "--watch", help="Seconds to keep checking after go-live until every URL is live."
        ),
    ] = 60.0,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait", help="Refuse instead of waiting when another publisher holds the release."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Stage under embargo, wait in the foreground until release_at (or --now), go live, purge, verify.

    Never refuses because of calendar-policy findings (`onthedot check` raises those); only input
    it cannot act on. Exit 0 when every URL is live, 1 when not.
    """
    from onthedot.calendar.timeutil import fmt_local
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.morning.watch import WatchPlan
    from onthedot.runtime import publisher_for, tune_gc

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
                plan=WatchPlan.for_seconds(watch),
                settings=state.config.verify,
                wait_for_lease=not no_wait,
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
        return EXIT_OK if outcome.live else EXIT_FINDINGS

    run(body, as_json)
