"""The tables of onthedot.toml beyond ``[site]``: one typed, frozen model each, checked once.

    [policy]         Policy (onthedot.calendar.policy): when releases may go out
    [verify]         VerifySettings: how the public's view is fetched
    [verify.caches]  CacheTables: how this site's caches are set up, one table per product
    [publish]        PublishSettings: when ``onthedot run`` stages and publishes
    [web]            WebSettings: the dashboard, the API and the remote agents
    [evidence]       EvidenceSettings: where the timeline's signing key and checkpoints are kept
    [statement]      StatementSettings: the producers' wording of the statement about a breach
    [notify]         NotifySettings: who is alerted about an incident, how, and when
    [notice]         NoticeSettings: the notice to users when a release is not live in time
    [gates.<id>]     Gate lists: actions held until a release is live (addresses with secrets)

``load_config`` builds them; every consumer reads these objects, never the TOML mapping. A new
table (``[notify]``, say) is one more model here and one more field of ``ConfigFile``, documented
in docs/configuration.md (a test fails for an undocumented field).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import string
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    create_model,
    field_validator,
)

from onthedot.calendar.policy import Policy
from onthedot.model import (
    NOTICE_PLACEHOLDERS,
    Finding,
    Gate,
    Release,
    Severity,
    SiteDefaults,
    notice_path_fault,
    template_fault,
    web_url,
)
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
    "bool": bool,
}


def _cache_table(model: CacheModel) -> type[Settings]:
    """The settings a cache product takes: its model's plain values (``configured`` is ours);
    every number is a lifetime, a factor or a count, never below 0; a bool is a switch."""
    fields: dict[str, Any] = {
        f.name: (
            _CACHE_SETTING_TYPES[str(f.type)],
            Field(f.default) if str(f.type) == "bool" else Field(f.default, ge=0),
        )
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
    follow_depth: int = Field(1, ge=0, le=5)  # pages followed from a landing page, levels deep
    caches: CacheTables = CacheTables()


class PublishSettings(Settings):
    """``[publish]``: when ``onthedot run`` stages a release, how late it still publishes one, and
    how long after the release time it keeps checking URLs that are not live yet, and how the
    checks after it are shared between several instances."""

    stage_ahead_s: float = Field(3600.0, ge=0)
    catch_up_s: float = Field(7 * 24 * 3600.0, ge=0)
    watch_until_live_s: float = Field(24 * 3600.0, ge=1)
    spread_chunk_urls: int = Field(25, ge=1, le=10_000)
    """With several instances on PostgreSQL, each sweep after T is split into chunks of this many
    URLs that every instance claims (``morning.spread``)."""


class RemediateSettings(Settings):
    """``[remediate]``: what onthedot does by itself, after the release time, about an address
    still showing the previous version: purge the caches again (``purge_attempts`` times at
    most), or put the new files in place again when the website itself still serves the previous
    version (``reflip_attempts``), waiting ``backoff_s`` before each attempt (the last repeated)."""

    purge_attempts: int = Field(3, ge=0, le=20)
    reflip_attempts: int = Field(2, ge=0, le=20)
    backoff_s: tuple[Annotated[float, Field(ge=0.1, le=3600)], ...] = Field(
        (5.0, 15.0, 45.0), min_length=1, max_length=20
    )


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
    be from the server's clock; ``agent_silent_after_s``: an agent a release's site names that falls
    silent for this long before the release is live everywhere opens the *vantage* incident
    (``respond.vantages``); ``refresh_s``: how often the dashboard updates;
    ``live_s``: how often a release page followed live looks for new results;
    ``max_body_bytes``: the largest request body taken; ``body_timeout_s``: how long a request
    body may take to arrive; ``keep_alive_s``: how long an idle connection is kept open.
    """

    agents: dict[AgentName, AgentToken] = {}
    agents_before_s: float = Field(900.0, ge=0)
    agents_after_s: float = Field(1800.0, ge=0)
    agent_interval_s: float = Field(2.0, ge=0)
    agent_min_interval_s: float = Field(0.1, ge=0)
    agent_clock_skew_s: float = Field(30.0, ge=0)
    agent_silent_after_s: float = Field(30.0, gt=0)
    refresh_s: float = Field(5.0, ge=0)
    live_s: float = Field(0.1, gt=0, le=5)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(30.0, gt=0)
    keep_alive_s: int = Field(5, ge=1)


