"""``init``, ``check`` and ``calendar``: announce releases and check them against the Code's T3 rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from onthedot.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    echo_styled,
    emit_json,
    out,
    run,
    state,
)
from onthedot.errors import ReleaseFileError

if TYPE_CHECKING:
    from onthedot.calendar.policy import Policy
    from onthedot.model import Finding, Release
    from onthedot.store.documents import HistoryEntry

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("check")(check)
    app.command("calendar")(calendar)


def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to create onthedot.toml and releases/.")
    ] = Path("."),
) -> None:
    """Scaffold onthedot.toml and an example release with an artefact."""
    from onthedot.cli.scaffold import write_example
    from onthedot.config import CONFIG_NAME

    if (directory / CONFIG_NAME).exists():
        out.print(f"{directory / CONFIG_NAME} already exists; nothing was changed.")
        raise typer.Exit(EXIT_FINDINGS)
    written = write_example(directory, today=dt.date.today())
    for path in written:
        out.print(f"created {path}")
    out.print(f"Next: cd {directory} && onthedot check releases/")
    raise typer.Exit(EXIT_OK)


def _expand(paths: list[Path]) -> list[Path]:
    from onthedot.config import CONFIG_NAME

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.glob("*.toml")) if p.name != CONFIG_NAME)
        else:
            files.append(path)
    return files


def findings_for(releases: list[Release], pol: Policy) -> dict[str, list[Finding]]:
    """Sync releases into the store, then check each with its recorded history (T3.2)."""
    from onthedot.calendar.rules import check_release
    from onthedot.store.glance import unchanged_histories

    # most runs find every release stored as it is: nothing to write, the history read by sqlite3
    histories = unchanged_histories(state.database_url, releases, "release_at")
    if histories is None:
        import asyncio

        histories = asyncio.run(synced_histories(releases))
    return {r.id: check_release(r, pol, history=histories[r.id]) for r in releases}


async def synced_histories(releases: list[Release]) -> dict[str, list[HistoryEntry]]:
    """Each release synced into the store (opened, migrated), with its recorded release times."""
    from onthedot.store.releases import ReleaseRepository

    result: dict[str, list[HistoryEntry]] = {}
    async with state.store() as engine:
        repo = ReleaseRepository(engine)
        for release in releases:
            await repo.sync(release, actor="check")
            result[release.id] = await repo.history(release.id, "release_at")
    return result


def check(
    paths: Annotated[list[Path], typer.Argument(help="Release files or folders of release files.")],
    as_json: JsonOpt = False,
) -> None:
    """Validate release files against the Code of Practice's orderly-release rules (T3)."""
    from onthedot.config import read_releases
    from onthedot.model import Severity

    def body() -> int:
        try:
            pol = state.config.policy
        except ReleaseFileError as exc:
            _print_problems(exc.problems, as_json)
            return 2
        from onthedot.respond.addresses import checked, config_problems

        alerts = config_problems(state.config)  # a bad alert address: found now, not at 09:30
        # a broken file (a held step's address no service can use, too): the rest still checked
        files = checked(read_releases(_expand(paths), state.config))
        if alerts:
            files.broken[state.config.path or Path()] = alerts
        releases = files.releases
        findings = findings_for(releases, pol)
        for release in releases:  # a producer's statement wording whose table is misnamed
            findings[release.id] += state.config.statement.findings(release)
        for release in releases:  # where the staged copies will wait (publish.staging)
            if release.site is not None and release.site.target:
                from onthedot.publish.placement import staging_findings

                findings[release.id] += staging_findings(release)
        blocking = any(f.severity == Severity.ERROR for fs in findings.values() for f in fs)
        if as_json:
            emit_json(
                {
                    "ok": not blocking and not files.broken,
                    "errors": files.problems(),
                    "releases": [_release_json(r, findings[r.id]) for r in releases],
                }
            )
        else:
            for problem in files.problems():
                echo_styled(problem)
            _print_findings(releases, findings, pol)
        if files.broken:
            return 2
        return EXIT_FINDINGS if blocking else EXIT_OK

    run(body, as_json)


