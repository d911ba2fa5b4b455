"""The breach register: every stored breach with its type, practice, duration, cause and the
status of its corrective actions; CSV and JSON export; counts by type and by cause."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

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
    """The breach's own JSON, with its actions split into done and suggested (register columns)."""
    data = breach.as_json()
    data.pop("actions")
    detail = data.pop("detail")
    done, suggested = actions_status(breach)
    return {**data, "actions_done": done, "actions_suggested": suggested, "detail": detail}


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
