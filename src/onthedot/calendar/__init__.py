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
