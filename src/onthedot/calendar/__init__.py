"""Calendar: the release policy (Code of Practice T3), bank holidays, time zones and exports.

The first step of the lifecycle: is the announced release time one the Code allows?

    policy.py    Policy (time, zone, weekdays, notice, holiday calendar, pre-release hours)
    rules.py     one function per rule, check_release() runs them all
    holidays.py  bank holidays by UK nation (holidays package, cross-checked with GOV.UK's list)
    timeutil.py  Europe/London wall clock ↔ UTC instants, DST gaps and overlaps refused
    editions.py  the Code's editions and their wording; cite() for reports
    export.py    ICS / JSON / HTML release calendar
"""

from __future__ import annotations

from onthedot.calendar.editions import Citation, cite, edition_on
from onthedot.calendar.export import entries, select, to_html, to_ics, to_json
from onthedot.calendar.holidays import bank_holidays, holiday_on
from onthedot.calendar.policy import DEFAULT_POLICY, Policy
from onthedot.calendar.rules import RULE_IDS, RULES, check_release
from onthedot.calendar.timeutil import fmt_local, local_to_utc, to_local

__all__ = [
    "DEFAULT_POLICY",
    "RULES",
    "RULE_IDS",
    "Citation",
    "Policy",
    "bank_holidays",
    "check_release",
    "cite",
    "edition_on",
    "entries",
    "fmt_local",
    "holiday_on",
    "local_to_utc",
    "select",
    "to_html",
    "to_ics",
    "to_json",
    "to_local",
]
