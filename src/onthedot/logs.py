"""The service's structured log (structlog), written to standard error.

Standard output is the commands' own: ``onthedot publish --json`` writes the JSON a script reads
there, and structlog, left as it comes, printed its lines there too, so a warning logged while
publishing (a run finding files already live, a purge failing) made the output unreadable. Every
module gets its logger here; the stream is looked up at each line, so it is whatever
``sys.stderr`` is then (a test's capture, a redirection).
"""

from __future__ import annotations

import sys
from typing import Any

import structlog


def _to_stderr(*args: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)


def get_logger(name: str) -> Any:
    """The structured logger named ``name`` (as ``structlog.get_logger``), writing to stderr."""
    if not structlog.is_configured():
        structlog.configure(logger_factory=_to_stderr)
    return structlog.get_logger(name)
