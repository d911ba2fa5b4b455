"""``timeline``, ``timeline-add``, ``breaches``, ``report``, ``statement``, ``register``: the evidence.

The timeline proves itself (``--verify`` exits 1 naming the first changed event, or saying that
events were removed or rewritten since the last signed checkpoint; ``timeline-key`` prints the
public key that signs the checkpoints); people add what only they know (who was informed, what IT
did, the notice, the briefing held back); breaches are detected from the record and stored; the
report and the statement are drafted from it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from onthedot.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    emit_json,
    fail,
    out,
    resolve_release,
    run,
    state,
    styled,
)
from onthedot.errors import InputError, TimelineError
from onthedot.record import REPORT_FORMATS
from onthedot.record.people import NEEDS_TEXT, PEOPLE_KINDS, event_data

if TYPE_CHECKING:
    from onthedot.model import Release
    from onthedot.record.breaches import Breach
    from onthedot.record.checkpoint import AnchorCheck
    from onthedot.record.register import Reports
    from onthedot.record.report import Assessment, Report
    from onthedot.record.timeline import ChainCheck, Event

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ReleaseArg = Annotated[str, typer.Argument(help="A release file or the id of a known release.")]

def register(app: typer.Typer) -> None:
    app.command("timeline")(timeline)
    app.command("timeline-add")(timeline_add)
    app.command("timeline-key")(timeline_key)
    app.command("breaches")(breaches)
    app.command("report")(report)
    app.command("statement")(statement)
    app.command("register")(register_cmd)


# --- timeline ---------------------------------------------------------------------------------


TIMELINE_FORMATS = ("people", "json")


def chain_problem(release_id: str, check: ChainCheck, events: list[Event]) -> str:
    from onthedot.calendar.timeutil import fmt_local
    from onthedot.record.narrative import label

    event = next((e for e in events if e.seq == check.broken_seq), None)
    what = f"Event {check.broken_seq}"
    if event is not None:
        what += f" ({label(event.kind)}, happened at {fmt_local(event.at, state.config.zone)})"
    return (
        f"{what} fails the check: {check.reason}. The timeline of {release_id} is not intact: "
        "restore the store from a backup and report the change."
    )


def timeline(
    ref: ReleaseArg,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="people: when it happened, who, what, in the order things happened; json: the "
            "same for machines, with when each event was recorded and its hashes.",
        ),
    ] = "people",
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Exit 1 naming the first event that was changed, or saying that events were "
            "removed or rewritten since the last signed checkpoint.",
        ),
    ] = False,
) -> None:
    """Show the release's timeline in the order things happened (a person's entry also says when
    it was entered), check its hash chain and its signed checkpoints."""
    from onthedot.record import checkpoint
    from onthedot.record.timeline import Timeline, in_time_order

    machine = as_json or fmt == "json"

    async def body() -> int:
        if fmt not in TIMELINE_FORMATS:
            raise InputError(
                f"--format {fmt!r} is not a timeline format: use one of {', '.join(TIMELINE_FORMATS)}."
            )
        async with state.store() as engine:
            release = await resolve_release(engine, ref)
            tl = Timeline(engine)
            events, check = await tl.checked(release.id)
            anchor = await checkpoint.check(engine, release.id, check.count)
        problem = None if check.ok else chain_problem(release.id, check, events)
        problem = problem or anchor.problem or None
        shown = in_time_order(events)
        if machine:
            emit_json(_timeline_json(release, shown, check, anchor, problem))
        else:
            _print_timeline(release, shown, check, anchor, problem)
        return EXIT_FINDINGS if verify and problem else EXIT_OK

    run(body, machine)


def _timeline_json(
    release: Release,
    events: list[Event],
    check: ChainCheck,
    anchor: AnchorCheck,
    problem: str | None,
) -> dict[str, Any]:
    from onthedot.calendar.timeutil import to_local
    from onthedot.record.narrative import describe, label

    zone = state.config.zone
    signed = anchor.checkpoint
    return {
        "release": release.id,
        "ok": problem is None,
        "chain": {
            "ok": check.ok,
            "count": check.count,
            "broken_seq": check.broken_seq,
            "reason": check.reason,
            "message": problem,
        },
        "checkpoint": {
            "ok": anchor.ok,
            "seq": signed.seq if signed else None,
            "head": signed.head if signed else None,
            "signed_at": signed.at if signed else None,
        },
        "events": [
            {**e.as_json(), "local": to_local(e.at, zone).isoformat(), "label": label(e.kind),
             "text": describe(e, release, zone)}
            for e in events
        ],
    }


def _print_timeline(
    release: Release,
    events: list[Event],
    check: ChainCheck,
    anchor: AnchorCheck,
    problem: str | None,
) -> None:
    from rich.table import Table
    from rich.text import Text

    from onthedot.calendar.timeutil import fmt_local
    from onthedot.record.narrative import describe, label, when, who

    zone = state.config.zone
    out.print(
        styled((release.id, "bold"), f" — release time {fmt_local(release.release_at, zone)}")
    )
    if not events:
        out.print("Nothing has been recorded for this release yet.")
    table = Table("#", "When", "Who", "What")
    for e in events:
        what = Text.assemble((label(e.kind), "bold"), "\n", describe(e, release, zone))
        table.add_row(str(e.seq), when(e, release, zone), who(e), what)
    if events:
        out.print(table)
    if problem:
        out.print(styled((problem, "bold red")), highlight=False)
        return
    signed = anchor.checkpoint
    vouched = (
        f" The first {signed.seq} are the ones signed at {signed.at}."
        if signed
        else " No signed checkpoint of it was found, so only the chain vouches for it."
    )
    out.print(
        styled(
            ("The timeline is intact:", "green"),
            f" {check.count} events, each linked to the one before.{vouched}",
        )
    )


def timeline_key(as_json: JsonOpt = False) -> None:
    """Print the public key that signs the timeline's checkpoints (made on first use)."""
    from onthedot.record.checkpoint import anchor_for

    def body() -> int:
        anchor = anchor_for(state.config.evidence, state.config.root, state.database_url)
        public = anchor.public_key()
        if as_json:
            emit_json(
                {"public_key": public, "key": str(anchor.key_path), "checkpoints": str(anchor.path)}
            )
        else:
            out.print(f"Ed25519 public key: {public}", highlight=False)
            out.print(
                f"The private key is {anchor.key_path}; checkpoints are appended to {anchor.path}. "
                "Keep both away from the database, and a copy of the public key with whoever "
                "checks the record.",
                highlight=False,
            )
        return EXIT_OK

    run(body, as_json)


