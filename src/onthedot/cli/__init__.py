"""The ``onthedot`` command. Thin: parse, call the core, print (Rich for people, ``--json`` for machines).

Exit codes, for every command: 0 ok, 1 findings or a breach, 2 bad input or usage.

Start-up stays light: the command modules import only Typer at the top, and each command imports
what it needs (the store, the probe engine, the web app, ...) when it runs, so ``--help`` and
``--version`` load none of it (tests/cli/test_startup.py, bench/bench_startup.py).
"""

from __future__ import annotations

import atexit
import copy
import importlib
import os
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from onthedot import __version__
from onthedot.cli.common import state

app = typer.Typer(
    name="onthedot",
    help="Orderly release for official statistics: publish on the dot, see what the public sees, prove it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# one module per group of commands; each has ``register(app)``
COMMAND_MODULES = (
    "calendar_cmds",
    "publish_cmds",
    "verify_cmds",
    "evidence_cmds",
    "service_cmds",
    "agent_cmds",
    "token_cmds",
    "account_cmds",
    "prerelease_cmds",
    "incident_cmds",
    "demo_cmds",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"onthedot {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    config: Annotated[
        Path | None, typer.Option("--config", help="Site config file (default: ./onthedot.toml).")
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="SQLAlchemy URL of the store (default: $ONTHEDOT_DATABASE_URL, else sqlite:///onthedot.db).",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    state.config_path = config
    state.database = database
    state._config = None


for _name in COMMAND_MODULES:
    importlib.import_module(f"onthedot.cli.{_name}").register(app)


PYDANTIC_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"
"""onthedot uses no pydantic plugin, and looking for one reads every installed package's entry
points when the first model is built (some 15 ms of each ``check``): the command skips the
search unless the variable is set (``PYDANTIC_DISABLE_PLUGINS=`` with nothing loads them all)."""


#: the options of ``_options`` that take a value (``--config FILE``): ``running`` skips it
_VALUED = ("--config", "--database")


def running(args: list[str]) -> typer.Typer:
    """The app with only the command ``args`` names: Typer builds the parser of every command it
    holds before it runs one (some 13 ms for our 24, a sixteenth of a ``check``). The whole app
    when no command is named (``--help``, ``--version``) or the name is none of ours (click then
    says which one was meant)."""
    index = 0
    while index < len(args):
        if args[index] in _VALUED:
            index += 2
        elif args[index].startswith(tuple(f"{option}=" for option in _VALUED)):
            index += 1
        else:
            break
    name = args[index] if index < len(args) else None
    chosen = [c for c in app.registered_commands if name is not None and c.name == name]
    if len(chosen) != 1:
        return app
    only = copy.copy(app)
    only.registered_commands = chosen
    return only


def main() -> None:
    """Entry point: usage errors exit 2 (click's convention, which matches ours)."""
    os.environ.setdefault(PYDANTIC_PLUGINS, "__all__")
    try:
        running(sys.argv[1:])(standalone_mode=True)
    except SystemExit as exc:
        if state.leave_at_once and not _other_threads():
            leave(exc.code)
        sys.exit(exc.code)


def leave(code: int | str | None) -> None:
    """End the process as ``sys.exit(code)`` does, without the interpreter's teardown: the output
    is flushed and what was registered to run at exit runs, but the modules and objects a large
    command made are not freed one by one (about 0.1 s after a 6,000-URL ``verify``)."""
    if isinstance(code, str):
        sys.stderr.write(code + "\n")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    atexit._run_exitfuncs()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


def _other_threads() -> bool:
    """A thread the normal exit would wait for is still running (then exit normally)."""
    main_thread = threading.main_thread()
    return any(t is not main_thread and not t.daemon for t in threading.enumerate())
