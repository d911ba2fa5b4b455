"""Adapters: URL-configured plug-ins (publish targets, cache purgers, ...) and the registry of schemes.

An adapter is configured by one URL-style string, e.g. ``ftp://publisher@origin.internal/www``.
Secrets may sit in the URL, but are better kept out of it; each secret field is looked up in order:

1. the URL itself (the password part, or a query parameter named after the field: ``?token=...``);
2. ``?<field>_env=NAME``: the environment variable ``NAME``;
3. the environment variable ``ONTHEDOT_SECRET_<USER>_<HOST>_<FIELD>`` (see ``secret_env_name``),
   e.g. ``ONTHEDOT_SECRET_PUBLISHER_ORIGIN_INTERNAL_PASSWORD``;
4. the TOML secrets file named by ``ONTHEDOT_SECRETS_FILE``, keyed by the URL as written (without
   its query), ``scheme://user@host``, ``user@host`` or ``host``; a value is either the secret (for
   the adapter's first secret field) or a table ``{field = "secret"}``.

Secrets are masked (``****``) whenever a URL is printed: ``AdapterURL.masked()``, ``Adapter.url()``,
``str()``/``repr()`` of both, and every error message an adapter raises (``Adapter.scrub``).

A secret goes only where it is configured to go. Sources 3 and 4 are named after the URL's host,
so they serve only the address they are named for; an adapter whose requests go to another
address than its URL's host (``?endpoint=`` of a CDN purger) takes secrets only from the URL
itself or ``?<field>_env=`` (``implicit_secrets`` off). ``operator_only`` names what a release
file may not say (where requests go, which environment variable a secret comes from): that
belongs in onthedot.toml, where the operator keeps the secrets. ``checked_endpoint`` refuses an
endpoint that would carry a secret over plain HTTP beyond this machine.

Core code never imports a concrete adapter: ``create(kind, url)`` looks the scheme up in the
registry, importing the built-in module for that scheme on first use (or a plug-in registered under
the entry-point group ``onthedot.<kind>s``). An adapter class states its scheme once, as its
``scheme`` attribute; defining the class registers it.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import ipaddress
import math
import os
import pkgutil
import re
import tomllib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from onthedot.errors import AdapterURLError

MASK = "****"
SECRETS_FILE_ENV = "ONTHEDOT_SECRETS_FILE"
# query parameters masked in any URL, whatever the adapter declares
SECRET_WORDS = frozenset(
    {
        "password",
        "pass",
        "secret",
        "token",
        "key",
        "api_key",
        "apikey",
        "access_key",
        "secret_key",
        "client_secret",
        "client_token",
        "access_token",
        "signature",
        "sig",
    }
)

# built-in adapters, one module per service in the package of their kind; the module of a scheme
# is the longest module name it starts with ("-" read as "_"): ``ftps`` is in ``targets/ftp.py``,
# ``http-purge+https`` in ``purgers/http_purge.py``. Imported only when a scheme is looked up.
PACKAGES: dict[str, str] = {
    "target": "onthedot.publish.targets",
    "purger": "onthedot.publish.purgers",
}
_REGISTRY: dict[str, dict[str, type[Adapter]]] = {}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")


@dataclass(frozen=True, repr=False)
class AdapterURL:
    """A parsed adapter URL. ``password`` and secret query values never appear in str()/repr()."""

    raw: str
    scheme: str
    user: str | None
    password: str | None
    host: str | None
    port: int | None
    path: str
    query: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> AdapterURL:
        text = url.strip()
        if "://" not in text:
            raise AdapterURLError(
                f"'{_mask_raw(text)}' is not an adapter URL: write it as scheme://..., "
                "e.g. ftp://publisher@origin.internal/www."
            )
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError as exc:
            raise AdapterURLError(
                f"The port in {_mask_raw(text)} is not a number from 1 to 65535: correct it."
            ) from exc
        return cls(
            raw=text,
            scheme=parts.scheme.lower(),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            host=_host(parts.netloc),
            port=port,
            path=unquote(parts.path),
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        )

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if self.host and ":" in self.host else (self.host or "")
        user = f"{quote(self.user, safe='')}@" if self.user else ""
        return f"{user}{host}" + (f":{self.port}" if self.port else "")

    def masked(self, secret_fields: tuple[str, ...] = ()) -> str:
        """The URL with every secret replaced by ``****``: safe to print, log and record."""
        secret = SECRET_WORDS | set(secret_fields)
        netloc = self.netloc
        if self.password is not None:
            hostport = netloc.split("@", 1)[1] if self.user else netloc
            netloc = f"{quote(self.user or '', safe='')}:{MASK}@{hostport}"
        query = {k: (MASK if k.lower() in secret else v) for k, v in self.query.items()}
        text = f"{self.scheme}://{netloc}{quote(self.path, safe='/:@')}"
        return text + (f"?{urlencode(query, safe='*')}" if query else "")

    def __str__(self) -> str:
        return self.masked()

    def __repr__(self) -> str:
        return f"AdapterURL({self.masked()!r})"

    def secret(self, name: str, *, first: bool = False, implicit: bool = True) -> str | None:
        """Look a secret field up (URL, ?NAME_env=, then, when ``implicit``, the ones named after
        the host: ONTHEDOT_SECRET_..., secrets file)."""
        value = self.password if name == "password" else self.query.get(name)
        if value:
            return value
        env_name = self.query.get(f"{name}_env")
        if env_name:
            if env_name not in os.environ:
                raise AdapterURLError(
                    f"{self.masked()} takes its {name} from the environment variable {env_name}, "
                    "which is not set: set it before running onthedot."
                )
            return os.environ[env_name]
        if not implicit:
            return None
        value = os.environ.get(secret_env_name(self, name))
        return value if value else _from_secrets_file(self, name, first)


def _host(netloc: str) -> str | None:
    """The host part of a netloc, case kept (IDs like a Fastly service id are case-sensitive)."""
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1:].split("]", 1)[0] or None
    return host.split(":", 1)[0] or None


def secret_env_name(url: AdapterURL, name: str) -> str:
    """The environment variable that may hold secret ``name`` for this URL."""
    who = f"{url.user}_{url.host}" if url.user else (url.host or url.scheme)
    return f"ONTHEDOT_SECRET_{_slug(who)}_{_slug(name)}"


ENDPOINT = "endpoint"


def operator_only(url: str) -> str | None:
    """The query parameter of ``url`` that only onthedot.toml may set, if any: ``endpoint``
    (where the requests, and so the secrets, go) or ``<field>_env`` (which environment variable
    a secret is read from). None when a release file may carry the URL as it is."""
    try:
        query = AdapterURL.parse(url).query
    except AdapterURLError:
        return None  # the adapter reports it when it is built
    return next((k for k in query if k.lower() == ENDPOINT or k.lower().endswith("_env")), None)


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_endpoint(url: AdapterURL) -> str | None:
    """The ``?endpoint=`` of an adapter that sends secrets, if it has one that may carry them:
    ``https://``, or ``http://`` to this machine only (a local relay or a test's fake service)."""
    endpoint = url.query.get(ENDPOINT)
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return endpoint
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return endpoint
    raise AdapterURLError(
        f"?endpoint={_mask_raw(endpoint)} in {url.masked()} would send its secrets unencrypted "
        "or to no clear address: give an https:// address (plain http:// only to this machine)."
    )