# --- timeline-add -----------------------------------------------------------------------------


def _kind(name: str) -> tuple[str, str]:
    if name in PEOPLE_KINDS:
        return name, PEOPLE_KINDS[name]
    for short, kind in PEOPLE_KINDS.items():
        if name == kind:
            return short, kind
    near = difflib.get_close_matches(name, [*PEOPLE_KINDS, *PEOPLE_KINDS.values()], n=1)
    hint = f"did you mean {near[0]!r}?" if near else f"use one of {', '.join(PEOPLE_KINDS)}."
    raise InputError(f"{name!r} is not something people record on the timeline: {hint}")


def parse_at(value: str | None, release: Release) -> dt.datetime:
    """HH:MM[:SS] on the release's day, or an ISO date-time; Europe/London unless an offset is given."""
    from onthedot.calendar.timeutil import local_to_utc, to_local
    from onthedot.model import utcnow

    zone = state.config.zone
    if value is None:
        return utcnow()
    text = value.strip()
    try:
        if re.fullmatch(r"\d{1,2}[:.]\d{2}([:.]\d{2})?", text):
            hour, minute, *second = (int(part) for part in re.split(r"[:.]", text))
            clock = dt.time(hour, minute, second[0] if second else 0)
            day = to_local(release.release_at, zone).date()
            return local_to_utc(dt.datetime.combine(day, clock), zone)
        return local_to_utc(dt.datetime.fromisoformat(text), zone)
    except ValueError:
        raise InputError(
            f"--at {value!r} is not a time: write HH:MM (on the release day) or an ISO date-time "
            "such as 2019-12-18T10:35."
        ) from None


FUTURE_SKEW = dt.timedelta(minutes=5)
"""How far ahead of this computer's clock an ``--at`` may be: a watch or a clock a little fast."""
UNANNOUNCED_REACH = dt.timedelta(days=366)
"""How long before its release time something may be recorded for a release never announced."""


def recorded_time(when: dt.datetime, release: Release, given: str | None) -> dt.datetime:
    """``when`` if it can be when something happened for ``release``: not in the future (beyond
    ``FUTURE_SKEW``), not before the release was announced (or, never announced, not more than
    ``UNANNOUNCED_REACH`` before its release time); else an InputError naming the limit."""
    from onthedot.calendar.timeutil import fmt_local
    from onthedot.model import utcnow

    zone = state.config.zone
    now = utcnow()
    if when > now + FUTURE_SKEW:
        raise InputError(
            f"--at {given!r} is in the future (it is now {fmt_local(now, zone)}): record what "
            "happened once it has happened, at the time it happened."
        )
    earliest = release.announced_at or release.release_at - UNANNOUNCED_REACH
    if when < earliest:
        limit = "was announced" if release.announced_at else "is a year before its release time"
        raise InputError(
            f"--at {given!r} is before {release.id} could have anything on its record (it "
            f"{limit}: {fmt_local(earliest, zone)}): check the date."
        )
    return when


