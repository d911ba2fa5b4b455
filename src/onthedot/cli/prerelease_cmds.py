"""``onthedot prerelease grant|list|revoke``: pre-release access to a release's staged files.

``grant`` prints a signed link that opens the staged files from the dashboard's address, only
inside the pre-release window, and expires at the release time at the latest; every file opened
is recorded. ``list`` shows each grant and every use of its link, or with ``--published`` the
names and roles to publish with the release. See docs/prerelease.md.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from onthedot.cli.calendar_cmds import JsonOpt
from onthedot.cli.common import EXIT_OK, emit_json, out, resolve_release, run, state

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.ext.asyncio import AsyncEngine

    from onthedot.calendar.prerelease import Recipient
    from onthedot.model import Release
    from onthedot.store.prerelease import Grant, Opening

DEFAULT_SERVER = "http://localhost:8000"


class Action(enum.StrEnum):
    GRANT = "grant"
    LIST = "list"
    REVOKE = "revoke"


def register(app: typer.Typer) -> None:
    app.command("prerelease")(prerelease)


def prerelease(
    action: Annotated[
        Action, typer.Argument(help="grant access (prints the link), list grants, or revoke.")
    ],
    release_ref: Annotated[
        str, typer.Argument(metavar="RELEASE", help="Release file or release id.")
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", help='The person (grant, revoke): "Name <email>".'),
    ] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="Their role, published with the list (grant).")
    ] = None,
    why: Annotated[
        str | None,
        typer.Option("--why", help="Why they need the statistics before release (grant)."),
    ] = None,
    hours: Annotated[
        float | None,
        typer.Option(
            "--hours",
            min=0.01,
            help="The link ends this many hours from now (grant; at T at the latest).",
        ),
    ] = None,
    server: Annotated[
        str,
        typer.Option("--server", help="The dashboard's address as the person reaches it (grant)."),
    ] = DEFAULT_SERVER,
    published: Annotated[
        bool,
        typer.Option(
            "--published", help="list: the names and roles to publish with the release (HTML)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Give a person pre-release access to a release's staged files, list it, or revoke it."""

    async def body() -> int:
        async with state.store() as engine:
            release = await resolve_release(engine, release_ref)
            if action is Action.LIST:
                return await _list(engine, release, published, as_json)
            person = _recipient(to, action)
            if action is Action.REVOKE:
                return await _revoke(engine, release, person, as_json)
            return await _grant(
                engine, release, (person, role or "", why or ""), hours, server, as_json
            )

    run(body, as_json)


def _recipient(to: str | None, action: Action) -> Recipient:
    from onthedot.calendar.prerelease import Recipient
    from onthedot.errors import InputError

    if not to:
        raise InputError(f"'onthedot prerelease {action}' needs the person: --to \"Name <email>\".")
    return Recipient.parse(to)


async def _grant(
    engine: AsyncEngine,
    release: Release,
    person: tuple[Recipient, str, str],
    hours: float | None,
    server: str,
    as_json: bool,
) -> int:
    from onthedot.calendar.timeutil import fmt_local
    from onthedot.model import utcnow
    from onthedot.publish import prerelease
    from onthedot.publish.prerelease_links import Link, LinkKey, key_path, link_url

    _server(server)
    key = LinkKey(key_path(state.config.evidence, state.config.root))
    made, token = await prerelease.grant(
        engine, key, release, state.config.policy, person, utcnow(), hours
    )
    url = link_url(server, Link(release.id, made.id, made.expires_at), token)
    until = fmt_local(made.expires_at, state.config.policy.zone)
    if as_json:
        emit_json({"ok": True, **_grant_row(made, utcnow()), "link": url})
    else:
        out.print(f"Pre-release access for {made.name} ({made.role}) until {until}.")
        out.print("Give them this link privately; it opens the staged files, and every file")
        out.print("opened is recorded:")
        out.print(url, highlight=False)
    return EXIT_OK


def _server(server: str) -> None:
    from onthedot.errors import InputError
    from onthedot.model import web_url

    try:
        web_url(server)
    except ValueError as exc:
        raise InputError(
            f"--server {server!r} {exc}: give the dashboard's address, e.g. "
            "https://onthedot.example.gov.uk."
        ) from None


async def _revoke(engine: AsyncEngine, release: Release, person: Recipient, as_json: bool) -> int:
    from onthedot.model import utcnow
    from onthedot.publish import prerelease

    revoked = await prerelease.revoke(engine, release, person, utcnow())
    if as_json:
        emit_json({"ok": True, "release": release.id, "revoked": [g.id for g in revoked]})
    else:
        out.print(f"Revoked the pre-release access of {person.name}: their link no longer works.")
    return EXIT_OK


async def _list(engine: AsyncEngine, release: Release, published: bool, as_json: bool) -> int:
    from onthedot.calendar.prerelease import recipients_html
    from onthedot.model import utcnow
    from onthedot.store.prerelease import PreReleaseGrants

    store = PreReleaseGrants(engine)
    grants, openings = await store.of_release(release.id), await store.openings(release.id)
    now = utcnow()
    if published:
        people = [(p.name, p.role) for p in release.pre_release_access if p.granted_at]
        people += [(g.name, g.role) for g in grants]
        fragment = recipients_html(release, state.config.policy, people)
        if as_json:
            emit_json({"ok": True, "release": release.id, "html": fragment})
        else:
            out.print(fragment, highlight=False, end="")
        return EXIT_OK
    if as_json:
        emit_json(
            {
                "release": release.id,
                "grants": [_grant_row(g, now) for g in grants],
                "openings": [_opening_row(o) for o in openings],
            }
        )
        return EXIT_OK
    if not grants:
        out.print(f"No pre-release access to {release.id} yet: onthedot prerelease grant.")
    for g in grants:
        row = _grant_row(g, now)
        out.print(f"{row['person']}  {g.role}  {row['state']}  granted {row['granted_at']}")
        out.print(f"  why: {g.justification}", highlight=False)
        for o in openings:
            if o.grant_id == g.id:
                said = _opening_row(o)
                out.print(f"  {said['what']} at {said['at']}", highlight=False)
    return EXIT_OK


def _stamp(value: dt.datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}Z"


def _grant_row(g: Grant, now: dt.datetime) -> dict[str, Any]:
    state_ = g.state(now)
    until = {"open": "until", "expired": "ended"}.get(state_)
    return {
        "grant": g.id,
        "person": f"{g.name} <{g.email}>" if g.email else g.name,
        "role": g.role,
        "justification": g.justification,
        "state": f"{state_} {until} {_stamp(g.expires_at)}" if until else state_,
        "granted_at": _stamp(g.granted_at),
        "expires_at": _stamp(g.expires_at),
    }


def _opening_row(o: Opening) -> dict[str, Any]:
    what = o.path or "the list of files"
    verb = f"opened {what}" if o.served else f"refused {what} ({o.detail})"
    return {
        "grant": o.grant_id,
        "at": _stamp(o.at),
        "path": o.path,
        "served": o.served,
        "detail": o.detail,
        "what": verb,
    }
