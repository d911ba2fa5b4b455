"""Respond: incidents, the alerts about them, escalation and acknowledgement.

An incident is one problem of one release (``respond.problems``: late, stale, missing, error,
early, an embargo exposure, publishing failed, the clock off, a broken release file, a preflight
risk), opened when the record shows it and resolved when it no longer does, or closed by a person
with a reason (``respond.incidents``). Every change is an event on the release's timeline.

``onthedot run`` keeps a ``Responder`` (``respond.responder``) beside the scheduler: it reads
what the morning records, keeps the incidents up to date, and alerts each role through its
Apprise addresses (``respond.channels``) on the ladder of ``[notify]`` (``respond.ladder``):
one message per role per change of an incident's state, from a background task, so sending
never holds up a flip or a sweep. A message carries a signed, expiring acknowledgement link
(``respond.links``).

The morning tells the responder there is something new to read with ``observe`` (a nudge that
never waits); without a responder in the process (``bind``) the nudge does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

_NUDGE: list[asyncio.Event] = []


def bind(nudge: asyncio.Event | None) -> None:
    """``observe`` sets ``nudge`` (the responder of this process waits on it); None unbinds."""
    _NUDGE[:] = [nudge] if nudge is not None else []


def observe() -> None:
    """Something was recorded: the responder of this process, if any, reads it now rather than
    at its next look. Never waits, never fails."""
    for nudge in _NUDGE:
        nudge.set()
