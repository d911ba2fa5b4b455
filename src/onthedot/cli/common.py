"""What every command shares: the loaded config, the store, RELEASE resolution, output, exit codes.

Exceptions become messages and exit codes here and nowhere else: ``OnthedotError`` → its plain
sentence on stderr (or ``{"ok": false, "error": ...}`` with ``--json``) and its exit code
(2 for bad input); anything else is a bug and is shown as one sentence pointing at the log.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Collection, Coroutine, Iterator, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, overload

import typer

from onthedot.errors import OnthedotError, UnknownReleaseError

if TYPE_CHECKING:  # the store, the config and the models are imported by the commands that use them
    from rich.console import Console
    from rich.text import Text
    from sqlalchemy.ext.asyncio import AsyncEngine

    from onthedot.config import Config, ReleaseFiles, ReleaseRead
    from onthedot.model import DigestKey, Release

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class LazyConsole:
    """A Rich console made on first use, so a command that prints nothing never imports Rich.

    People's text (release ids, messages naming ``[site]``, URLs, diagnoses) is never read as Rich
    markup: our own colours are added with ``styled``, never with square brackets.
    """

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def print(self, *objects: Any, **options: Any) -> None:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, soft_wrap=True, markup=False)
        self._console.print(*objects, **options)


out = LazyConsole()
err = LazyConsole(stderr=True)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of plain text and ``(text, style)`` pieces, e.g. ``styled(("Error:", "red"), " ", msg)``."""
    from rich.text import Text

    return Text.assemble(*parts)


def echo_styled(*parts: str | tuple[str, str], err: bool = False) -> None:
    """``out.print(styled(*parts))`` without Rich, for commands that print only such lines
    (``check``: Rich's import was a tenth of its start-up). Styles are words of ``bold``,
    ``dim`` and a colour, shown only on a terminal; the text is printed as it is."""
    typer.echo("".join(p if isinstance(p, str) else _in_style(*p) for p in parts), err=err)


def _in_style(text: str, style: str) -> str:
    words = style.split()
    colours = [w for w in words if w not in ("bold", "dim")]
    return typer.style(
        text, fg=colours[0] if colours else None, bold="bold" in words, dim="dim" in words
    )


@dataclass
class State:
    """Global options, set by the app callback and read by every command."""

    config_path: Path | None = None
    database: str | None = None
    leave_at_once: bool = False  # the command's process may end without teardown (cli.leave)
    _config: Config | None = field(default=None, repr=False)
    _digests: dict[DigestKey, str] = field(default_factory=dict, repr=False)
    _read: dict[Path, ReleaseRead] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            from onthedot.config import find_config, load_config

            self._config = load_config(find_config(self.config_path))
        return self._config

    @property
    def database_url(self) -> str:
        from onthedot.store.location import database_url

        configured = self.config.database
        if (
            configured
            and configured.startswith("sqlite:///")
            and not configured.startswith("sqlite:////")
        ):
            # a relative SQLite path in onthedot.toml is relative to that file
            configured = "sqlite:///" + str(
                self.config.root / configured.removeprefix("sqlite:///")
            )
        return database_url(self.database, configured)

    @asynccontextmanager
    async def store(self) -> Any:
        from onthedot.record.checkpoint import anchor_for, bind
        from onthedot.store.db import open_store

        engine = await open_store(self.database_url)
        bind(engine, anchor_for(self.config.evidence, self.config.root, self.database_url))
        try:
            yield engine
        finally:
            await engine.dispose()

    def releases_from_config(self) -> list[Release]:
        from onthedot.config import load_releases

        return load_releases(self.config.release_files(), self.config)

    def release_files_from_config(self, in_hand: Collection[str] = frozenset()) -> ReleaseFiles:
        """Each configured release file on its own: a broken one does not stop the others (a
        held step's address no alert service can use makes its file broken). The service reads
        them at every tick: a release file that has not changed since the last read, nor its
        artefact files, is not parsed again, and an artefact file whose size and mtime have not
        changed is not hashed again (only what this read used is kept for the next); the
        artefact files of the releases ``in_hand`` (the scheduler's) are looked at less often
        (``config.KeptReleases``)."""
        from onthedot.config import KeptReleases, read_releases
        from onthedot.respond.addresses import checked

        used, read = KeptDigests(self._digests), KeptReleases(self._read, in_hand)
        files = checked(read_releases(self.config.release_files(), self.config, used, read))
        self._digests, self._read = used.kept, read.kept
        return files


T = TypeVar("T")


