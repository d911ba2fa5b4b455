"""The cache-purger contract: purge URLs, prefixes and tags; record every attempt; retry with backoff.

A purger turns one ``purge(urls, prefixes=, tags=)`` call into a list of ``PurgeRequest`` (one HTTP
call each, e.g. one PURGE per URL, one API call per batch). Each request is tried with exponential
backoff (stamina) while it fails in a way worth retrying (no answer, timeout, 5xx, 429); every try
becomes a ``PurgeAttempt``. All requests are tried even when one gives up; then ``PurgeError`` is
raised carrying ``.attempts``. What a purger cannot do (e.g. prefixes on Fastly) is recorded as a
failed attempt, never silently skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import stamina

from onthedot import logs
from onthedot.adapters import Adapter, AdapterURL, checked_endpoint
from onthedot.errors import AdapterURLError, OnthedotError, PurgeError
from onthedot.model import iso_utc

log = logs.get_logger("onthedot.purge")


@dataclass(frozen=True)
class PurgeAttempt:
    purger: str  # masked URL of the purger
    request: str  # method + URL (or API call) that was tried
    status: int | None  # HTTP status, None when there was no answer
    ok: bool
    detail: str  # one sentence: what came back
    started_at: dt.datetime
    duration_s: float

    def as_json(self) -> dict[str, Any]:
        """The attempt as recorded on the timeline and shown by ``publish --json``."""
        return {
            "purger": self.purger,
            "request": self.request,
            "status": self.status,
            "ok": self.ok,
            "detail": self.detail,
            "duration_s": round(self.duration_s, 4),
            "started_at": iso_utc(self.started_at),
        }


@dataclass(frozen=True)
class Outcome:
    status: int | None
    ok: bool
    detail: str
    retry: bool = False
    crashed: bool = False  # it raised an error no purger expects (``CRASHED``)


@dataclass(frozen=True)
class PurgeRequest:
    label: str  # "PURGE http://127.0.0.1:6081/statistics/x.xlsx"
    send: Callable[[], Awaitable[Outcome]]
    to: str = ""  # the URL it is sent to: its host's turn is waited for before the try's timeout


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``attempts`` per request, backoff from ``wait_initial`` up to ``wait_max``
    seconds, ``timeout`` seconds per try, ``deadline`` seconds for all tries of one request."""

    attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 10.0
    wait_jitter: float = 0.5
    timeout: float = 10.0
    deadline: float = 60.0

    @classmethod
    def from_query(cls, url: AdapterURL) -> RetryPolicy:
        """``?attempts=3&timeout=5&deadline=30`` override the defaults."""
        values: dict[str, float] = {}
        for name in ("attempts", "timeout", "deadline", "wait_initial", "wait_max"):
            if name in url.query:
                try:
                    values[name] = float(url.query[name])
                except ValueError as exc:
                    raise AdapterURLError(
                        f"?{name}= in {url.masked()} must be a number: correct it."
                    ) from exc
        attempts = int(values.pop("attempts", cls.attempts))
        return cls(attempts=max(1, attempts), **values)


CRASHED = "the request went wrong in an unexpected way (the service's log has the details)"
"""What is recorded of a try that raised an error no purger expects (what IT reads is logged)."""


class _TryAgain(Exception):
    pass


