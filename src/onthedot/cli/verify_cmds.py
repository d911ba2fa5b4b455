"""``verify``, ``preflight``, ``diff``: see what the public sees, predict it, compare environments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from onthedot.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    emit_json,
    emit_json_bytes,
    err,
    fail,
    json_bytes,
    out,
    resolve_release,
    run,
    state,
    styled,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from onthedot.model import CheckResult
    from onthedot.verify.diff import DiffReport
    from onthedot.verify.verifier import Sweep, VerifyReport

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
STATUS_COLOUR = {
    "embargoed": "green",
    "live": "green",
    "early": "red",
    "stale": "red",
    "missing": "red",
    "error": "red",
    "wrong-file": "red",
}


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
    app.command("preflight")(preflight)
    app.command("diff")(diff)


def print_results(report: VerifyReport) -> None:
    from rich.table import Table

    table = Table("Status", "URL", "Vantage", "Diagnosis", show_lines=False)
    for r in report.results:
        colour = STATUS_COLOUR.get(r.status.value, "white")
        table.add_row(styled((r.status.value, colour)), r.url, r.vantage, r.diagnosis)
    out.print(table)
    verdict = ("all fine", "green") if report.ok else ("breach-level findings", "red")
    out.print(
        styled(f"{len(report.results)} result(s), {report.phase} the release time: ", verdict, ".")
    )


def verify(
    release: Annotated[str, typer.Argument(help="A release file, or the id of a known release.")],
    as_json: JsonOpt = False,
) -> None:
    """Look at every artefact URL now, as the public does (edge, origin, every vantage point).

    Before release_at: embargoed (fine) or early (breach). From release_at: live, stale, missing
    or error, each with a one-sentence diagnosis. Exit 0 all fine, 1 any breach-level status.
    """
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.collector import tune_gc
    from onthedot.record.beside import Beside
    from onthedot.runtime import verifier_for

    tune_gc()
    state.leave_at_once = True  # a sweep's thousands of objects need not be freed one by one
    beside = Beside.start(state.store)  # stores each batch while the next is fetched (a process
    # of its own, forked before this one has an event loop, a thread or a store connection)

    async def body() -> int:
        import asyncio

        written: asyncio.Future[bytes] | None = None

        async def handed_over(sweep: Sweep) -> AsyncIterator[list[CheckResult]]:
            nonlocal written
            async for batch in sweep.batches():
                yield batch
            if as_json:  # the report is whole: written out while the last batch is stored
                report = sweep.report
                written = asyncio.ensure_future(
                    asyncio.to_thread(lambda: json_bytes(report.as_json()))
                )

        async with state.store() as engine:
            beside.store_opened()  # (the recorder opens it while the release is read)
            rel = await resolve_release(engine, release)
            async with verifier_for(rel, SYSTEM_CLOCK, state.config.verify) as verifier:
                sweep = verifier.sweep(rel)
                try:
                    await beside.record(rel.id, handed_over(sweep))
                finally:
                    if written is not None:
                        await asyncio.wait([written])  # (not left running when storing failed)
            report = sweep.report
        if written is not None:  # (--json)
            emit_json_bytes(written.result())
        else:
            print_results(report)
        return EXIT_OK if report.ok else EXIT_FINDINGS

    try:
        run(body, as_json)
    finally:
        beside.close()


def preflight(
    release: Annotated[str, typer.Argument(help="A release file, or the id of a known release.")],
    tolerance: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Seconds after the release time a URL may still be old before it counts as "
            "late. Default: the rule breach detection uses ([policy] tolerance_s, at least 1).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict which URLs would hide the update at the release time, for how long, and the fix.

    Reads each public URL's caching headers now and applies what the recognised cache (Varnish,
    nginx, Squid, Traffic Server, a CDN) and browsers actually do, in their default configuration
    unless [verify.caches] says otherwise. A URL is at risk when it would still be old when breach
    detection counts it late. Before the release time the findings are recorded on the release's
    timeline, and a risk opens an incident that alerts IT. Exit 1 when any URL would keep serving
    the old version after the release time, or could not be read.
    """
    from rich.table import Table

    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.publish.placement import staging_findings
    from onthedot.respond.preflights import checker, record

    async def body() -> int:
        late_s = state.config.policy.late_after_s if tolerance is None else tolerance
        check = checker(state.config.verify, late_s, SYSTEM_CLOCK)
        async with state.store() as engine:
            rel = await resolve_release(engine, release)
            report = await check(rel)
            if SYSTEM_CLOCK.now() < rel.release_at:  # a risk found before T opens its incident
                await record(engine, report, SYSTEM_CLOCK.now(), source="cli")
        staging = [f.message for f in staging_findings(rel)]  # where staged copies will wait
        if rel.not_controlled:
            staging.append(rel.not_controlled)
        if as_json:
            emit_json({**report.as_dict(), "warnings": staging})
        else:
            for warning in staging:
                out.print(styled((warning, "yellow")), highlight=False)
            table = Table("Risk", "URL", "Stale until", "Reason", "Fix")
            for item in report.as_dict()["results"]:
                colour = "green" if item["risk"] == "none" else "red"
                table.add_row(
                    styled((item["risk"], colour)),
                    item["url"],
                    item["stale_until"] or "",
                    item["reason"],
                    item["fix"] or "",
                )
            out.print(table)
            if report.unread:
                err.print(styled(("Error:", "bold red"), " ", report.unread), highlight=False)
        return EXIT_OK if report.ok else EXIT_FINDINGS

    run(body, as_json)


