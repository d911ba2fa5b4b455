"""The breach register: every stored breach with its type, practice, duration, cause and the
status of its corrective actions; CSV and JSON export; counts by type and by cause."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

from onthedot.model import iso_utc
from onthedot.record.breaches import Breach

COLUMNS = (
    "release", "kind", "title", "practices", "started_at", "ended_at", "duration_s", "urls",
    "cause", "status", "actions_done", "actions_suggested", "detail",
)


def actions_status(breach: Breach) -> tuple[int, int]:
    """(taken, suggested) corrective actions."""
    done = sum(1 for a in breach.actions if a.get("status") == "done")
    return done, sum(1 for a in breach.actions if a.get("status") == "suggested")


def entry(breach: Breach) -> dict[str, Any]:
    done, suggested = actions_status(breach)
    return {
        "release": breach.release_id,
        "kind": breach.kind,
        "title": breach.title,
        "practices": list(breach.practices),
        "started_at": iso_utc(breach.started_at) if breach.started_at else None,
        "ended_at": iso_utc(breach.ended_at) if breach.ended_at else None,
        "duration_s": breach.duration_s,
        "urls": list(breach.urls),
        "cause": breach.cause,
        "status": breach.status,
        "actions_done": done,
        "actions_suggested": suggested,
        "detail": breach.detail,
    }


def counts(breaches: Sequence[Breach]) -> dict[str, dict[str, int]]:
    return {
        "by_kind": dict(sorted(Counter(b.kind for b in breaches).items())),
        "by_cause": dict(sorted(Counter(b.cause for b in breaches).items())),
    }


def to_json(breaches: Sequence[Breach]) -> dict[str, Any]:
    return {"breaches": [entry(b) for b in breaches], "total": len(breaches), **counts(breaches)}


def to_csv(breaches: Sequence[Breach]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for breach in breaches:
        row = entry(breach)
        row["practices"] = " ".join(row["practices"])
        row["urls"] = " ".join(row["urls"])
        writer.writerow(row)
    return buffer.getvalue()
