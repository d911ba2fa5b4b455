"""The tables of onthedot.toml beyond ``[site]``: one typed, frozen model each, checked once.

    [policy]         Policy (onthedot.calendar.policy): when releases may go out
    [verify]         VerifySettings: how the public's view is fetched
    [verify.caches]  CacheTables: how this site's caches are set up, one table per product
    [publish]        PublishSettings: when ``onthedot run`` stages and publishes
    [web]            WebSettings: the dashboard, the API and the remote agents
    [evidence]       EvidenceSettings: where the timeline's signing key and checkpoints are kept

``load_config`` builds them; every consumer reads these objects, never the TOML mapping. A new
table (``[notify]``, say) is one more model here and one more field of ``ConfigFile``, documented
in docs/configuration.md (a test fails for an undocumented field).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    create_model,
    field_validator,
)

from onthedot.calendar.policy import Policy
from onthedot.model import SiteDefaults
from onthedot.verify.caches import MODELS, CacheModel

AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
AGENT_TOKEN_CHARS = 16
AGENT_RULE = (
    "give a name of letters, digits, '.', '_' or '-' and a token of at least "
    f'{AGENT_TOKEN_CHARS} characters, e.g. edinburgh = "$(openssl rand -hex 16)"'
)


class Settings(BaseModel):
    """A table of onthedot.toml: unknown keys refused, TOML types taken as they are written."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


_Table = TypeVar("_Table", bound=Settings)
_CACHE_SETTING_TYPES: dict[str, Any] = {
    "float": float,
    "float | None": float | None,
    "int": int,
}


def _cache_table(model: CacheModel) -> type[Settings]:
    """The settings a cache product takes: its model's plain values (``configured`` is ours);
    every one is a lifetime, a factor or a count, never below 0."""
    fields: dict[str, Any] = {
        f.name: (_CACHE_SETTING_TYPES[str(f.type)], Field(f.default, ge=0))
        for f in dataclasses.fields(model)
        if f.name != "configured" and str(f.type) in _CACHE_SETTING_TYPES
    }
    return create_model(f"{type(model).__name__}Table", __base__=Settings, **fields)


def _one_table_per_product(cls: type[_Table]) -> type[_Table]:
    products: dict[str, Any] = {
        name: (_cache_table(model) | None, None) for name, model in MODELS.items()
    }
    return create_model(cls.__name__, __base__=cls, __module__=cls.__module__, **products)


@_one_table_per_product
class CacheTables(Settings):
    """``[verify.caches]``: e.g. ``varnish = {default_ttl = 3600}`` (varnishd -t) or
    ``nginx = {valid = 600}`` (proxy_cache_valid), so diagnoses and predictions are exact rather
    than the products' defaults. One optional table per product in ``verify.caches.MODELS``."""

    def models(self) -> dict[str, CacheModel]:
        """The cache models of the products this site configured, with its numbers."""
        return {
            name: dataclasses.replace(MODELS[name], **{"configured": True, **dict(table)})
            for name, table in self
            if table is not None
        }


class VerifySettings(Settings):
    """``[verify]``: how the public's view is fetched. Each number is bounded to what can work:
    a fetch needs a tenth of a second and is not worth waiting more than five minutes for; a
    body limit below 1 KiB would make every answer an error blamed on the server."""

    concurrency: int = Field(64, ge=1, le=1000)
    timeout: float = Field(10.0, ge=0.1, le=300)
    max_bytes: int | None = Field(None, ge=1024, le=10**12, examples=[100_000_000])
    ca_file: str | None = None
    verify_tls: bool = True
    ntp: str | None = None  # "host:port" of an NTP server for the clock-offset record
    caches: CacheTables = CacheTables()


class PublishSettings(Settings):
    """``[publish]``: when ``onthedot run`` stages a release, how late it still publishes one, and
    how long after the release time it keeps checking URLs that are not live yet."""

    stage_ahead_s: float = Field(3600.0, ge=0)
    catch_up_s: float = Field(7 * 24 * 3600.0, ge=0)
    watch_until_live_s: float = Field(24 * 3600.0, ge=1)


def _agent_name(name: str) -> str:
    if not AGENT_NAME.fullmatch(name):
        raise ValueError(AGENT_RULE)
    return name


def _agent_token(token: SecretStr) -> SecretStr:
    if len(token.get_secret_value()) < AGENT_TOKEN_CHARS:
        raise ValueError(AGENT_RULE)
    return token


AgentName = Annotated[str, AfterValidator(_agent_name)]
AgentToken = Annotated[SecretStr, AfterValidator(_agent_token)]


class WebSettings(Settings):
    """``[web]``: the dashboard, the API and the remote agents.

    ``agents``: name → token of each remote probe agent (masked wherever it is shown);
    ``agents_before_s`` / ``agents_after_s``: agents are given a release's URLs from this many
    seconds before its release time until this many after; ``agent_interval_s``: how often agents
    ask; ``agent_min_interval_s``: after a burst of requests, an agent may make one request per
    this many seconds (0: no limit); ``agent_clock_skew_s``: how far an agent's ``checked_at`` may
    be from the server's clock; ``refresh_s``: how often the dashboard updates;
    ``max_body_bytes``: the largest request body taken; ``body_timeout_s``: how long a request
    body may take to arrive; ``keep_alive_s``: how long an idle connection is kept open.
    """

    agents: dict[AgentName, AgentToken] = {}
    agents_before_s: float = Field(900.0, ge=0)
    agents_after_s: float = Field(1800.0, ge=0)
    agent_interval_s: float = Field(2.0, ge=0)
    agent_min_interval_s: float = Field(0.1, ge=0)
    agent_clock_skew_s: float = Field(30.0, ge=0)
    refresh_s: float = Field(5.0, ge=0)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(30.0, gt=0)
    keep_alive_s: int = Field(5, ge=1)


class EvidenceSettings(Settings):
    """``[evidence]``: ``key`` is the file of the Ed25519 key that signs the timeline's checkpoints
    (made on first use, readable by its owner only; default ``~/.config/onthedot/timeline.key``),
    ``checkpoints`` the file they are appended to (default: beside the key). Keep both apart from
    the database, e.g. on another disk or machine. A relative path is relative to onthedot.toml."""

    key: str | None = None
    checkpoints: str | None = None


class ConfigFile(Settings):
    """What onthedot.toml may say (all of it optional)."""

    releases: tuple[str, ...] = ()
    database: str | None = Field(None, repr=False)  # a URL may carry a password
    site: SiteDefaults = SiteDefaults()  # defaults for every release's [site]
    policy: Policy = Policy()
    verify: VerifySettings = VerifySettings()
    publish: PublishSettings = PublishSettings()
    web: WebSettings = WebSettings()
    evidence: EvidenceSettings = EvidenceSettings()

    @field_validator("releases", mode="before")
    @classmethod
    def _globs(cls, value: object) -> object:
        globs = [value] if isinstance(value, str) else value
        if not isinstance(globs, list | tuple) or not all(isinstance(g, str) for g in globs):
            raise ValueError('should be a list of glob patterns, e.g. releases = ["releases/*.toml"]')
        return tuple(globs)