def diff(
    url_a: Annotated[str, typer.Argument(help="The same path in one environment (e.g. UAT).")],
    url_b: Annotated[str, typer.Argument(help="...and in the other (e.g. live).")],
    interval: Annotated[
        float, typer.Option(help="Seconds between the two fetches of each URL.")
    ] = 2.0,
    release: Annotated[
        str | None,
        typer.Option(
            "--release",
            help="Record the comparison on this release's timeline (A the test environment, B "
            "the live website): the breach report's section on UAT then says what it found.",
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who made the comparison (with --release).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Compare the caching behaviour of two environments for the same path (UAT vs live).

    Headers, Age over two fetches, which layer answers, ETag/Last-Modified handling, compression,
    redirects. Exit 1 when the two would behave differently for a release.
    """
    from urllib.parse import urlsplit

    from rich.table import Table

    from onthedot.verify.diff import diff as run_diff
    from onthedot.verify.probe import Prober
    from onthedot.verify.probe_curl import CurlTransport

    if release is not None and not by.strip():
        fail("Say who made the comparison with --by NAME, so the record shows it.", EXIT_USAGE)

    async def body() -> int:
        hosts = {urlsplit(u).hostname or "" for u in (url_a, url_b)}
        async with Prober(CurlTransport(), allowed_hosts=hosts) as prober:
            report = await run_diff(url_a, url_b, prober, interval=interval)
        if release is not None:
            await _record_uat(release, by.strip(), url_a, url_b, report)
        if as_json:
            emit_json(report.as_dict())
        else:
            data = report.as_dict()
            if data["same"]:
                out.print("The two environments cache this path the same way.")
            table = Table("Aspect", "A", "B", "Why it matters")
            for item in data["differences"]:
                table.add_row(
                    item["aspect"], str(item["a"]), str(item["b"]), item["why_it_matters"]
                )
            if data["differences"]:
                out.print(table)
        return EXIT_OK if report.same else EXIT_FINDINGS

    run(body, as_json)


async def _record_uat(ref: str, by: str, url_a: str, url_b: str, report: DiffReport) -> None:
    """The comparison on the release's timeline, as what the test (UAT) environment shows."""
    from onthedot.record import kinds
    from onthedot.record.timeline import Timeline

    async with state.store() as engine:
        found = await resolve_release(engine, ref)
        await Timeline(engine).append(
            found.id,
            kinds.UAT_CHECKED,
            {
                "by": by,
                "text": report.finding(),
                "uat": url_a,
                "live": url_b,
                "same": report.same,
                "differences": [d.aspect for d in report.differences],
            },
            actor=by,
            source="diff",
        )
