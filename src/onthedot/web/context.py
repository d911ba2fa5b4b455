"""What every request handler shares: the store, the config, the clock, the agents' tokens."""

from __future__ import annotations

import difflib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.clock import Clock
from onthedot.config import Config
from onthedot.errors import TooManyRequestsError, UnknownReleaseError
from onthedot.model import Release
from onthedot.morning.files import FileProblems
from onthedot.morning.leadership import Standings
from onthedot.record.checks import CheckRecorder
from onthedot.settings import WebSettings
from onthedot.store.releases import ReleaseRepository
from onthedot.web.answers import Answers
from onthedot.web.attempts import SignInLimiter
from onthedot.web.live import Feed
from onthedot.web.metrics import ServiceMetrics
from onthedot.web.shelf import ReleaseShelf

AGENT_BURST = 30
"""Requests an agent may make at once before ``agent_min_interval_s`` paces it."""


class AgentLimiter:
    """One token bucket per agent: ``AGENT_BURST`` requests at once, then one per
    ``min_interval_s``, so one runaway or stolen token cannot flood the service."""

    def __init__(self, min_interval_s: float, burst: int = AGENT_BURST) -> None:
        self.min_interval_s = min_interval_s
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # agent -> (tokens, at)

    def take(self, agent: str, now: float | None = None) -> None:
        """Spend one request of ``agent``'s; TooManyRequestsError when it has none left."""
        if self.min_interval_s <= 0:
            return
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(agent, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) / self.min_interval_s)
        if tokens < 1:
            wait = (1 - tokens) * self.min_interval_s
            self._buckets[agent] = (tokens, now)
            raise TooManyRequestsError(
                f"Agent {agent!r} is asking faster than one request every "
                f"{self.min_interval_s:g} s: wait {wait:.1f} s (its --interval may be too short).",
                wait,
            )
        self._buckets[agent] = (tokens - 1, now)


@dataclass
class WebContext:
    engine: AsyncEngine
    config: Config
    clock: Clock
    agent_tokens: Mapping[str, str]
    settings: WebSettings
    recorder: CheckRecorder
    metrics: ServiceMetrics
    templates: Jinja2Templates
    assets_version: str | None
    agent_limiter: AgentLimiter
    file_problems: FileProblems
    feed: Feed
    standing: Standings
    form_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))  # CSRF tokens' HMAC
    sign_ins: SignInLimiter = field(default_factory=SignInLimiter)
    shelf: ReleaseShelf = field(init=False)  # the releases, validated once per change
    answers: Answers = field(init=False)  # the watched pages, made once a second

    def __post_init__(self) -> None:
        self.shelf = ReleaseShelf(self.engine)
        self.answers = Answers(self.form_key, self.clock, self.shelf.next_release_at)

    async def release(self, release_id: str) -> Release:
        """The release with this id, or UnknownReleaseError naming the nearest known id (read
        through the shelf: the answers kept end at the release times it holds)."""
        known = {r.id: r for r in await self.shelf.all()}
        if release_id in known:
            return known[release_id]
        repo = ReleaseRepository(self.engine)  # (stored, but no longer valid: StoreError says so)
        release = await repo.get(release_id)
        if release is not None:
            return release
        near = difflib.get_close_matches(release_id, await repo.ids(), n=1)
        hint = (
            f"did you mean {near[0]!r}?"
            if near
            else "see the release calendar (/calendar) for the releases there are."
        )
        raise UnknownReleaseError(f"There is no release {release_id!r}: {hint}")


def context(request: Request) -> WebContext:
    return cast(WebContext, request.app.state.onthedot)


Ctx = Annotated[WebContext, Depends(context)]
