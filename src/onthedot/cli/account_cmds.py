"""``onthedot account add|list|disable|enable|password``: the people who sign in to the dashboard
with a name and a password.

The password is asked for twice at the terminal (or read from standard input with
``--password-stdin``, for scripts) and kept as its argon2 hash only. Disabling an account, or
giving it a new password, ends every session it had at once. What each role may do is
``onthedot.web.access`` (docs/access.md).
"""

from __future__ import annotations

import enum
import re
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from onthedot.cli.calendar_cmds import JsonOpt
from onthedot.cli.common import EXIT_OK, emit_json, out, run, state

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
ROLES = ("viewer", "statistician", "head-of-profession", "publisher", "it", "admin")
"""The same as ``onthedot.settings.PERSON_ROLES`` and ``web.access.ACCOUNT_ROLES`` (a test keeps
them so), without importing either."""


class Action(enum.StrEnum):
    ADD = "add"
    LIST = "list"
    DISABLE = "disable"
    ENABLE = "enable"
    PASSWORD = "password"


def register(app: typer.Typer) -> None:
    app.command("account")(account)


def account(
    action: Annotated[
        Action,
        typer.Argument(
            help="add an account, list them, disable or enable one, or set its password."
        ),
    ],
    name: Annotated[
        str | None,
        typer.Argument(help="Whose account (all but list): e.g. jane.smith."),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option("--role", help=f"What the person may do (add): {', '.join(ROLES)}."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from the first line of standard input (add, password).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add, list, disable or enable the accounts people sign in to the dashboard with, or set a
    password."""
    from onthedot.errors import InputError

    async def body() -> int:
        if action is not Action.LIST and not (name and NAME.fullmatch(name)):
            raise InputError(
                f"'onthedot account {action}' needs a NAME of letters, digits, '.', '_', '@' or "
                "'-': e.g. onthedot account add jane.smith --role statistician."
            )
        if action is Action.ADD and role not in ROLES:
            raise InputError(f"Give the account a --role: one of {', '.join(ROLES)}.")
        secret = _password(password_stdin) if action in (Action.ADD, Action.PASSWORD) else ""
        async with state.store() as engine:
            if action is Action.LIST:
                return await _list(engine, as_json)
            assert name is not None
            said = await _change(engine, action, name, role or "", secret)
        if as_json:
            emit_json({"ok": True, "name": name, "action": str(action)})
        else:
            out.print(said, highlight=False)
        return EXIT_OK

    run(body, as_json)


def _password(from_stdin: bool) -> str:
    from onthedot.errors import InputError
    from onthedot.store.accounts import password_problem

    if from_stdin:
        given = sys.stdin.readline().rstrip("\r\n")
    else:
        given = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(given)
    if problem is not None:
        raise InputError(problem)
    return given


async def _change(engine: AsyncEngine, action: Action, name: str, role: str, secret: str) -> str:
    from onthedot.model import utcnow
    from onthedot.store.accounts import Accounts

    accounts = Accounts(engine)
    if action is Action.ADD:
        await accounts.add(name, role, secret, utcnow())
        return f"Added the account {name!r} ({role}): they sign in at /sign-in with this password."
    if action is Action.DISABLE:
        await accounts.disable(name, utcnow())
        return f"Disabled {name!r}: they are signed out and can no longer sign in."
    if action is Action.ENABLE:
        await accounts.enable(name)
        return f"Enabled {name!r}: they can sign in again."
    await accounts.set_password(name, secret, utcnow())
    return f"Set a new password for {name!r}: their open sessions have ended."


async def _list(engine: AsyncEngine, as_json: bool) -> int:
    from onthedot.store.accounts import Accounts

    found = await Accounts(engine).all()
    rows = [
        {
            "name": a.name,
            "role": a.role,
            "state": "enabled" if a.enabled else f"disabled {a.disabled_at:%Y-%m-%d %H:%M}Z",
            "created_at": f"{a.created_at:%Y-%m-%d %H:%M}Z",
            "password_changed_at": f"{a.password_changed_at:%Y-%m-%d %H:%M}Z",
        }
        for a in found
    ]
    if as_json:
        emit_json(rows)
        return EXIT_OK
    if not rows:
        out.print("No accounts yet: onthedot account add NAME --role ROLE.")
    for row in rows:
        out.print(f"{row['name']}  {row['role']}  {row['state']}  made {row['created_at']}")
    return EXIT_OK
