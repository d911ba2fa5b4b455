"""What people record on the timeline (``onthedot timeline-add``, and the demo's people): the
short names of the kinds, which of them need a text, and the event data each carries."""

from __future__ import annotations

from typing import Any

from onthedot.record import kinds

#: what people record with timeline-add: short name → event kind
PEOPLE_KINDS: dict[str, str] = {
    "informed": kinds.PERSON_INFORMED,
    "action": kinds.ACTION_TAKEN,
    "notice": kinds.NOTICE_PUBLISHED,
    "held": kinds.GATE_HELD,
    "released": kinds.GATE_RELEASED,
    "acknowledged": kinds.ALERT_ACKNOWLEDGED,
    "statement": kinds.STATEMENT_PUBLISHED,
    "pra-granted": kinds.PRA_GRANTED,
    "pra-opened": kinds.PRA_OPENED,
    "note": kinds.NOTE,
    "noticed": kinds.PROBLEM_NOTICED,
    "investigated": kinds.INVESTIGATION_FOUND,
    "uat": kinds.UAT_CHECKED,
    "root-cause": kinds.ROOT_CAUSE,
    "test-planned": kinds.TEST_PLANNED,
}
NEEDS_TEXT = {"informed", "action", "held", "released", "note", "noticed", "investigated", "uat",
              "root-cause", "test-planned"}  # fmt: skip


def event_data(short: str, by: str, role: str, text: str, url: str) -> dict[str, Any]:
    """The data of an event a person records: who, in what role, what (and where, for a notice)."""
    data: dict[str, Any] = {"by": by, "by_role": role, "text": text}
    extra: dict[str, dict[str, Any]] = {
        "informed": {"name": text},
        "action": {"role": role, "what": text},
        "notice": {"url": url},
        "held": {"gate": text, "what": text},
        "released": {"gate": text, "what": text},
        "statement": {"url": url},
        "pra-granted": {"name": text or by},
        "pra-opened": {"name": text or by},
    }
    data.update(extra.get(short, {}))
    return {k: v for k, v in data.items() if v}
