"""The holiday tables the ``holidays`` package worked out, remembered on disk between runs.

Importing ``holidays`` and working out a year of the UK's days takes some 25 ms, a tenth of an
``onthedot check``; the answer only changes with the package or with onthedot (which tables it asks
for, how it reads them). So each table (country, subdivision, year) is kept in one small JSON file
per installed version of both, named by the identity of the package's ``version.py`` (path, size,
modification time) and ``onthedot.__version__``: upgrading either starts a new file. The file
lives in ``$XDG_CACHE_HOME/onthedot`` (default ``~/.cache/onthedot``); when it cannot be read or
written (a read-only home, a half-written file) the tables are worked out again, never refused.
Written whole to a temporary file and renamed, so a reader never sees half of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path

import onthedot

Table = tuple[tuple[dt.date, str], ...]


def cache_folder() -> Path:
    """Where the remembered tables are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "onthedot"


def _package_identity() -> str | None:
    """A name for the installed ``holidays`` package (found without importing it) and onthedot's
    version."""
    spec = importlib.util.find_spec("holidays")
    if spec is None or spec.origin is None:
        return None
    version = Path(spec.origin).parent / "version.py"
    try:
        seen = version.stat()
    except OSError:
        return None
    key = f"{version}|{seen.st_size}|{seen.st_mtime_ns}|onthedot {onthedot.__version__}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class HolidayCache:
    """The tables of one installed ``holidays`` package: ``get`` a table, ``put`` a new one."""

    def __init__(self, folder: Path | None = None) -> None:
        identity = _package_identity()
        self._file = (
            None if identity is None else (folder or cache_folder()) / f"holidays-{identity}.json"
        )
        self._tables: dict[str, list[list[str]]] | None = None

    @staticmethod
    def key(country: str, subdivision: str | None, year: int) -> str:
        return f"{country}/{subdivision or ''}/{year}"

    def get(self, country: str, subdivision: str | None, year: int) -> Table | None:
        """The remembered table, or None."""
        found = self._read().get(self.key(country, subdivision, year))
        if found is None:
            return None
        try:
            return tuple((dt.date.fromisoformat(day), str(name)) for day, name in found)
        except (TypeError, ValueError):
            return None

    def put(self, country: str, subdivision: str | None, year: int, table: Table) -> None:
        """Remember ``table`` (best effort: a cache that cannot be written is left as it is)."""
        tables = self._read()
        tables[self.key(country, subdivision, year)] = [[d.isoformat(), n] for d, n in table]
        if self._file is None:
            return
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self._file.parent, suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(tables, out, ensure_ascii=False)
            os.replace(temporary, self._file)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)

    def _read(self) -> dict[str, list[list[str]]]:
        if self._tables is None:
            self._tables = {}
            if self._file is not None:
                try:
                    loaded = json.loads(self._file.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    loaded = None
                if isinstance(loaded, dict):
                    self._tables = loaded
        return self._tables
