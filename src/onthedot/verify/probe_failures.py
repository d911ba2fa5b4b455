"""libcurl error codes → a failure kind and one plain sentence a statistician can forward to IT."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pycurl

from onthedot.verify.probe import ProbeRequest

_DNS = {pycurl.E_COULDNT_RESOLVE_HOST}
_CONNECT = {pycurl.E_COULDNT_CONNECT}
_TIMEOUT = {pycurl.E_OPERATION_TIMEDOUT}
_TLS = {
    pycurl.E_SSL_CONNECT_ERROR,
    pycurl.E_PEER_FAILED_VERIFICATION,
    pycurl.E_SSL_CERTPROBLEM,
    pycurl.E_SSL_CIPHER,
    pycurl.E_SSL_CACERT_BADFILE,
    pycurl.E_SSL_ISSUER_ERROR,
    pycurl.E_SSL_PINNEDPUBKEYNOTMATCH,
    pycurl.E_SSL_INVALIDCERTSTATUS,
    pycurl.E_SSL_ENGINE_INITFAILED,
    pycurl.E_USE_SSL_FAILED,
}
_TOO_LARGE = {pycurl.E_FILESIZE_EXCEEDED}
_REDIRECTS = {pycurl.E_TOO_MANY_REDIRECTS}
_BAD_URL = {pycurl.E_URL_MALFORMAT}


@dataclass(frozen=True, slots=True)
class Context:
    """What the classifier knows besides libcurl's code and text."""

    request: ProbeRequest
    url: str  # the URL being fetched when it failed (after redirects)
    remote_ip: str | None
    too_large: bool = False  # our own write callback stopped the body
    foreign: str | None = None  # a redirect target outside the allowed hosts
    low_speed: tuple[int, int] = (1000, 5)


def classify(code: int, detail: str, ctx: Context) -> tuple[str, str]:
    """(failure kind, message) for libcurl error ``code`` with its text ``detail``."""
    if ctx.foreign is not None:
        return "foreign-host", _foreign(ctx)
    if ctx.too_large or code in _TOO_LARGE:
        return "too-large", _too_large(ctx)
    if code in _DNS:
        return (
            "dns",
            f"The name {_host(ctx.url)} could not be found in DNS; check the address in "
            "onthedot.toml and the site's DNS records.",
        )
    if code in _CONNECT:
        return "connect", _connect(ctx)
    if code in _TIMEOUT:
        return "timeout", _timeout(detail, ctx)
    if code in _TLS:
        return "tls", (
            f"The secure (TLS) connection to {_host(ctx.url)} failed ({_clean(detail)}); fix the "
            "site's certificate, or set ca_file to the authority that issued it."
        )
    if code in _REDIRECTS:
        return "redirects", (
            f"{ctx.request.url} redirected more than {ctx.request.max_redirects} times (a redirect "
            "loop?); fix the redirect rules on the web server or cache."
        )
    if code in _BAD_URL:
        return "protocol", (
            f"The address {ctx.url!r} could not be used ({_clean(detail)}); check it in the "
            "release file."
        )
    return "protocol", (
        f"The server for {ctx.url} broke off or sent a response that could not be read "
        f"({_clean(detail) or f'libcurl error {code}'}); check the server's error log."
    )


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _where(ctx: Context) -> str:
    parts = urlsplit(ctx.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{parts.hostname}:{port}"
    if ctx.request.connect_to:
        return f"{where} (via {ctx.request.connect_to})"
    if ctx.remote_ip:
        return f"{where} ({ctx.remote_ip})"
    return where


def _connect(ctx: Context) -> str:
    return (
        f"Nothing accepted a connection to {_where(ctx)}; check that the server is running and "
        "that the address and port in onthedot.toml are right."
    )


def _timeout(detail: str, ctx: Context) -> str:
    seconds = f"{ctx.request.timeout:g}"
    lowered = detail.lower()
    if "resolving" in lowered:
        return (
            f"Looking up {_host(ctx.url)} in DNS took longer than {seconds} s; check the DNS "
            "servers and retry."
        )
    if "connection timed out" in lowered or ("connect" in lowered and "timeout" in lowered):
        return (
            f"Connecting to {_where(ctx)} took longer than {seconds} s; a firewall may be dropping "
            "the connection or the server is overloaded."
        )
    if "too slow" in lowered:
        limit, period = ctx.low_speed
        return (
            f"{ctx.url} arrived slower than {limit:,} bytes a second for {period} s, so the fetch "
            "was stopped; the server is stalling, so check its load and logs."
        )
    return (
        f"{ctx.url} did not finish within {seconds} s; the server is slow or stalled, so check "
        "its load, or allow a longer timeout for large files."
    )


def _too_large(ctx: Context) -> str:
    limit = ctx.request.max_bytes
    return (
        f"{ctx.url} is larger than the limit of {limit:,} bytes; check that the right file is "
        "served there, or raise the limit."
        if limit is not None
        else f"{ctx.url} is larger than the server's limit allows; check the file served there."
    )


def _foreign(ctx: Context) -> str:
    return (
        f"{ctx.url} redirected to {ctx.foreign}, which is not one of the site's hosts, so it was "
        "not followed; fix the redirect, or add the host to onthedot.toml if it belongs to the "
        "site."
    )


def _clean(detail: str) -> str:
    return detail.strip().rstrip(".")
