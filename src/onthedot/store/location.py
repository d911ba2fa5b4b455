"""Where the store is and which schema it must have, known without loading SQLAlchemy.

``ONTHEDOT_DATABASE_URL`` or ``--database`` choose the store, else onthedot.toml's ``database``,
else ``sqlite:///onthedot.db`` in the working directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ENV_VAR = "ONTHEDOT_DATABASE_URL"
DEFAULT_URL = "sqlite:///onthedot.db"
HEAD_REVISION = "0008"
"""The newest migration in ``migrations/versions`` (a test keeps the two the same)."""
_SQLITE_FILE = re.compile(r"sqlite(?:\+\w+)?:///(?P<path>[^?%]+)")


def database_url(explicit: str | None = None, configured: str | None = None) -> str:
    return explicit or os.environ.get(ENV_VAR) or configured or DEFAULT_URL


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (no options, not in memory), else None."""
    found = _SQLITE_FILE.fullmatch(url)
    if found is None or found["path"] == ":memory:":
        return None
    return Path(found["path"])
