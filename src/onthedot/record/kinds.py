"""The vocabulary of timeline events: one constant per kind, and what its ``data`` holds.

Every part of onthedot records through these names, and the breach detector and the report read
them, so a new kind is added here first.
"""

from __future__ import annotations

# calendar
RELEASE_SYNCED = "release.synced"  # {action, changes: [{field, old, new, reason}]}
# preflight (before the release time: would an address hide the update after it?)
PREFLIGHT_CHECKED = (
    "preflight.checked"  # {ok, risks: [{url, risk, layer, stale_until, reason, fix}]}
)
# clock
CLOCK_OFFSET = "clock.offset"  # {reference, offset_s, uncertainty_s}  host minus reference
# publish
PUBLISH_STAGED = "publish.staged"  # {target, manifest: [{path, sha256, size, location}]}
PUBLISH_DISCARDED = (
    "publish.discarded"  # {target, manifest, not_removed?}  after a change or a failure
)
PUBLISH_WAITING = "publish.waiting"  # {release_at}
PUBLISH_FLIPPED = "publish.flipped"  # {target, paths, release_at, at, late_s, early_s, immediately}
PUBLISH_FAILED = "publish.failed"  # {step, error}
PUBLISH_EXTERNAL = (
    "publish.external"  # {published_by, release_at, at}  T reached; another system publishes
)
PURGE_ATTEMPT = "purge.attempt"  # {purger, request, status, ok, detail, duration_s}
PURGE_DONE = "purge.done"  # {purger, urls}
PURGE_FAILED = "purge.failed"  # {purger, urls, error}
PUBLISH_DONE = "publish.done"  # {live: bool, late_s}
# remediation after T (onthedot putting right by itself what still shows the previous version)
REMEDY_PURGE = "remedy.purge"  # {attempt, limit, paths, outcome: done|failed, error?}
REMEDY_REFLIP = "remedy.reflip"  # {attempt, limit, paths, outcome: done|failed|in-place, in_place?, error?}
# embargo (staged copies probed through the public site before T)
EMBARGO_EXPOSED = "embargo.exposed"  # {url, path, location, http_status, served_bytes, fix}
EMBARGO_CONTAINED = "embargo.contained"  # {urls}  staged copies exposed before, no longer
# verify
VERIFY_RESULT = (
    "verify.result"  # a CheckResult as JSON (url, vantage, status, diagnosis, cache, layer ...)
)
VERIFY_FIRST_LIVE = "verify.first-live"  # {url, vantage, at}
VERIFY_ALL_LIVE = "verify.all-live"  # {urls, vantages, at}
VERIFY_GAVE_UP = "verify.gave-up"  # {not_live: [url], after_s}  older records: now watch.ended
# the watch after T (checking until every URL is live)
WATCH_STOPPED = "watch.stopped"  # {by, reason}  a person (or the responder) stops the watch
WATCH_ENDED = "watch.ended"  # {reason: all-live|limit|stopped, after_s, not_live: [url], by?, why?}
# respond (people and the responder)
INCIDENT_OPENED = "incident.opened"  # {incident, problem, title, round, since, places, diagnosis}
INCIDENT_RESOLVED = "incident.resolved"  # {incident, problem}  the record no longer shows it
INCIDENT_CLOSED = "incident.closed"  # {incident, problem, by, reason}  closed by a person
ALERT_SENT = "alert.sent"  # {to, channel, message} or {incident, state, role, to (masked)}
ALERT_FAILED = "alert.failed"  # {incident, state, role, to (masked), attempt, error, final}
ALERT_ACKNOWLEDGED = "alert.acknowledged"  # {by} or {incident, problem, by, how, reason}
ALERT_LINK_REFUSED = "alert.link-refused"  # {incident, why}  a forged or expired link
PERSON_INFORMED = "person.informed"  # {role, name, how}
ACTION_TAKEN = "action.taken"  # {by, role, what}  e.g. IT purged the cache by hand
NOTICE_PUBLISHED = "notice.published"  # {text, url, path?}  posted by a person or the responder
NOTICE_REPLACED = "notice.replaced"  # {text, url, path}  the notice, once live, says so
NOTICE_FAILED = "notice.failed"  # {url, path, text, error, replacing}  the target refused it
GATE_HELD = "gate.held"  # {gate, what, who}  what: the action; who: to (masked) for the responder
GATE_RELEASED = "gate.released"  # {gate, what, who, attempt?}
GATE_FAILED = "gate.failed"  # {gate, what, who (masked), attempt, error, final}
PRA_GRANTED = (
    "pra.granted"  # {name, email, organisation, role?, justification?, grant?, expires_at?}
)
PRA_OPENED = "pra.opened"  # {name, email?, grant?, path?, sha256?}  path None: the list of files
PRA_REFUSED = "pra.refused"  # {name, email, grant, path, reason}  a genuine link used out of time
PRA_REVOKED = "pra.revoked"  # {name, email, grants}
STATEMENT_PUBLISHED = "statement.published"  # {url, by}  the statement about the breach is public
NOTE = "note"  # {text}
# the breach report's editor (record/report/drafts.py)
REPORT_EDITED = "report.edited"  # {section, by, role, sha256}  the text is in report_edits
REPORT_STATUS = "report.status"  # {status, was, by, role, sent_on?}
# the inquiry after a breach (what only people know; the report's sections of the same names)
PROBLEM_NOTICED = "problem.noticed"  # {text: how it was noticed}
INVESTIGATION_FOUND = "investigation.found"  # {text: what the investigation found}
UAT_CHECKED = "uat.checked"  # {text: whether the test (UAT) environment shows the fault}
ROOT_CAUSE = "root-cause"  # {text: the root cause found, or what is still unknown}
TEST_PLANNED = "test.planned"  # {text: the test planned to confirm the fix, and when}
REHEARSED = "rehearsal.done"  # {by, text, ok, url, reached_after_s, causes}  on the live website
# events people add with `onthedot timeline-add` also carry {by, by_role, text}