def _check_url(url: str) -> None:
    from onthedot.model import web_url

    if url:
        try:
            web_url(url)
        except ValueError as exc:
            raise InputError(f"--url {url!r} {exc}.") from None


def timeline_add(
    ref: ReleaseArg,
    kind: Annotated[str, typer.Argument(help=f"What happened: {', '.join(PEOPLE_KINDS)}.")],
    by: Annotated[str, typer.Option("--by", help="Who did it (a name, not empty).")],
    role: Annotated[str, typer.Option("--role", help="Their role, e.g. 'lead statistician'.")] = "",
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="When: HH:MM on the release day, or an ISO date-time (Europe/London); default now. "
            "Not in the future, nor before the release was announced.",
        ),
    ] = None,
    text: Annotated[
        str, typer.Option("--text", help="What: whom they informed, what they did, what was held back, the notice, "
            "how the problem was noticed, what the investigation found.")
    ] = "",
    url: Annotated[
        str,
        typer.Option("--url", help="Where a notice or statement was published (http or https)."),
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Record on the timeline something a person did (informed the HoP, purged the cache, ...)."""
    from onthedot.record.narrative import describe
    from onthedot.record.timeline import Timeline

    async def body() -> int:
        short, event_kind = _kind(kind)
        if short in NEEDS_TEXT and not text.strip():
            raise InputError(
                f'Recording {short!r} needs --text saying what: e.g. --text "the Head of Profession".'
            )
        if short == "statement" and not url:
            raise InputError(
                "Recording 'statement' needs --url: where the statement was published."
            )
        if not by.strip():
            raise InputError('--by is empty: give the name of who did it, e.g. --by "Jane Smith".')
        _check_url(url.strip())
        async with state.store() as engine:
            release = await resolve_release(engine, ref)
            when = recorded_time(parse_at(at, release), release, at)
            data = event_data(short, by.strip(), role.strip(), text.strip(), url.strip())
            event = await Timeline(engine).append(
                release.id, event_kind, data, actor=by.strip(), source="cli", at=when
            )
        if as_json:
            emit_json({"ok": True, "release": release.id, "event": event.as_json()})
        else:
            out.print(
                f"Recorded event {event.seq}: {describe(event, release, state.config.zone)}",
                highlight=False,
            )
        return EXIT_OK

    run(body, as_json)


# --- breaches, report, statement, register -----------------------------------------------------


async def _assess(ref: str) -> Assessment:
    from onthedot.record.report import assess

    async with state.store() as engine:
        release = await resolve_release(engine, ref)
        return await assess(engine, release, policy=state.config.policy)


async def _drafted(ref: str, today: dt.date | None) -> tuple[Assessment, Report]:
    """The release's assessment and its report, with what people wrote in the dashboard."""
    from onthedot.record.report import assess
    from onthedot.record.report.written import drafted

    async with state.store() as engine:
        release = await resolve_release(engine, ref)
        a = await assess(engine, release, policy=state.config.policy)
        return a, await drafted(engine, a, today=today, zone=state.config.zone)


def breaches(ref: ReleaseArg, as_json: JsonOpt = False) -> None:
    """Detect the release's breaches of the Code from its record and store them (exit 1 if any)."""
    from onthedot.record.report.model import tamper_warning

    async def body() -> int:
        a = await _assess(ref)
        warning = tamper_warning(a, state.config.zone)
        if as_json:
            emit_json(
                {
                    "release": a.release.id,
                    "ok": not a.breaches,
                    "timeline_intact": a.chain.ok,
                    "breaches": [b.as_json() for b in a.breaches],
                }
            )
        else:
            _print_breaches(a, warning)
        return EXIT_FINDINGS if a.breaches else EXIT_OK

    run(body, as_json)


def _print_breaches(a: Assessment, warning: str | None) -> None:
    from rich.table import Table

    from onthedot.calendar.timeutil import fmt_local

    zone = state.config.zone
    if warning:
        out.print(styled((warning, "bold red")), highlight=False)
    if not a.breaches:
        out.print(styled(("No breach found", "green"), f" for {a.release.id}."))
        return
    table = Table("Kind", "Practice", "From", "To", "Cause", "Addresses")
    for b in a.breaches:
        start = fmt_local(b.started_at, zone) if b.started_at else "—"
        end = fmt_local(b.ended_at, zone) if b.ended_at else "not yet"
        table.add_row(b.kind, ", ".join(b.practices), start, end, b.cause, "\n".join(b.urls))
    out.print(table)


def report(
    ref: ReleaseArg,
    fmt: Annotated[
        str, typer.Option("--format", help=f"One of {', '.join(REPORT_FORMATS)}.")
    ] = "docx",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write.")] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse (exit 1) when the timeline fails its check.")
    ] = False,
    date: Annotated[
        str | None, typer.Option("--date", help="Date of the report, YYYY-MM-DD (default today).")
    ] = None,
) -> None:
    """Draft the breach report (the regulator's sections) from the record of the release, with
    what people wrote into it on the dashboard (impact, investigation, changes agreed, contact,
    statement) and its status."""
    from onthedot.record.report import render

    async def body() -> int:
        if fmt not in REPORT_FORMATS:
            raise InputError(
                f"--format {fmt!r} is not a report format: use one of {', '.join(REPORT_FORMATS)}."
            )
        if output is None:
            raise InputError("Give the file to write with -o, e.g. -o breach-report.docx.")
        today = _date(date)
        a, drafted = await _drafted(ref, today)
        if strict and not a.chain.ok:
            raise TimelineError(chain_problem(a.release.id, a.chain, list(a.evidence.events)))
        output.write_bytes(render(drafted, fmt))
        if drafted.warning:
            out.print(styled((drafted.warning, "bold red")), highlight=False)
        found = f"{len(a.breaches)} breach(es)" if a.breaches else "no breach"
        out.print(f"Wrote {output} ({fmt}, {found}).", highlight=False)
        return EXIT_OK

    run(body)


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--date {value!r} is not a date: write YYYY-MM-DD.") from None