def _from_secrets_file(url: AdapterURL, name: str, first: bool) -> str | None:
    path = os.environ.get(SECRETS_FILE_ENV)
    if not path:
        return None
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AdapterURLError(
            f"The secrets file {path} (from {SECRETS_FILE_ENV}) cannot be read as TOML: "
            f"{type(exc).__name__}; fix or unset it."
        ) from exc
    who = f"{url.user}@{url.host}" if url.user else (url.host or "")
    keys = (url.raw.split("?", 1)[0], f"{url.scheme}://{url.netloc}", who, url.host or "")
    for key in keys:
        entry = data.get(key)
        if isinstance(entry, str) and first:
            return entry
        if isinstance(entry, dict) and isinstance(entry.get(name), str):
            return str(entry[name])
    return None


def _mask_raw(text: str) -> str:
    """Mask a string that may not even parse as a URL (for error messages)."""
    text = re.sub(r"(://[^/@:?#]*):[^@/?#]*@", rf"\1:{MASK}@", text)
    words = "|".join(sorted(SECRET_WORDS))
    return re.sub(rf"([?&](?:{words})=)[^&#]*", rf"\1{MASK}", text, flags=re.IGNORECASE)


def mask_secrets(url: str) -> str:
    """Any URL as written with its password and secret query values replaced by ``****``, the
    rest left exactly as it was: what may be stored or shown of a URL that can carry secrets.
    A release read back with masked secrets cannot be published (``AdapterURL.secret`` says so)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _mask_raw(url)
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, hostport = rest[:end].rpartition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}{rest[end:]}"
    return _mask_raw(f"{scheme}://{rest}")


class Adapter:
    """The tiny base every adapter kind builds on: a URL, masking, ``aclose`` and ``async with``.

    A class that states its own ``scheme`` is the adapter for that scheme: defining it registers
    it (``create(kind, "scheme://...")`` builds it), for built-in adapters and plug-ins alike.
    """

    kind: ClassVar[str] = ""
    scheme: ClassVar[str] = ""
    title: ClassVar[str] = ""  # what it is, for messages: "FTP server"
    docs: ClassVar[str] = ""  # link to the service's documentation
    required: ClassVar[
        tuple[str, ...]
    ] = ()  # URL parts that must be present: "host", "path", "user"
    secret_fields: ClassVar[tuple[str, ...]] = ()
    implicit_secrets: bool = True  # secrets named after the URL's host may be used (see above)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("scheme"):
            _REGISTRY.setdefault(cls.kind, {})[cls.scheme.lower()] = cls

    def __init__(self, url: AdapterURL | str) -> None:
        self._url = url if isinstance(url, AdapterURL) else AdapterURL.parse(url)
        for part in self.required:
            if not getattr(self._url, part):
                raise AdapterURLError(
                    f"{self.url()} has no {part}: write it like this: {self.example()}."
                )
        secret = SECRET_WORDS | set(self.secret_fields)
        if MASK in (
            self._url.password,
            *(v for k, v in self._url.query.items() if k.lower() in secret),
        ):
            raise AdapterURLError(
                f"{self.url()} has a masked secret, as a release read back from the store has: "
                "publish from the release file."
            )
        self._secrets: dict[str, str] = {}

    def seconds(self, name: str, default: float) -> float:
        """The URL's ``?name=`` as a number of seconds, ``default`` when it has none; one that
        is not a number (or is negative) is an AdapterURLError, found when the release file is
        read, not at its release time."""
        raw = self._url.query.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise AdapterURLError(
                f"{self.url()} gives {name}={raw!r}, which is not a number of seconds: write "
                f"it like this: ?{name}={default:g}."
            )
        return value

    @classmethod
    def example(cls) -> str:
        return (cls.__doc__ or cls.scheme).strip().splitlines()[0]

    @property
    def parsed(self) -> AdapterURL:
        return self._url

    def secret(self, name: str, *, required: bool = True) -> str | None:
        """Resolve a secret field once; a missing required one is an AdapterURLError."""
        if name not in self._secrets:
            first = bool(self.secret_fields) and name == self.secret_fields[0]
            value = self._url.secret(name, first=first, implicit=self.implicit_secrets)
            if value is None:
                if not required:
                    return None
                raise AdapterURLError(self._missing(name))
            self._secrets[name] = value
        return self._secrets[name]

    def _missing(self, name: str) -> str:
        if not self.implicit_secrets:
            return (
                f"{self.url()} needs a {name} of its own, as it sends requests to its ?endpoint=: "
                f"add ?{name}_env=VARIABLE to the URL in onthedot.toml."
            )
        return (
            f"{self.url()} needs a {name}: set {secret_env_name(self._url, name)}, add "
            f"?{name}_env=VARIABLE to the URL, or put it in the secrets file."
        )

    def url(self, privacy: bool = True) -> str:
        return self._url.masked(self.secret_fields) if privacy else self._url.raw

    def scrub(self, text: str) -> str:
        """Remove every secret this adapter knows from a message (e.g. a third-party error)."""
        values = [*self._secrets.values(), self._url.password or ""]
        values += [v for k, v in self._url.query.items() if k in self.secret_fields]
        for value in sorted((v for v in values if len(v) >= 3), key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def __str__(self) -> str:
        return self.url()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url()}>"

    async def aclose(self) -> None:
        """Release connections; the adapter may be used again afterwards (it reconnects)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _builtin_modules(kind: str) -> list[str]:
    """The built-in adapter modules of a kind, longest name first (none for an unknown kind)."""
    package = PACKAGES.get(kind)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        return []
    names = [m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)]
    return [f"{package}.{name}" for name in sorted(names, key=len, reverse=True)]


