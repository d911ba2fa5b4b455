"""A remote probe agent: a vantage point somewhere else (another network, another country).

It asks the onthedot server which URLs to probe now (``GET /api/agent/assignments``), fetches
them from where it runs as the public does (its own ``Prober``, which may fetch only the host of
each assignment's site: the SSRF guard), judges each with the server's own ``judge`` (no origin:
an agent sees only the public address) and posts the results back (``POST /api/agent/results``), where they are
recorded under the vantage point ``agent:<name>``. Files a page links to (.xlsx, .ods, .csv, .pdf,
...) on the same site are checked too, against what the site hands out behind its caches (the
same URL with a cache-busting query). Its clock is corrected by the server's.

Calls to the server are retried with backoff; each failure is one sentence, never a traceback.
Results go in batches a request may carry (``POST_RESULTS``, ``POST_BYTES``); a result the server
would not take as it is is shortened (an over-long diagnosis or cache header) or left out, said
once; an answer whose judging fails in a way nobody foresaw is posted as an error (and logged),
the rest as ever; a round that fails in a way nobody foresaw is said and the next goes on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import stat
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ValidationError

from onthedot import __version__
from onthedot.clock import SYSTEM_CLOCK, Clock
from onthedot.errors import (
    AgentError,
    AgentTokenError,
    ForeignHostError,
    InputError,
    OnthedotError,
)
from onthedot.model import CheckResult, Status
from onthedot.verify.diagnose import linked_files
from onthedot.verify.judgement import body_to_keep, judge, linked_file
from onthedot.verify.probe import Prober, ProbeRequest, ProbeResponse, ProbeTransport, check_allowed
from onthedot.verify.probe_curl import CurlTransport
from onthedot.verify.verifier import UNREADABLE, busted_url
from onthedot.web.schemas import (
    AgentResultIn,
    AgentResultsOut,
    AssignedURL,
    Assignment,
    AssignmentsOut,
)

Say = Callable[[str], None]
M = TypeVar("M", bound=BaseModel)
Sleep = Callable[[float], Awaitable[None]]
AGENT_VANTAGE = "agent"  # the server records an agent's results under agent:<its name>
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_BACKOFF_S = 30.0
POST_RESULTS = 1_000
"""Results in one post at most (the server takes 10,000: ``AgentResultsIn``)."""
POST_BYTES = 1024 * 1024
"""Bytes of JSON in one post at most: well below what the server takes (``[web] max_body_bytes``,
8 MiB by default); a result is about 1.2 KB."""
# What the server takes of one result (``AgentResultIn``): its url, linked_from and diagnosis;
# its timings; its cache facts' texts, entries a level and levels (``SmallJSON``).
URL_CHARS = DIAGNOSIS_CHARS = 2000
TIMINGS = 32
CACHE_TEXT_CHARS, CACHE_ENTRIES, CACHE_DEPTH = 8000, 256, 3
SAID_KEPT = 1024  # sentences said once that are remembered (a round's left-out results)

log = logging.getLogger("onthedot.agent")


TOKEN_ENV = "ONTHEDOT_AGENT_TOKEN"
ARGV_WARNING = (
    "The token given with --token can be read by every user of this machine (in the process "
    f"list): set {TOKEN_ENV} or write it to a file only you can read and give --token-file."
)


def agent_token(
    token_file: Path | None, argv_token: str | None, environ: Mapping[str, str] = os.environ
) -> tuple[str, list[str]]:
    """The agent's token and the warnings to show: from ``--token-file``, else the environment
    variable ``ONTHEDOT_AGENT_TOKEN``, else ``--token`` (visible in ``ps``: warned)."""
    warnings = [ARGV_WARNING] if argv_token else []
    if token_file is not None:
        return _token_from_file(token_file), warnings + _readable_by_others(token_file)
    token = environ.get(TOKEN_ENV) or argv_token
    if not token:
        raise AgentTokenError(
            f"The agent has no token: set {TOKEN_ENV}, or give --token-file with a file that "
            "holds it (the token is the one onthedot.toml's [web] agents gives this agent)."
        )
    return token, warnings


def _token_from_file(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise AgentTokenError(
            f"The token file {path} cannot be read ({why}): check --token-file."
        ) from None
    if not token or "\n" in token:
        raise AgentTokenError(
            f"The token file {path} should hold the agent's token on one line: write only the token."
        )
    return token


def _readable_by_others(path: Path) -> list[str]:
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [f"The token file {path} can be read by other users: chmod 600 {path}."]
    return []


@dataclass(frozen=True)
class AgentOptions:
    server: str
    token: str
    name: str | None = None
    interval_s: float = 2.0
    timeout_s: float = 10.0
    """Per probe and per call to the server."""
    max_bytes: int | None = None
    verify_tls: bool = True
    ca_file: str | None = None


@dataclass
class Cycle:
    """What one round did: the assignments seen and the results posted."""

    agent: str = ""
    vantage: str = ""
    releases: int = 0
    results: list[AgentResultIn] = field(default_factory=list)
    recorded: int = 0

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status.value] = out.get(r.status.value, 0) + 1
        return out

    @property
    def breach(self) -> bool:
        return any(r.status.is_breach for r in self.results)

    def sentence(self) -> str:
        if not self.releases:
            return f"Nothing to probe now as {self.vantage}: no release is within its window."
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "none"
        return (
            f"Posted {self.recorded} result(s) for {self.releases} release(s) as "
            f"{self.vantage} ({counts})."
        )


def backoff(attempt: int) -> float:
    """0.5 s, 1 s, 2 s, 4 s ... at most 30 s."""
    return float(min(MAX_BACKOFF_S, 0.5 * 2**attempt))


class ServerClient:
    """The agent's few calls to the onthedot server, retried with backoff.

    ``attempts`` None retries for ever (the agent's loop); a number gives up with AgentError.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        options: AgentOptions,
        *,
        say: Say,
        attempts: int | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._session = session
        self._base = options.server.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {options.token}",
            "User-Agent": f"onthedot-agent/{__version__}",
        }
        self._timeout = aiohttp.ClientTimeout(total=options.timeout_s)
        self._say = say
        self._attempts = attempts
        self._sleep = sleep

    async def assignments(self) -> AssignmentsOut:
        return _parse(AssignmentsOut, await self._call("GET", "/api/agent/assignments"), self._base)

    async def post(self, results: list[AgentResultIn]) -> AgentResultsOut:
        """Post ``results`` in batches (``POST_RESULTS``, ``POST_BYTES``), each recorded as it
        arrives; a failed batch's error says how many were recorded before it."""
        batches = _batches(results)
        recorded, vantage = 0, ""
        for batch in batches:
            try:
                data = await self._call("POST", "/api/agent/results", batch)
                answer = _parse(AgentResultsOut, data, self._base)
            except OnthedotError as exc:
                if len(batches) > 1:
                    exc.add_note(
                        f"{recorded:,} of the round's {len(results):,} results were recorded "
                        "before that."
                    )
                raise
            recorded += answer.recorded
            vantage = answer.vantage
        return AgentResultsOut(recorded=recorded, vantage=vantage)

    async def _call(self, method: str, path: str, body: bytes | None = None) -> Any:
        attempt = 0
        while True:
            try:
                return await self._once(method, path, body)
            except _Retry as exc:
                attempt += 1
                if self._attempts is not None and attempt >= self._attempts:
                    raise AgentError(
                        f"{exc.reason}: check --server and that onthedot runs there."
                    ) from None
                wait = max(backoff(attempt - 1), exc.after_s)
                self._say(f"{exc.reason}: trying again in {wait:g} s.")
                await self._sleep(wait)

    async def _once(self, method: str, path: str, body: bytes | None) -> Any:
        url = self._base + path
        headers = self._headers if body is None else {**self._headers, **JSON_BODY}
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=self._timeout
            ) as response:
                status = response.status
                after = _seconds(response.headers.get("Retry-After"))
                try:
                    data = await response.json(content_type=None)
                except ValueError:
                    data = None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _Retry(
                f"Cannot reach the onthedot server at {self._base} ({_why(exc)})"
            ) from None
        error = data.get("error") if isinstance(data, dict) else None
        if status == 401:
            raise AgentTokenError(error or "The server refused the agent token: check --token.")
        if status in RETRY_STATUSES or status >= 500:
            raise _Retry(f"The onthedot server at {self._base} answered {status}", after)
        if status >= 400:
            raise AgentError(
                f"The server refused {method} {path} ({status}): {error or 'no reason given'}"
            )
        return data


