"""The breach register: every stored breach with its type, practice, duration, cause, the
status of its corrective actions and of its release's breach report (``report``: draft, approved,
sent or published, and ``report_sent_on``, the date it was sent to the regulator); CSV and JSON
export; counts by type and by cause.

``reports`` (release → status and date sent) is ``record.report.drafts.statuses(engine)``; a
release missing from it has a draft report."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from onthedot.record.breaches import Breach

COLUMNS = (
    "release", "kind", "title", "practices", "started_at", "ended_at", "duration_s", "urls",
    "cause", "status", "actions_done", "actions_suggested", "report", "report_sent_on", "detail",
)  # fmt: skip
Reports = Mapping[str, tuple[str, dt.date | None]]
NO_REPORTS: Reports = {}


def actions_status(breach: Breach) -> tuple[int, int]:
    """(taken, suggested) corrective actions."""
    done = sum(1 for a in breach.actions if a.get("status") == "done")
    return done, sum(1 for a in breach.actions if a.get("status") == "suggested")


def entry(breach: Breach, reports: Reports = NO_REPORTS) -> dict[str, Any]:
    """The breach's own JSON, with its actions split into done and suggested and its release's
    report status (register columns)."""
    data = breach.as_json()
    data.pop("actions")
    detail = data.pop("detail")
    done, suggested = actions_status(breach)
    status, sent_on = reports.get(breach.release_id, ("draft", None))
    report = {"report": status, "report_sent_on": sent_on.isoformat() if sent_on else None}
    return {
        **data,
        "actions_done": done,
        "actions_suggested": suggested,
        **report,
        "detail": detail,
    }


def counts(breaches: Sequence[Breach]) -> dict[str, dict[str, int]]:
    return {
        "by_kind": dict(sorted(Counter(b.kind for b in breaches).items())),
        "by_cause": dict(sorted(Counter(b.cause for b in breaches).items())),
    }


def to_json(breaches: Sequence[Breach], reports: Reports = NO_REPORTS) -> dict[str, Any]:
    listed = [entry(b, reports) for b in breaches]
    return {"breaches": listed, "total": len(breaches), **counts(breaches)}


def to_csv(breaches: Sequence[Breach], reports: Reports = NO_REPORTS) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for breach in breaches:
        row = entry(breach, reports)
        row["practices"] = " ".join(row["practices"])
        row["urls"] = " ".join(row["urls"])
        writer.writerow(row)
    return buffer.getvalue()