def builtin_module(kind: str, scheme: str) -> str | None:
    """The built-in module that defines ``scheme`` (the longest module name it starts with)."""
    wanted = scheme.lower().replace("-", "_")
    modules = _builtin_modules(kind)
    return next((m for m in modules if wanted.startswith(m.rsplit(".", 1)[1])), None)


def schemes(kind: str) -> list[str]:
    """Every scheme known for a kind: built-in, plug-ins (entry points) and classes defined."""
    for module in _builtin_modules(kind):
        importlib.import_module(module)
    plugins = {entry.name for entry in entry_points(group=f"onthedot.{kind}s")}
    return sorted(set(_REGISTRY.get(kind, {})) | plugins)


def lookup(kind: str, scheme: str) -> type[Adapter]:
    scheme = scheme.lower()
    module = builtin_module(kind, scheme)
    if scheme not in _REGISTRY.get(kind, {}) and module is not None:
        importlib.import_module(module)
    found = _REGISTRY.get(kind, {}).get(scheme)
    if found is None:
        for entry in entry_points(group=f"onthedot.{kind}s", name=scheme):
            found = entry.load()
    if found is None:
        known = schemes(kind)
        near = difflib.get_close_matches(scheme, known, n=1, cutoff=0.4)
        hint = f"did you mean {near[0]}://?" if near else "use one of " + ", ".join(known)
        raise AdapterURLError(f"There is no {kind} for the scheme '{scheme}://': {hint}")
    return found


def create(kind: str, url: str, **deps: Any) -> Adapter:
    """Build the adapter of this kind for a URL; ``deps`` go to its constructor (e.g. ``retry=``)."""
    parsed = AdapterURL.parse(url)
    cls = lookup(kind, parsed.scheme)
    return cls(parsed, **deps)
