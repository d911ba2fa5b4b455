"""The escalation ladder: which role gets which message about an incident, and when (pure).

While an incident is open, each role is alerted once its delay (``[notify] escalate``, seconds
after the incident opened) has passed: by default the statistician, publishing and IT at once
(IT only when a cache or a server is at fault) and the Head of Profession after 5 minutes. An
acknowledgement stops the ladder; it, the resolution and a close are announced to every role
that was alerted about the incident.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from onthedot.respond.incidents import Incident
from onthedot.settings import NOTIFY_ROLES, Ladder

IT_CAUSES = ("cache", "server")
ANNOUNCED = ("acknowledged", "resolved", "closed")


def reached(incident: Incident, ladder: Ladder, role: str, now: dt.datetime) -> bool:
    """Has the open ``incident`` reached ``role``'s step of the ladder at ``now``?"""
    delay: float = getattr(ladder, role)
    if delay < 0 or (role == "it" and incident.cause not in IT_CAUSES):
        return False
    return now >= incident.opened_at + dt.timedelta(seconds=delay)


def due(
    incident: Incident, ladder: Ladder, now: dt.datetime, alerted: Collection[str]
) -> list[tuple[str, str]]:
    """The (role, message) pairs due for ``incident`` at ``now``: ``opened`` to each role the
    ladder has reached while it is open, its new state to every role ``alerted`` after."""
    if incident.state == "open":
        return [(r, "opened") for r in NOTIFY_ROLES if reached(incident, ladder, r, now)]
    if incident.state in ANNOUNCED:
        return [(r, incident.state) for r in NOTIFY_ROLES if r in alerted]
    return []
