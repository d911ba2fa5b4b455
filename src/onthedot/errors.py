"""One exception tree for onthedot.

Every error a person can see is an ``OnthedotError`` whose ``str()`` is one plain sentence with the
fix. Third-party exceptions are converted at the adapter boundary (``raise X(...) from exc``); the
CLI turns this tree into exit codes and messages in one place (``cli.common``), the web app into
HTTP responses in one place (``web.errors``).

    OnthedotError
    ├── InputError                 bad input a person can fix (exit 2)
    │   ├── ReleaseFileError       a release file or onthedot.toml is wrong: file, line, field
    │   ├── UnknownReleaseError    RELEASE is neither a file nor an id in the store
    │   ├── ConfigError            a setting is missing or inconsistent
    │   │   └── LocalTimeError     a local time does not exist or is ambiguous in its zone (DST)
    │   ├── AdapterURLError        a target/purger/notifier URL cannot be understood
    │   ├── TokenError             a token is missing, unknown, expired or revoked (HTTP 401)
    │   │   └── AgentTokenError    a remote probe agent's token is missing or unknown
    │   ├── AccessError            the caller may not see or do this, or not yet (HTTP 403)
    │   ├── SandboxError           the demo's local servers cannot start here (what to install)
    │   └── QueryError             a page's or the API's query parameter is malformed (HTTP 400)
    ├── StoreError                 the database cannot be reached or migrated, or is too busy
    │   └── StoreUnreachableError  the connection was refused or lost (a later try may work)
    ├── AdapterError               a publish target, purger or notifier failed (classified, recorded)
    │   ├── TargetError
    │   │   ├── TargetUnreachable
    │   │   ├── TargetAuthError
    │   │   ├── TargetPermissionError
    │   │   └── TargetSpaceError
    │   └── PurgeError
    ├── ProbeError                 a fetch could not be made at all (never raised for a bad server:
    │   └── ForeignHostError       those are classified results) / the SSRF guard refused a URL
    ├── LeaseHeldError             another publisher holds this release
    │   └── LeaseLostError         this publisher lost its hold (it stops before acting twice)
    ├── TimelineError              the hash chain is broken
    └── AgentError                 a remote probe agent cannot reach or talk to its server
"""

from __future__ import annotations

from typing import Any


class OnthedotError(Exception):
    """Root of every error onthedot raises on purpose."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(OnthedotError):
    exit_code = 2


class ReleaseFileError(InputError):
    """A release file (or onthedot.toml) is wrong. ``problems`` holds every ``file:line: field: what``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class UnknownReleaseError(InputError):
    pass


class ConfigError(InputError):
    pass


class LocalTimeError(ConfigError):
    """A wall-clock time that is skipped or repeated by a daylight-saving change."""


class AdapterURLError(InputError):
    pass


class TokenError(InputError):
    pass


class AgentTokenError(TokenError):
    pass


class AccessError(InputError):
    pass


class SandboxError(InputError):
    """The demo's servers cannot be started on this machine: a program missing, or not root."""


class QueryError(InputError):
    """A query parameter of a page or of the API is malformed (HTTP 400)."""


class TooManyRequestsError(OnthedotError):
    """A caller (a remote agent) asked faster than it may; ``retry_after_s``: when to ask again."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreError(OnthedotError):
    exit_code = 2


class StoreUnreachableError(StoreError):
    """The database server refused or dropped the connection, or is shutting down or starting:
    whoever keeps running (the responder, the scheduler) tries again at its next look."""


class AdapterError(OnthedotError):
    pass


class TargetError(AdapterError):
    pass


class TargetUnreachable(TargetError):
    pass


class TargetAuthError(TargetError):
    pass


class TargetPermissionError(TargetError):
    pass


class TargetSpaceError(TargetError):
    pass


class PurgeError(AdapterError):
    """A purger gave up; ``attempts`` holds every attempt it made (recorded on the timeline)."""

    def __init__(self, message: str, attempts: list[Any] | None = None) -> None:
        super().__init__(message)
        self.attempts: list[Any] = attempts if attempts is not None else []


class ProbeError(OnthedotError):
    pass


class ForeignHostError(ProbeError):
    exit_code = 2


class LeaseHeldError(OnthedotError):
    pass


class LeaseLostError(LeaseHeldError):
    pass


class StepTaken(LeaseLostError):
    """A publish step another run recorded first (``publish.steps.StepMark``)."""


class TimelineError(OnthedotError):
    pass


class AgentError(OnthedotError):
    pass