_OPEN, _BETWEEN, _CLOSE = b'{"results":[', b",", b"]}"
JSON_BODY = {"Content-Type": "application/json"}


def _batches(results: list[AgentResultIn]) -> list[bytes]:
    """``results`` as the bodies of requests, ``{"results": [...]}``, of at most ``POST_RESULTS``
    results and ``POST_BYTES`` bytes (each holds one result at least); each result made JSON
    once."""
    runs: list[list[bytes]] = []
    size = 0
    for result in results:
        item = result.model_dump_json().encode()
        length = len(item) + len(_BETWEEN)
        if not runs or size + length > POST_BYTES or len(runs[-1]) >= POST_RESULTS:
            runs.append([])
            size = len(_OPEN) + len(_CLOSE)
        runs[-1].append(item)
        size += length
    return [_OPEN + _BETWEEN.join(run) + _CLOSE for run in runs]


class _Retry(Exception):
    """A failure worth asking again for, after at least ``after_s`` (the server's Retry-After)."""

    def __init__(self, reason: str, after_s: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_s = after_s


def _seconds(value: str | None) -> float:
    """A Retry-After given in seconds (0 when absent or an HTTP-date, which backoff covers)."""
    return float(min(int(value), MAX_BACKOFF_S)) if value and value.isdigit() else 0.0


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return str(exc.os_error.strerror or exc.os_error) if exc.os_error else "connection failed"
    return str(exc).strip() or type(exc).__name__


def _parse(model: type[M], data: Any, base: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError:
        raise AgentError(
            f"{base} did not answer like an onthedot server: check --server (the address of "
            "`onthedot run`'s web app)."
        ) from None


# -- probing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Linked:
    """A file found on an assigned page, and whether this request is its cache-busted copy."""

    url: str
    page: str
    busted: bool = False


Transports = Callable[[], ProbeTransport]
"""Makes the transport of each assignment's prober (libcurl in the agent; in memory in tests)."""


def curl_transports(options: AgentOptions) -> Transports:
    """libcurl, with the agent's TLS settings: the engine that fetches as the public does."""
    return lambda: CurlTransport(verify_tls=options.verify_tls, ca_file=options.ca_file)


async def probe(
    assignment: Assignment,
    now: Callable[[], dt.datetime],
    options: AgentOptions,
    say: Say,
    transports: Transports,
    *,
    left_out: Say | None = None,
) -> list[AgentResultIn]:
    """Fetch an assignment's URLs (only its site's host) and judge each; then the files its pages
    link to. A result the server would not take even shortened is left out and said to
    ``left_out`` (``say`` unless given)."""
    left_out = left_out or say
    allowed = {urlsplit(assignment.site).hostname or ""} - {""}
    requests = []
    for item in assignment.urls:
        try:
            check_allowed(item.url, allowed)
        except ForeignHostError as exc:
            say(f"Refused an assigned URL: {exc}")
            continue
        if item.expected_sha256 is None and item.expect_text is None:
            say(f"Skipped {item.url}: the server gave nothing to compare it with.")
            continue
        requests.append(
            ProbeRequest(
                url=item.url,
                expect_text=item.expect_text,
                keep_body=body_to_keep(item.expect_text),
                timeout=options.timeout_s,
                max_bytes=options.max_bytes,
                tag=item,
            )
        )
    if not requests:
        return []
    async with Prober(transports(), allowed_hosts=allowed) as prober:
        checked_at = now()
        responses = await prober.fetch_many(requests)
        judged = (_judge_assigned(assignment, r, checked_at, left_out) for r in responses)
        results = [r for r in judged if r is not None]
        linked = _linked(assignment, responses)
        if linked:
            checked_at = now()
            fetched = await prober.fetch_many(
                ProbeRequest(
                    url=busted_url(file.url) if file.busted else file.url,
                    keep_body=0 if file.busted else body_to_keep(None),
                    timeout=options.timeout_s,
                    max_bytes=options.max_bytes,
                    tag=file,
                )
                for pair in linked
                for file in pair
            )
            results += _judge_linked(assignment, fetched, checked_at, say, left_out)
    return results


def _linked(
    assignment: Assignment, responses: list[ProbeResponse]
) -> list[tuple[_Linked, _Linked]]:
    """(the file, its cache-busted copy) for each file on the site the pages link to, once."""
    assigned = {item.url for item in assignment.urls}
    seen: set[str] = set()
    out = []
    for response in responses:
        if not response.body or response.failure is not None:
            continue
        page = response.request.url
        for url in linked_files(response.effective_url or page, response.body):
            if url in assigned or url in seen or not linked_file(url, assignment.site):
                continue
            seen.add(url)
            out.append((_Linked(url, page), _Linked(url, page, busted=True)))
    return out


def _judge_assigned(
    assignment: Assignment, response: ProbeResponse, checked_at: dt.datetime, left_out: Say
) -> AgentResultIn | None:
    """The result for an assigned URL (its ``AssignedURL`` is the request's tag); an ERROR
    result when judging it fails unexpectedly (``_unreadable``)."""
    item = cast(AssignedURL, response.request.tag)
    try:
        result = judge(
            response,
            expected_sha256=item.expected_sha256,
            expect_text=item.expect_text,
            release_at=assignment.release_at_utc,
            now=checked_at,
            vantage=AGENT_VANTAGE,
        )
    except Exception:  # one answer nobody foresaw must not end the round (nor every round)
        log.exception("Could not judge %s (HTTP %s)", response.request.url, response.http_status)
        result = _unreadable(response, item.expected_sha256, checked_at)
    assert result is not None  # (only URLs with something to compare with are fetched)
    return _posted(assignment, result, None, left_out)


def _judge_linked(
    assignment: Assignment,
    fetched: list[ProbeResponse],
    checked_at: dt.datetime,
    say: Say,
    left_out: Say,
) -> list[AgentResultIn]:
    """Each linked file against its cache-busted copy, the only reference an agent can fetch
    (``judgement``); a file whose copy cannot be fetched is skipped, as nobody can vouch for it;
    one whose judging fails unexpectedly is an ERROR result (``_unreadable``)."""
    results = []
    for edge, busted in zip(fetched[::2], fetched[1::2], strict=True):
        file = cast(_Linked, edge.request.tag)
        try:
            result = judge(
                edge,
                busted=busted,
                expected_sha256=None,
                expect_text=None,
                release_at=assignment.release_at_utc,
                now=checked_at,
                vantage=AGENT_VANTAGE,
            )
        except Exception:  # one answer nobody foresaw must not end the round (nor every round)
            log.exception(
                "Could not judge %s, linked from %s (HTTP %s)",
                file.url,
                file.page,
                edge.http_status,
            )
            result = _unreadable(edge, None, checked_at)
        if result is None:
            say(f"Skipped {file.url} (linked from {file.page}): {_answer(busted)}.")
        elif (posted := _posted(assignment, result, file.page, left_out)) is not None:
            results.append(posted)
    return results


def _unreadable(
    response: ProbeResponse, expected_sha256: str | None, checked_at: dt.datetime
) -> CheckResult:
    """The ERROR result for an answer whose judging failed unexpectedly (logged for IT), as the
    verifier gives one (``verifier._unreadable``)."""
    return CheckResult.judged(
        url=response.request.url,
        status=Status.ERROR,
        served_sha256=response.sha256,
        expected_sha256=expected_sha256,
        diagnosis=UNREADABLE,
        cache={},
        vantage=AGENT_VANTAGE,
        checked_at=checked_at,
        http_status=response.http_status,
        layer=None,
        timings=dict(response.timings),
    )


def _answer(response: ProbeResponse) -> str:
    if response.failure is not None:
        return response.message.rstrip(".")
    return f"its cache-busted copy answered {response.http_status}"


def _posted(
    assignment: Assignment, result: CheckResult, linked_from: str | None, say: Say
) -> AgentResultIn | None:
    """``result`` as posted to the server (which records it under the agent's own vantage),
    shortened to what the server takes; None, said, when it would not take it even so."""
    fields = result.model_dump(exclude={"vantage", "cache", "diagnosis", "timings"})
    try:
        return AgentResultIn(
            release=assignment.release,
            diagnosis=_shortened(result.diagnosis, DIAGNOSIS_CHARS),
            cache=_small(_jsonable(result.cache), CACHE_DEPTH),
            timings=dict(list(result.timings.items())[:TIMINGS]),
            linked_from=linked_from,
            **fields,
        )
    except ValidationError as exc:
        say(_left_out(result.url, linked_from, exc))
        return None


def _jsonable(cache: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(cache, default=str)))


def _shortened(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _small(value: Any, depth: int) -> Any:
    """A JSON value cut to what the server takes of cache facts (``SmallJSON``): texts
    shortened, the first entries of each level kept, a level too deep kept as its text."""
    if isinstance(value, str):
        return _shortened(value, CACHE_TEXT_CHARS)
    if isinstance(value, dict | list) and depth == 0:
        return _shortened(json.dumps(value), CACHE_TEXT_CHARS)
    if isinstance(value, dict):
        return {k: _small(v, depth - 1) for k, v in list(value.items())[:CACHE_ENTRIES]}
    if isinstance(value, list):
        return [_small(v, depth - 1) for v in value[:CACHE_ENTRIES]]
    return value


def _left_out(url: str, linked_from: str | None, exc: ValidationError) -> str:
    """One sentence for a result the server would not take: which, and why."""
    where = f" (linked from {_shortened(linked_from, 100)})" if linked_from else ""
    what = f"Left out the result for {_shortened(url, 81)}{where}"
    if len(url) > URL_CHARS:
        return (
            f"{what}: its address is {len(url):,} characters long, longer than the "
            f"{URL_CHARS:,} characters the server takes, so give the file a shorter address to "
            "have it checked."
        )
    if linked_from is not None and len(linked_from) > URL_CHARS:
        return (
            f"{what}: the page that links to it has an address longer than the {URL_CHARS:,} "
            "characters the server takes, so give the page a shorter address to have the file "
            "checked."
        )
    first = exc.errors()[0]
    field_name = ".".join(str(part) for part in first["loc"]) or "result"
    return (
        f"{what}: the server would not take its {field_name} ({first['msg'].rstrip('.')}); "
        f"report it with the agent's version ({__version__}) if it matters."
    )


# -- the loop --------------------------------------------------------------------------------


class Agent:
    def __init__(
        self,
        client: ServerClient,
        options: AgentOptions,
        clock: Clock,
        say: Say,
        transports: Transports,
    ) -> None:
        self._client = client
        self._options = options
        self._transports = transports
        self._clock = clock
        self._say = say
        self._offset = dt.timedelta(0)
        self._named = False
        self._said: dict[str, None] = {}  # sentences said once, oldest first

    def now(self) -> dt.datetime:
        """The agent's clock, corrected by the server's."""
        return self._clock.now() + self._offset

    async def cycle(self) -> Cycle:
        asked = self._clock.now()
        work = await self._client.assignments()
        answered = self._clock.now()
        self._offset = work.server_time - (asked + (answered - asked) / 2)
        self._check_name(work.agent)
        done = Cycle(agent=work.agent, vantage=work.vantage, releases=len(work.assignments))
        for assignment in work.assignments:
            done.results += await probe(
                assignment,
                self.now,
                self._options,
                self._say,
                self._transports,
                left_out=self._say_once,
            )
        if done.results:
            done.recorded = (await self._client.post(done.results)).recorded
        return done

    def _say_once(self, sentence: str) -> None:
        """Say ``sentence`` unless it was said already (a result left out every round)."""
        if sentence in self._said:
            return
        if len(self._said) >= SAID_KEPT:
            del self._said[next(iter(self._said))]
        self._said[sentence] = None
        self._say(sentence)

    def _check_name(self, known_as: str) -> None:
        if self._options.name and self._options.name != known_as and not self._named:
            self._say(
                f"The server knows this token as {known_as!r}, not {self._options.name!r}: "
                f"results are recorded as agent:{known_as}."
            )
        self._named = True

    async def run(self, *, once: bool = False) -> Cycle:
        """One cycle (``once``), or cycles every ``interval_s`` until cancelled. A cycle that
        fails is said and the next one goes on, unless only a person can mend what failed (the
        token refused: InputError); ``once`` raises, an unforeseen failure as an AgentError."""
        while True:
            try:
                done = await self.cycle()
            except InputError:
                raise
            except OnthedotError as exc:
                if once:
                    raise
                self._say(" ".join([str(exc), *getattr(exc, "__notes__", ())]))
            except Exception as exc:
                if once:
                    raise AgentError(_unforeseen(exc, "run the agent again, and")) from exc
                self._say(_unforeseen(exc, f"trying again in {self._options.interval_s:g} s;"))
            else:
                if once:
                    return done
                self._say(done.sentence())
            await self._clock.sleep(self._options.interval_s)


def _unforeseen(exc: Exception, then: str) -> str:
    """One sentence for a failure nobody foresaw (its traceback is left out)."""
    why = str(exc).strip().rstrip(".") or "no reason given"
    return (
        f"This round went wrong unexpectedly ({type(exc).__name__}: {_shortened(why, 300)}): "
        f"{then} if it keeps happening, report it with the agent's version ({__version__})."
    )


async def run_agent(
    options: AgentOptions,
    *,
    once: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    say: Say = print,
    sleep: Sleep = asyncio.sleep,
    transports: Transports | None = None,
) -> Cycle:
    """Run the agent; ``once`` gives up after a few failed calls to the server (AgentError).
    ``transports`` makes each prober's transport: libcurl (``curl_transports``) unless given."""
    if not options.server.startswith(("http://", "https://")):
        raise InputError(
            f"--server {options.server!r} is not an http:// or https:// address: give the address "
            "of the onthedot web app, e.g. https://onthedot.example.org."
        )
    async with aiohttp.ClientSession() as session:
        client = ServerClient(session, options, say=say, attempts=4 if once else None, sleep=sleep)
        agent = Agent(client, options, clock, say, transports or curl_transports(options))
        return await agent.run(once=once)