def statement(
    ref: ReleaseArg,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (default: print).")
    ] = None,
    publish_path: Annotated[
        str | None,
        typer.Option(
            "--publish",
            help="Also publish it at this path on the site, through the release's target: an .html "
            "path that is none of the release's files.",
        ),
    ] = None,
) -> None:
    """Draft the statement about the breach (an HTML fragment for the producer's site)."""
    from onthedot.publish.statement import check_statement_path, publish_statement
    from onthedot.record import statement as statement_mod

    async def body() -> int:
        a = await _assess(ref)
        if publish_path is not None:  # before anything is written
            check_statement_path(a.release, publish_path)
        if not a.breaches:
            fail(f"No breach was found for {a.release.id}, so there is no statement to publish.", EXIT_FINDINGS)
        html = statement_mod.statement_html(a, state.config.zone, state.config.statement)
        if output is not None:
            output.write_text(html, encoding="utf-8")
            out.print(f"Wrote {output}.", highlight=False)
        elif publish_path is None:
            typer.echo(html, nl=False)
        if publish_path is not None:
            async with state.store() as engine:
                url = await publish_statement(engine, a.release, html, publish_path, by="cli")
            out.print(f"Published the statement at {url}.", highlight=False)
        return EXIT_OK

    run(body)


def register_cmd(
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV, one breach a line.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The breach register: every stored breach, with counts by type and by cause, and the
    status of its release's breach report (draft, approved, sent, published)."""
    from onthedot.record import breaches as breach_store
    from onthedot.record import register as breach_register
    from onthedot.record.report.drafts import statuses

    async def body() -> int:
        if as_csv and as_json:
            raise InputError("Choose one of --csv and --json.")
        async with state.store() as engine:
            found = await breach_store.load(engine)
            reports = await statuses(engine)
        if as_csv:
            typer.echo(breach_register.to_csv(found, reports), nl=False)
        elif as_json:
            emit_json(breach_register.to_json(found, reports))
        else:
            _print_register(found, reports)
        return EXIT_OK

    run(body, as_json)


def _print_register(found: list[Breach], reports: Reports) -> None:
    from rich.table import Table

    from onthedot.model import iso_utc
    from onthedot.record import register as breach_register

    if not found:
        out.print("The breach register is empty.")
        return
    table = Table(
        "Release", "Kind", "Practice", "Started", "Duration", "Cause", "Status", "Actions", "Report"
    )
    for b in found:
        done, suggested = breach_register.actions_status(b)
        duration = f"{b.duration_s:,.0f} s" if b.duration_s is not None else "—"
        started = iso_utc(b.started_at) if b.started_at else "—"
        table.add_row(
            b.release_id,
            b.kind,
            ", ".join(b.practices),
            started,
            duration,
            b.cause,
            b.status,
            f"{done} taken, {suggested} suggested",
            breach_register.entry(b, reports)["report"],
        )
    out.print(table)
    tally = breach_register.counts(found)
    out.print("By type: " + ", ".join(f"{k} {v}" for k, v in tally["by_kind"].items()))
    out.print("By cause: " + ", ".join(f"{k} {v}" for k, v in tally["by_cause"].items()))