class KeptDigests(MutableMapping["DigestKey", str]):
    """The artefacts' SHA-256 known from the last read of the release files (``earlier``), and
    in ``kept`` those this read asked for or added: what the next read starts from, so the
    digests of files since changed, replaced or gone are let go."""

    def __init__(self, earlier: Mapping[DigestKey, str]) -> None:
        self._earlier = earlier
        self.kept: dict[DigestKey, str] = {}

    def __getitem__(self, key: DigestKey) -> str:
        if key not in self.kept:
            self.kept[key] = self._earlier[key]
        return self.kept[key]

    @overload
    def get(self, key: DigestKey) -> str | None: ...

    @overload
    def get(self, key: DigestKey, default: str | T) -> str | T: ...

    def get(self, key: DigestKey, default: object = None) -> object:
        """``__getitem__`` without an exception for a key not known (a read keeps each release's
        artefacts' digests so: 10,000 a read, at T every second)."""
        found = self.kept.get(key)
        if found is None:
            found = self._earlier.get(key)
            if found is None:
                return default
            self.kept[key] = found
        return found

    def __setitem__(self, key: DigestKey, value: str) -> None:
        self.kept[key] = value

    def __delitem__(self, key: DigestKey) -> None:
        del self.kept[key]

    def __iter__(self) -> Iterator[DigestKey]:
        return iter(self.kept)

    def __len__(self) -> int:
        return len(self.kept)


state = State()


async def resolve_release(engine: AsyncEngine, ref: str, st: State | None = None) -> Release:
    """RELEASE is a release file path or the id of a release known to the store or the config."""
    from onthedot.store.releases import ReleaseRepository

    st = st or state
    path = Path(ref)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise UnknownReleaseError(f"{ref}: no such release file: check the path.")
        release = await _load(engine, path, st.config)
        await ReleaseRepository(engine).sync(release, actor="cli")
        return release
    configured = st.releases_from_config()
    for release in configured:
        if release.id == ref:
            await ReleaseRepository(engine).sync(release, actor="cli")
            return release
    repo = ReleaseRepository(engine)
    stored = await repo.get(ref)
    if stored is not None:
        return stored
    known = await repo.ids() + [r.id for r in configured]
    near = difflib.get_close_matches(ref, known, n=1)
    hint = f"did you mean {near[0]!r}?" if near else "give the path of its release file."
    raise UnknownReleaseError(f"{ref!r} is not a release file or a known release id: {hint}")


async def _load(engine: AsyncEngine, path: Path, config: Config) -> Release:
    """The release file, its artefacts' SHA-256 taken from the store where size and mtime say
    the file is as it was, the others hashed now and remembered."""
    from onthedot.config import load_release
    from onthedot.store.digests import ArtefactDigests

    memory = ArtefactDigests(engine)
    digests = await memory.recall(path.resolve().parent)
    release = load_release(path, config, digests)
    await memory.remember(digests.added)
    return release


def emit_json(data: Any) -> None:
    """``data`` as indented UTF-8 JSON; what JSON has no type for is written as its ``str()``."""
    emit_json_bytes(json_bytes(data))


def json_bytes(data: Any) -> bytes:
    """What ``emit_json`` writes of ``data`` (made apart from writing it, when it may be made
    while something else is awaited)."""
    import orjson

    options = (
        orjson.OPT_INDENT_2 | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    )
    return orjson.dumps(data, default=str, option=options | orjson.OPT_APPEND_NEWLINE)


def emit_json_bytes(written: bytes) -> None:
    """Write what ``json_bytes`` made."""
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:
        sys.stdout.write(written.decode("utf-8"))
        return
    sys.stdout.flush()  # (what was printed before comes first)
    binary.write(written)  # as it is: a 6,000-URL report's 11 MB never decoded and encoded again


def fail(message: str, code: int = EXIT_USAGE, as_json: bool = False) -> NoReturn:
    if as_json:
        emit_json({"ok": False, "error": message})
    else:
        err.print(styled(("Error:", "bold red"), " ", message), highlight=False)
    raise typer.Exit(code)


def run(body: Callable[[], Coroutine[Any, Any, int] | int], as_json: bool = False) -> None:
    """Run a command body, async or not (a plain one spares importing asyncio, ≈ 15 ms); map
    the exception tree to messages and exit codes."""
    try:
        code = body()
        if isinstance(code, Coroutine):
            import asyncio

            code = asyncio.run(code)
    except OnthedotError as exc:  # (with what was added to it on the way: its notes)
        fail(" ".join([str(exc), *getattr(exc, "__notes__", ())]), exc.exit_code, as_json)
    except KeyboardInterrupt:
        fail("Interrupted.", 130, as_json)
    raise typer.Exit(code)