PERSON_ROLES = ("viewer", "statistician", "head-of-profession", "publisher", "it", "admin")
"""The roles a person's account or single sign-on may give (``web.access.ACCOUNT_ROLES``)."""


def _issuer(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValueError(
            "should be the https:// address of the identity provider, e.g. "
            "https://login.microsoftonline.com/TENANT/v2.0 (http:// only to this machine)"
        )
    return value.rstrip("/")


def _person_roles(roles: dict[str, str]) -> dict[str, str]:
    wrong = sorted({r for r in roles.values() if r not in PERSON_ROLES})
    if wrong:
        raise ValueError(f"{', '.join(wrong)} is not a role: use one of {', '.join(PERSON_ROLES)}")
    return roles


class OidcSettings(Settings):
    """``[oidc]``: single sign-on through an OpenID Connect provider (Entra ID, Okta, Keycloak,
    ...). ``issuer``: the provider's address (its discovery document is under
    ``/.well-known/openid-configuration``); ``client_id`` and ``client_secret`` (masked wherever
    shown): onthedot's registration there, with the redirect address ``/sign-in/oidc/callback``;
    ``scopes``: what is asked for; ``name_claim``: the claim that names the person;
    ``role_claim``: the claim (a string or a list) whose value gives the role, through ``roles``
    (claim value → viewer, statistician, head-of-profession, publisher, it or admin); someone
    whose claim maps to no role is not signed in."""

    issuer: Annotated[str | None, AfterValidator(_issuer)] = None
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    scopes: Annotated[tuple[str, ...], Field(strict=False)] = ("openid", "email", "profile")
    name_claim: str = "email"
    role_claim: str = "groups"
    roles: Annotated[dict[str, str], AfterValidator(_person_roles)] = {}


class EvidenceSettings(Settings):
    """``[evidence]``: ``key`` is the file of the Ed25519 key that signs the timeline's checkpoints
    (made on first use, readable by its owner only; default ``~/.config/onthedot/timeline.key``),
    ``checkpoints`` the file they are appended to (default: beside the key). Keep both apart from
    the database, e.g. on another disk or machine. A relative path is relative to onthedot.toml."""

    key: str | None = None
    checkpoints: str | None = None


STATEMENT_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "what": ("title", "due", "date", "live", "late_by", "producer"),
    "why": ("cause", "title", "producer"),
    "apology": ("title", "producer"),
    "link": ("link", "title", "producer"),
    "contact": ("contact", "producer"),
    "contact_role": ("producer",),
}


