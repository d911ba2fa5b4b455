"""``onthedot token add|list|revoke``: the tokens people and automation read the service with.

A token is shown once, when it is made; the store keeps only its SHA-256. What each role may see
is ``onthedot.web.access`` (docs/access.md).
"""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING, Annotated

import typer

from onthedot.cli.calendar_cmds import JsonOpt
from onthedot.cli.common import EXIT_OK, emit_json, out, run, state

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.ext.asyncio import AsyncEngine

    from onthedot.store.tokens import AccessToken

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
ROLES = ("statistician", "head_of_profession", "publishing", "it", "read", "metrics", "admin")
"""The same as ``onthedot.web.access.Role`` (a test keeps them so), without importing the web app."""


class Action(enum.StrEnum):
    ADD = "add"
    LIST = "list"
    REVOKE = "revoke"


def register(app: typer.Typer) -> None:
    app.command("token")(token)


def token(
    action: Annotated[Action, typer.Argument(help="add a token, list them, or revoke one.")],
    name: Annotated[
        str | None,
        typer.Argument(help="Whose token (add, revoke): a person or a system, e.g. jane.smith."),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option("--role", help=f"What the token may see (add): {', '.join(ROLES)}."),
    ] = None,
    expires_days: Annotated[
        int | None,
        typer.Option(
            "--expires-days", min=1, help="The token stops working after this many days (add)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make, list or revoke the tokens people sign in with and automation reads the API with."""
    from onthedot.errors import InputError

    async def body() -> int:
        if action is not Action.LIST and not (name and NAME.fullmatch(name)):
            raise InputError(
                f"'onthedot token {action}' needs a NAME of letters, digits, '.', '_', '@' or '-': "
                "e.g. onthedot token add jane.smith --role statistician."
            )
        async with state.store() as engine:
            if action is Action.ADD:
                assert name is not None
                return await _add(engine, name, role, expires_days, as_json)
            if action is Action.REVOKE:
                assert name is not None
                return await _revoke(engine, name, as_json)
            return await _list(engine, as_json)

    run(body, as_json)


async def _add(
    engine: AsyncEngine, name: str, role: str | None, days: int | None, as_json: bool
) -> int:
    import datetime

    from onthedot.errors import InputError
    from onthedot.model import utcnow
    from onthedot.store.tokens import AccessTokens

    if role not in ROLES:
        raise InputError(f"Give the token a --role: one of {', '.join(ROLES)}.")
    tokens = AccessTokens(engine)
    if any(t.name == name and t.revoked_at is None for t in await tokens.all()):
        raise InputError(
            f"{name!r} has a token already: revoke it first (onthedot token revoke {name}) "
            "or choose another name."
        )
    now = utcnow()
    expires = now + datetime.timedelta(days=days) if days else None
    made = await tokens.add(name, role, now, expires)
    if as_json:
        emit_json({"ok": True, "name": name, "role": role, "token": made, "expires_at": expires})
    else:
        out.print(f"Token of {name!r} ({role}), shown this once — give it to them privately:")
        out.print(made, highlight=False)
    return EXIT_OK


async def _revoke(engine: AsyncEngine, name: str, as_json: bool) -> int:
    from onthedot.errors import InputError
    from onthedot.model import utcnow
    from onthedot.store.tokens import AccessTokens

    count = await AccessTokens(engine).revoke(name, utcnow())
    if count == 0:
        raise InputError(f"{name!r} has no token to revoke: see onthedot token list.")
    if as_json:
        emit_json({"ok": True, "name": name, "revoked": count})
    else:
        out.print(f"Revoked the token of {name!r}: it no longer works, from now.")
    return EXIT_OK


async def _list(engine: AsyncEngine, as_json: bool) -> int:
    from onthedot.model import utcnow
    from onthedot.store.tokens import AccessTokens

    now = utcnow()
    tokens = await AccessTokens(engine).all()
    if as_json:
        emit_json([_row(t, now) for t in tokens])
        return EXIT_OK
    if not tokens:
        out.print("No tokens yet: onthedot token add NAME --role ROLE.")
    for t in tokens:
        row = _row(t, now)
        out.print(f"{row['name']}  {row['role']}  {row['state']}  made {row['created_at']}")
    return EXIT_OK


def _row(t: AccessToken, now: dt.datetime) -> dict[str, str]:
    if t.revoked_at is not None:
        held = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}Z"
    elif t.expires_at is not None:
        held = f"{'expired' if now >= t.expires_at else 'expires'} {t.expires_at:%Y-%m-%d %H:%M}Z"
    else:
        held = "no expiry"
    return {
        "name": t.name,
        "role": t.role,
        "state": held,
        "created_at": f"{t.created_at:%Y-%m-%d %H:%M}Z",
    }