class Purger(Adapter):
    """Something that can drop cached copies: a cache server or a CDN's API."""

    kind: ClassVar[str] = "purger"
    supports: ClassVar[frozenset[str]] = frozenset({"urls"})  # of "urls", "prefixes", "tags"

    def __init__(self, url: AdapterURL | str, *, retry: RetryPolicy | None = None) -> None:
        super().__init__(url)
        self.retry = retry or RetryPolicy.from_query(self.parsed)
        # ?endpoint=: https (or http to this machine), and only secrets named for it go there
        self.endpoint_override = checked_endpoint(self.parsed)
        self.implicit_secrets = self.endpoint_override is None

    async def purge(
        self, urls: Sequence[str], *, prefixes: Sequence[str] = (), tags: Sequence[str] = ()
    ) -> list[PurgeAttempt]:
        """Purge public URLs, URL prefixes and cache tags; return every attempt, or raise."""
        attempts: list[PurgeAttempt] = []
        wanted = {"urls": list(urls), "prefixes": list(prefixes), "tags": list(tags)}
        failed = 0
        for what, items in wanted.items():
            if items and what not in self.supports:
                attempts.append(self._unsupported(what, items))
                failed += 1
        requests = self.requests(
            wanted["urls"] if "urls" in self.supports else [],
            wanted["prefixes"] if "prefixes" in self.supports else [],
            wanted["tags"] if "tags" in self.supports else [],
        )
        for request in requests:
            if not await self._send(request, attempts):
                failed += 1
        if failed:
            last = attempts[-1].detail if attempts else ""
            raise PurgeError(
                f"{failed} purge request(s) to {self.url()} failed after retries ({last}): "
                "the cache may serve old copies; purge again or wait for them to expire.",
                attempts,
            )
        return attempts

    def requests(self, urls: list[str], prefixes: list[str], tags: list[str]) -> list[PurgeRequest]:
        """The HTTP calls that do the purge (what each purger implements)."""
        raise NotImplementedError

    async def _send(self, request: PurgeRequest, attempts: list[PurgeAttempt]) -> bool:
        policy = self.retry
        try:
            async for attempt in stamina.retry_context(
                on=_TryAgain,
                attempts=policy.attempts,
                timeout=policy.deadline,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
            ):
                with attempt:
                    outcome = await self._try(request, attempts)
                    if not outcome.ok and outcome.retry:
                        raise _TryAgain(outcome.detail)
        except _TryAgain:
            return False
        return outcome.ok

    def turn(self, request: PurgeRequest) -> contextlib.AbstractAsyncContextManager[object]:
        """What a try waits for before it is sent (and before its timeout starts): nothing here."""
        return contextlib.nullcontext()

    async def _try(self, request: PurgeRequest, attempts: list[PurgeAttempt]) -> Outcome:
        async with self.turn(request):
            started, clock = dt.datetime.now(dt.UTC), time.monotonic()
            try:
                outcome = await asyncio.wait_for(request.send(), self.retry.timeout)
            except TimeoutError:
                outcome = Outcome(
                    None, False, f"no answer within {self.retry.timeout:g} s", retry=True
                )
            except OSError as exc:
                outcome = Outcome(
                    None, False, f"cannot connect ({self.scrub(str(exc))})", retry=True
                )
            except OnthedotError:  # raised on purpose (a secret it may not use): as it is
                raise
            except Exception:  # a bug, or a library's surprise: no network failure, not retried
                log.exception(
                    "purge request crashed", purger=self.url(), request=self.scrub(request.label)
                )
                outcome = Outcome(None, False, CRASHED, crashed=True)
        attempts.append(
            PurgeAttempt(
                purger=self.url(),
                request=self.scrub(request.label),
                status=outcome.status,
                ok=outcome.ok,
                detail=self.scrub(outcome.detail),
                started_at=started,
                duration_s=round(time.monotonic() - clock, 6),
            )
        )
        return outcome

    def _unsupported(self, what: str, items: list[str]) -> PurgeAttempt:
        can = ", ".join(sorted(self.supports))
        return PurgeAttempt(
            purger=self.url(),
            request=f"{what}: {' '.join(items)[:200]}",
            status=None,
            ok=False,
            detail=f"{self.title or self.scheme} cannot purge by {what} (it can purge {can})",
            started_at=dt.datetime.now(dt.UTC),
            duration_s=0.0,
        )


def classify(status: int, detail: str) -> Outcome:
    """2xx is done; 408, 425, 429 and 5xx are worth another try; anything else is final."""
    if 200 <= status < 300:
        return Outcome(status, True, detail)
    return Outcome(status, False, detail, retry=status in (408, 425, 429) or status >= 500)