def _placeholders(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:  # a lone { or }
        raise ValueError(
            f"is not a template ({exc}): write a placeholder as {{title}} and a brace as {{{{ or }}}}"
        ) from None


STATEMENT_RULE = "statement-wording"
NEAR_NAME = 0.85  # how alike a table's name and a producer's are to be taken for a misspelling
"""e.g. "Health and Safety Executive" for "Health and Safety Executive (HSE)" (0.90); not
"Ministry of Defence" for "Ministry of Justice" (0.74)."""


class StatementWording(Settings):
    """The sentences of the statement about a breach, one a key; each may use the named
    placeholders of ``STATEMENT_PLACEHOLDERS``, and an empty sentence is left out.
    ``contact_role`` is whom readers should contact (a role or a team address; a personal name
    only if the producer wants one)."""

    what: str = (
        "“{title}” was due to be published at {due} on {date} but was not available to all users "
        "until {live}, {late_by} late."
    )
    why: str = "This was because {cause}."
    apology: str = (
        "We apologise for this, and have reported it to the Office for Statistics Regulation as a "
        "breach of the Code of Practice for Statistics."
    )
    link: str = "The statistics are available at {link}."
    contact: str = "If you have any questions about this release, please contact {contact}."
    contact_role: str = "the Head of Profession for Statistics at {producer}"

    @field_validator(*STATEMENT_PLACEHOLDERS)
    @classmethod
    def _template(cls, value: str, info: ValidationInfo) -> str:
        allowed = STATEMENT_PLACEHOLDERS[str(info.field_name)]
        for name in _placeholders(value):
            if name not in allowed:
                shown = ", ".join(f"{{{n}}}" for n in allowed)
                raise ValueError(
                    f"{{{name}}} is not a placeholder this sentence can use: use {shown}"
                )
        return value


class StatementSettings(StatementWording):
    """``[statement]``: the wording of the statement about a breach (``StatementWording``), and
    ``producers.<name>``: a producer's own sentences, replacing those it names for the releases
    whose ``producer`` is exactly that name (one service may publish for many producers)."""

    producers: dict[str, StatementWording] = {}

    def of(self, producer: str) -> StatementWording:
        """The wording of ``producer``'s statements: its own sentences, the others these."""
        own = self.producers.get(producer)
        chosen = {key: getattr(self, key) for key in StatementWording.model_fields}
        if own is not None:
            chosen.update({key: getattr(own, key) for key in own.model_fields_set})
        return StatementWording(**chosen)

    def findings(self, release: Release) -> list[Finding]:
        """What ``check`` says of ``release``'s statement: a warning when its producer has no
        table of its own but one is named nearly as it is (the default wording would be used)."""
        if release.producer in self.producers:
            return []
        near = difflib.get_close_matches(release.producer, list(self.producers), 1, NEAR_NAME)
        if not near:
            return []
        message = (
            f"A statement about {release.id} would use the [statement] wording, as no "
            f'[statement.producers] table is named "{release.producer}" exactly; if the table '
            f'"{near[0]}" is meant for this producer, give it the producer\'s name as written here.'
        )
        return [
            Finding(
                rule=STATEMENT_RULE,
                severity=Severity.WARNING,
                message=message,
                line=release.line_of("producer"),
            )
        ]


NOTIFY_ROLES = ("statistician", "head_of_profession", "publishing", "it")


def _alert_address(url: str) -> str:
    """The shape of an alert address (scheme://...); whether its service knows it is checked by
    ``onthedot check`` and at start-up (``respond.channels``), which load every service."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", url):
        raise ValueError(
            "must be an alert address such as mailto://, json:// or slack://, without spaces"
        )
    return url


AlertAddress = Annotated[str, AfterValidator(_alert_address)]
AlertAddresses = Annotated[tuple[AlertAddress, ...], Field(strict=False)]  # a TOML list


class Recipients(Settings):
    """Each role's alert addresses (Apprise URLs: e-mail, Teams, Slack, SMS, webhooks)."""

    statistician: AlertAddresses = ()
    head_of_profession: AlertAddresses = ()
    publishing: AlertAddresses = ()
    it: AlertAddresses = ()


class Ladder(Settings):
    """Seconds after an incident opens at which each role is alerted unless it is acknowledged
    (a role set to -1 is never alerted by the ladder; IT only when a cache or server is at fault)."""

    statistician: float = Field(0.0, ge=-1)
    publishing: float = Field(0.0, ge=-1)
    it: float = Field(0.0, ge=-1)
    head_of_profession: float = Field(300.0, ge=-1)


class NotifySettings(Recipients):
    """``[notify]``: who is alerted about an incident. ``statistician``, ``head_of_profession``,
    ``publishing``, ``it``: lists of Apprise URLs; ``releases.<id>``: the same lists for one
    release, replacing those it names; ``escalate``: the ladder; ``dashboard``: the dashboard's
    address people open from a message; ``link_hours``: how long an acknowledgement link works;
    ``key``: the file of the key that signs those links (default: beside the timeline's key)."""

    releases: dict[str, Recipients] = {}
    escalate: Ladder = Ladder()
    dashboard: str | None = None
    link_hours: float = Field(24.0, gt=0, le=24 * 14)
    key: str | None = None

    @field_validator("dashboard")
    @classmethod
    def _dashboard(cls, value: str | None) -> str | None:
        return None if value is None else web_url(value)

    def recipients(self, release_id: str) -> dict[str, tuple[str, ...]]:
        """Each role's addresses for ``release_id`` (its own lists where it has them)."""
        own = self.releases.get(release_id)
        chosen = {role: getattr(self, role) for role in NOTIFY_ROLES}
        if own is not None:
            chosen.update({role: getattr(own, role) for role in own.model_fields_set})
        return chosen


class NoticeSettings(Settings):
    """``[notice]``: the notice to users on the release's site when it is not live everywhere
    ``after_s`` after its release time. It is published through the release's ``[site] target`` at
    ``path`` (``{release}``: the release's id), a fragment the release page includes, saying
    ``delayed``; once live, it is replaced by ``published``. ``update_in_s``: how long after the
    release time the page promises its next update (``{update_by}``). A release file's own
    ``[notice]`` replaces any of these keys; ``enabled = false`` posts none."""

    enabled: bool = True
    after_s: float = Field(120.0, ge=0)
    update_in_s: float = Field(1800.0, gt=0)
    path: str = "/statistics/notices/{release}.html"
    delayed: str = (
        "These statistics were due at {due}. We are fixing a technical problem and will update "
        "this page by {update_by}."
    )
    published: str = "Published at {live} after a technical delay."

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        fault = notice_path_fault(value)
        if fault is not None:
            raise ValueError(fault)
        return value

    @field_validator(*NOTICE_PLACEHOLDERS)
    @classmethod
    def _template(cls, value: str, info: ValidationInfo) -> str:
        fault = template_fault(value, NOTICE_PLACEHOLDERS[str(info.field_name)])
        if fault is not None:
            raise ValueError(fault)
        return value

    def of(self, release: Release) -> NoticeSettings:
        """The notice of ``release``: these keys, replaced by its own ``[notice]``."""
        own = release.notice.model_dump(exclude_none=True) if release.notice else {}
        return self.model_copy(update=own)


Gates = Annotated[tuple[Gate, ...], Field(strict=False)]  # a TOML list of tables


class ConfigFile(Settings):
    """What onthedot.toml may say (all of it optional)."""

    releases: tuple[str, ...] = ()
    database: str | None = Field(None, repr=False)  # a URL may carry a password
    site: SiteDefaults = SiteDefaults()  # defaults for every release's [site]
    policy: Policy = Policy()
    verify: VerifySettings = VerifySettings()
    publish: PublishSettings = PublishSettings()
    remediate: RemediateSettings = RemediateSettings()
    web: WebSettings = WebSettings()
    oidc: OidcSettings = OidcSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    statement: StatementSettings = StatementSettings()
    notify: NotifySettings = NotifySettings()
    notice: NoticeSettings = NoticeSettings()
    gates: dict[str, Gates] = {}  # [[gates.<release>]]: gates whose addresses hold secrets

    @field_validator("releases", mode="before")
    @classmethod
    def _globs(cls, value: object) -> object:
        globs = [value] if isinstance(value, str) else value
        if not isinstance(globs, list | tuple) or not all(isinstance(g, str) for g in globs):
            raise ValueError(
                'should be a list of glob patterns, e.g. releases = ["releases/*.toml"]'
            )
        return tuple(globs)