def _print_problems(problems: list[str], as_json: bool) -> None:
    if as_json:
        emit_json({"ok": False, "errors": problems, "releases": []})
        return
    for problem in problems:
        echo_styled(problem)


def _release_json(release: Release, findings: list[Finding]) -> dict[str, Any]:
    from onthedot.model import iso_utc

    return {
        "id": release.id,
        "file": str(release.source) if release.source else None,
        "release_at_utc": iso_utc(release.release_at),
        "published_by": release.published_by,
        "findings": [f.model_dump(mode="json") for f in findings],
    }


def _print_findings(
    releases: list[Release], findings: dict[str, list[Finding]], pol: Policy
) -> None:
    from onthedot.calendar.timeutil import fmt_local
    from onthedot.model import Severity

    for release in releases:
        when = fmt_local(release.release_at, pol.zone)
        items = findings[release.id]
        mark = ("ok", "green") if not items else (f"{len(items)} finding(s)", "red")
        echo_styled((release.id, "bold"), f" — {when} — ", mark)
        if release.not_controlled:
            typer.echo(f"  {release.not_controlled}")
        for f in items:
            where = f"{release.source}:{f.line}: " if f.line and release.source else ""
            colour = "red" if f.severity == Severity.ERROR else "yellow"
            echo_styled("  ", (f.rule, colour), f" {where}{f.message}")


def calendar(
    date_from: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    as_json: JsonOpt = False,
    ics: Annotated[
        bool, typer.Option("--ics", help="iCalendar output (one VEVENT per release).")
    ] = False,
    html: Annotated[bool, typer.Option("--html", help="A standalone HTML page.")] = False,
) -> None:
    """List releases from onthedot.toml and the store (announced calendar)."""
    from onthedot.calendar.export import select, to_html, to_ics, to_json

    async def body() -> int:
        pol = state.config.policy
        first, last = _day(date_from, "--from"), _day(date_to, "--to")
        releases, changes = await _calendar_releases()
        chosen = select(releases, pol, first, last)
        if ics:
            typer.echo(to_ics(_announced(chosen), pol, changes=changes).decode("utf-8"), nl=False)
        elif html:
            typer.echo(to_html(_announced(chosen), pol))
        elif as_json:
            emit_json(to_json(_announced(chosen), pol))
        else:
            _print_calendar(chosen, pol)
        return EXIT_OK

    run(body, as_json)


def _announced(releases: list[Release]) -> list[Release]:
    """The releases as the public calendar shows them: before T, one without a statement page
    links to its site, never to one of its files (whose address would name what is embargoed).
    An export is handed on, so it shows what anyone may see, whoever runs the command."""
    from onthedot.clock import SYSTEM_CLOCK
    from onthedot.web.access import ANONYMOUS
    from onthedot.web.calendar_page import announced

    return announced(releases, ANONYMOUS, SYSTEM_CLOCK.now())


async def _calendar_releases() -> tuple[list[Release], dict[str, int]]:
    from onthedot.store.releases import ReleaseRepository

    from_files = state.releases_from_config()
    async with state.store() as engine:
        repo = ReleaseRepository(engine)
        for release in from_files:
            await repo.sync(release, actor="calendar")
        releases = await repo.all()
        changes = {r.id: len(await repo.history(r.id, "release_at")) for r in releases}
    return sorted(releases, key=lambda r: (r.release_at, r.id)), changes


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date: write YYYY-MM-DD.", param_hint=option
        ) from None


def _print_calendar(releases: list[Release], pol: Policy) -> None:
    from rich.table import Table

    from onthedot.calendar.timeutil import fmt_local

    if not releases:
        out.print("No releases in the calendar.")
        return
    table = Table("Release time", "Id", "Title", "Producer")
    for r in releases:
        table.add_row(fmt_local(r.release_at, pol.zone), r.id, r.title, r.producer)
    out.print(table)
