"""What the HTTP API says and accepts (pydantic models; the OpenAPI document is built from them).

Pure data, no FastAPI import: the remote agent (``onthedot.agent``) reads and writes the same
models over the wire.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from onthedot.model import Status

Phase = Literal["before", "after"]


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Wire):
    error: str = Field(description="one plain sentence with the fix")


class ReleaseSummary(Wire):
    id: str
    title: str
    producer: str
    release_at_utc: dt.datetime
    announced_at_utc: dt.datetime | None = None
    phase: Phase = Field(description="before or after the release time, by the server's clock")
    withheld: bool = Field(
        description="true: before the release time its detail is shown only to a signed-in "
        "person or a token whose role may see it, and the fields below are null"
    )
    live: bool | None = Field(description="every URL is live from every vantage point that looked")
    urls: int | None = Field(description="artefact URLs of the release")
    status_counts: dict[str, int] | None = Field(
        description="counts by status of the latest result per URL × vantage point"
    )


class ResultOut(Wire):
    url: str
    vantage: str
    status: Status
    checked_at: dt.datetime
    served_sha256: str | None = None
    expected_sha256: str | None = None
    diagnosis: str
    http_status: int | None = None
    layer: str | None = None
    cache: dict[str, Any] = Field(default_factory=dict)


class FirstLiveOut(Wire):
    url: str
    vantage: str
    at: dt.datetime
    lag_s: float = Field(description="seconds from the release time to the first live result")


class ArtefactOut(Wire):
    path: str
    url: str | None
    expected_sha256: str | None = None
    expect_text: str | None = None


class ReleaseDetail(ReleaseSummary):
    artefacts: list[ArtefactOut] | None
    results: list[ResultOut] | None
    first_live: list[FirstLiveOut] | None


class EventOut(Wire):
    seq: int
    at: dt.datetime = Field(description="when it happened")
    recorded_at: dt.datetime | None = Field(
        description="when it was recorded (none on events recorded before this was kept)"
    )
    kind: str
    actor: str
    source: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


class ChainOut(Wire):
    ok: bool
    count: int
    broken_seq: int | None = None
    reason: str = ""


class TimelineOut(Wire):
    release: str
    events: list[EventOut]
    chain: ChainOut


class ProblemOut(Wire):
    file: str | None = Field(description="the release file it is about, if any")
    release: str | None = Field(None, description="the release it is about, if any")
    message: str = Field(description="one plain sentence with the fix")


class HealthOut(Wire):
    ok: bool = Field(description="the store can be read (true also when degraded)")
    status: Literal["ok", "degraded", "down"] = Field(
        description="ok; degraded: some release files cannot be read (every other release is "
        "still published), or a release's files waiting for their release time could be fetched "
        "from the public site, or an alert about an open incident could not be delivered; down: "
        "the store cannot be read (HTTP 503)"
    )
    problems: list[ProblemOut] = Field(
        default_factory=list, description="what makes the service degraded or down"
    )
    version: str
    store: str = Field(description="'ok', or one sentence saying what is wrong")
    assets: str | None = Field(description="the GOV.UK Frontend version built, or None")
    now: dt.datetime
    leader: bool = Field(
        description="this instance publishes (several instances on one PostgreSQL store: one "
        "publishes, the others stand by; on SQLite the one instance always publishes)"
    )
    leader_since: dt.datetime | None = Field(
        description="since when this instance has been the leader (or a standby); None when no "
        "scheduler runs beside this dashboard"
    )
    instance: str | None = Field(description="this instance's name: host, process and a tag")


class ReadyOut(Wire):
    ready: bool = Field(description="this instance can serve: its store answers (else HTTP 503)")
    leader: bool = Field(description="this instance publishes")
    store: str = Field(description="'ok', or one sentence saying what is wrong")


class LiveOut(Wire):
    live: bool = Field(description="this instance answers (a load balancer restarts it if not)")


# -- remote probe agents ---------------------------------------------------------------------


class AssignedURL(Wire):
    url: str
    expected_sha256: str | None = None
    expect_text: str | None = None


class Assignment(Wire):
    release: str
    release_at_utc: AwareDatetime
    site: str = Field(description="the site's public address; only its host may be probed")
    urls: list[AssignedURL]


class AssignmentsOut(Wire):
    agent: str = Field(description="the name the server knows this agent's token by")
    vantage: str
    server_time: AwareDatetime = Field(description="to correct the agent's own clock")
    interval_s: float = Field(description="how often to ask again")
    assignments: list[Assignment]


def _bounded(value: Any, depth: int = 3) -> Any:
    """A small JSON value: at most ``depth`` levels, 256 entries a level, texts of 8,000."""
    if isinstance(value, str) and len(value) > 8000:
        raise ValueError("a text of more than 8,000 characters")
    if isinstance(value, dict | list):
        if depth == 0 or len(value) > 256:
            raise ValueError("more than 3 levels, or more than 256 entries in one")
        for item in value.values() if isinstance(value, dict) else value:
            _bounded(item, depth - 1)
    return value


SmallJSON = Annotated[dict[str, Any], AfterValidator(_bounded)]


class AgentResultIn(Wire):
    release: str = Field(max_length=128)
    url: str = Field(max_length=2000)
    status: Status
    served_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    expected_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    diagnosis: str = Field(max_length=2000)
    cache: SmallJSON = Field(default_factory=dict)
    checked_at: AwareDatetime
    http_status: int | None = Field(None, ge=100, le=599)
    layer: Literal["cache", "origin"] | None = None
    timings: dict[str, float] = Field(default_factory=dict, max_length=32)
    linked_from: str | None = Field(None, max_length=2000)
    """For a file found on an assigned page (not itself assigned): that page's URL."""


class AgentResultsIn(Wire):
    results: list[AgentResultIn] = Field(max_length=10_000)


class AgentResultsOut(Wire):
    recorded: int
    vantage: str


class PointOut(Wire):
    at: dt.datetime
    share: float = Field(description="share of URL × vantage points serving the new version")


class GoLiveOut(Wire):
    release: str
    start: dt.datetime = Field(description="15 minutes before the release time")
    end: dt.datetime = Field(description="30 minutes after it, or later: until all was live")
    places: int = Field(description="URL × vantage points counted")
    live_at: dt.datetime | None = Field(description="when every one was first live at once")
    points: list[PointOut] = Field(description="a step function: each share holds until the next")
    sentence: str = Field(description="the curve in one sentence, as the page and report say it")


class IncidentOut(Wire):
    id: int
    release: str
    problem: str
    title: str
    state: str = Field(description="open, acknowledged, resolved or closed")
    round: int
    opened_at: str
    changed_at: str
    since: str
    cause: str
    places: list[str]
    diagnosis: str
    by: str
    reason: str


class IncidentsOut(Wire):
    ok: bool = True
    incidents: list[IncidentOut]
