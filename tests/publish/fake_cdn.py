"""Local stand-ins for the CDN purge APIs we cannot reach from here (Fastly, Cloudflare, CloudFront,
Akamai Fast Purge v3) and for a CMS publish webhook.

Each fake implements the documented request shapes and *checks* them: method, path, auth headers
and body. A request that does not match answers 400 with what was wrong (so a test fails loudly),
wrong credentials answer 401/403 as the real API does. ``fail_next = N`` makes the next N requests
answer 500; ``hang = True`` makes requests wait forever (for timeout tests). ``seen`` records every
request as (method, path, headers, body).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FASTLY_SERVICE, FASTLY_KEY = "SU1Z0isxPaozGVKXdv0eY", "fastly-test-token-0123456789"
CF_ZONE, CF_TOKEN = "023e105f4ecef8ad9ca31a8372d0c353", "cf-test-token-abcdefghijklmnop"
CLOUDFRONT_ID, AWS_KEY, AWS_SECRET = "EDFDVBD6EXAMPLE", "AKIAFAKECLOUDFRONT01", "aws-secret-xyz-123456"
AKAMAI_HOST = "akab-test-xxxxxxxx.purge.akamaiapis.net"
AKAMAI_CLIENT_TOKEN, AKAMAI_ACCESS_TOKEN = "akab-client-token-test", "akab-access-token-test"
AKAMAI_SECRET = "akamai-client-secret-test-abcdefghij="
CMS_SECRET = "cms-webhook-secret-0123456789"


@dataclass
class Fake:
    """One fake API server; ``url`` is its base after ``start()``."""

    fail_next: int = 0
    hang: bool = False
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    polls_until_done: int = 1
    url: str = ""
    cms_files: dict[str, bytes] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _polls: dict[str, int] = field(default_factory=dict)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> Fake:
        app = web.Application(middlewares=[self._faults])
        app.router.add_route("*", "/{tail:.*}", self._route)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.seen.append((request.method, request.path_qs, dict(request.headers), body))
        if self.hang:
            await self._released.wait()
        if self.fail_next > 0:
            self.fail_next -= 1
            if request.path.startswith("/2020-05-31/"):
                return _aws_error(500, "ServiceUnavailable", "fake failure")
            return web.json_response({"error": "internal"}, status=500)
        response: web.StreamResponse = await handler(request)
        return response

    async def _route(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.path
        for pattern, handler in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match and request.method == handler[0]:
                result: web.StreamResponse = await handler[1](self, request, body, *match.groups())
                return result
        return _bad(f"no such endpoint: {request.method} {path}")


def _bad(why: str) -> web.Response:
    return web.json_response({"error": f"fake CDN: {why}"}, status=400)


# -- Fastly -------------------------------------------------------------------------------------
def _fastly_auth(request: web.Request) -> web.Response | None:
    if request.headers.get("Fastly-Key") != FASTLY_KEY:
        return web.json_response({"msg": "Provided credentials are missing or invalid"}, status=401)
    return None


async def fastly_url(fake: Fake, request: web.Request, body: bytes, url: str) -> web.Response:
    return _fastly_auth(request) or web.json_response({"status": "ok", "id": secrets.token_hex(8)})


async def fastly_keys(fake: Fake, request: web.Request, body: bytes, service: str) -> web.Response:
    if (denied := _fastly_auth(request)) is not None:
        return denied
    if service != FASTLY_SERVICE:
        return web.json_response({"msg": "Record not found"}, status=404)
    keys = json.loads(body or b"{}").get("surrogate_keys")
    if not isinstance(keys, list) or not keys or len(keys) > 256:
        return _bad("body must be {\"surrogate_keys\": [1..256 keys]}")
    return web.json_response({key: secrets.token_hex(8) for key in keys})


# -- Cloudflare ---------------------------------------------------------------------------------
async def cloudflare(fake: Fake, request: web.Request, body: bytes, zone: str) -> web.Response:
    if request.headers.get("Authorization") != f"Bearer {CF_TOKEN}":
        return web.json_response({"success": False, "errors": [
            {"code": 10000, "message": "Authentication error"}]}, status=403)
    if zone != CF_ZONE:
        return web.json_response({"success": False, "errors": [
            {"code": 7003, "message": "Could not route to zone"}]}, status=400)
    data = json.loads(body or b"{}")
    kinds = [k for k in ("files", "tags", "prefixes", "hosts") if k in data]
    if len(kinds) != 1 or not data[kinds[0]] or len(data[kinds[0]]) > 30:
        return _bad("body must have exactly one of files/tags/prefixes with 1..30 items")
    if kinds[0] == "prefixes" and any("://" in p for p in data["prefixes"]):
        return _bad("prefixes are written without a scheme")
    return web.json_response({"success": True, "errors": [], "messages": [],
                              "result": {"id": secrets.token_hex(16)}})


# -- CloudFront (REST-XML, SigV4) ---------------------------------------------------------------
_XMLNS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"


def _sigv4_problem(request: web.Request) -> web.Response | None:
    auth = request.headers.get("Authorization", "")
    match = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/[a-z0-9-]+/cloudfront/aws4_request,"
                     r" SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$", auth)
    if not match or "X-Amz-Date" not in request.headers:
        return _bad(f"not a SigV4 request for cloudfront: {auth[:60]}")
    if match.group(1) != AWS_KEY:
        return _aws_error(403, "InvalidClientTokenId", "The security token is invalid.")
    return None


def _aws_error(status: int, code: str, message: str) -> web.Response:
    xml = (f'<?xml version="1.0"?><ErrorResponse xmlns="{_XMLNS}"><Error><Type>Sender</Type>'
           f"<Code>{code}</Code><Message>{message}</Message></Error>"
           f"<RequestId>{secrets.token_hex(8)}</RequestId></ErrorResponse>")
    return web.Response(status=status, text=xml, content_type="text/xml")


def _invalidation_xml(inv: str, state: str, paths: list[str], ref: str) -> str:
    items = "".join(f"<Path>{p}</Path>" for p in paths)
    return (f'<?xml version="1.0" encoding="UTF-8"?><Invalidation xmlns="{_XMLNS}"><Id>{inv}</Id>'
            f"<Status>{state}</Status><CreateTime>2019-12-18T09:30:01Z</CreateTime>"
            f"<InvalidationBatch><Paths><Quantity>{len(paths)}</Quantity><Items>{items}</Items>"
            f"</Paths><CallerReference>{ref}</CallerReference></InvalidationBatch></Invalidation>")


async def cf_create(fake: Fake, request: web.Request, body: bytes, dist: str) -> web.Response:
    if (problem := _sigv4_problem(request)) is not None:
        return problem
    if dist != CLOUDFRONT_ID:
        return _aws_error(404, "NoSuchDistribution", "The specified distribution does not exist.")
    text = body.decode()
    paths = re.findall(r"<Path>([^<]*)</Path>", text)
    quantity = re.search(r"<Quantity>(\d+)</Quantity>", text)
    ref = re.search(r"<CallerReference>([^<]+)</CallerReference>", text)
    if not paths or not quantity or int(quantity.group(1)) != len(paths) or not ref:
        return _bad("InvalidationBatch needs Paths/Quantity matching Items and a CallerReference")
    if any(not p.startswith("/") for p in paths):
        return _aws_error(400, "InvalidArgument", "Paths must start with /")
    inv = "I" + secrets.token_hex(6).upper()
    fake._polls[inv] = 0
    headers = {"Location": f"{fake.url}/2020-05-31/distribution/{dist}/invalidation/{inv}"}
    return web.Response(status=201, text=_invalidation_xml(inv, "InProgress", paths, ref.group(1)),
                        content_type="text/xml", headers=headers)


async def cf_get(fake: Fake, request: web.Request, body: bytes, dist: str, inv: str) -> web.Response:
    if (problem := _sigv4_problem(request)) is not None:
        return problem
    if inv not in fake._polls:
        return _aws_error(404, "NoSuchInvalidation", "The specified invalidation does not exist.")
    fake._polls[inv] += 1
    state = "Completed" if fake._polls[inv] >= fake.polls_until_done else "InProgress"
    return web.Response(text=_invalidation_xml(inv, state, ["/"], "ref"), content_type="text/xml")


# -- Akamai Fast Purge v3 (EdgeGrid) ------------------------------------------------------------
def _b64_hmac(key: str, message: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()).decode()


def check_edgegrid(request: web.Request, body: bytes) -> str | None:
    """Verify an EG1-HMAC-SHA256 header independently of the adapter's signer; None when valid."""
    auth = request.headers.get("Authorization", "")
    fields = dict(re.findall(r"(\w+)=([^;]*)", auth.removeprefix("EG1-HMAC-SHA256 ")))
    if not auth.startswith("EG1-HMAC-SHA256 ") or set(fields) != {
            "client_token", "access_token", "timestamp", "nonce", "signature"}:
        return "Authorization is not EG1-HMAC-SHA256 with the five fields"
    if fields["client_token"] != AKAMAI_CLIENT_TOKEN or fields["access_token"] != AKAMAI_ACCESS_TOKEN:
        return "unknown client or access token"
    unsigned = auth[: auth.index("signature=")]
    content = base64.b64encode(hashlib.sha256(body).digest()).decode() if body else ""
    data = "\t".join(["POST", "http", request.host, request.path_qs, "", content, unsigned])
    expected = _b64_hmac(_b64_hmac(AKAMAI_SECRET, fields["timestamp"]), data)
    return None if hmac.compare_digest(expected, fields["signature"]) else "signature mismatch"


async def akamai(fake: Fake, request: web.Request, body: bytes, kind: str, net: str) -> web.Response:
    problem = check_edgegrid(request, body)
    if problem is not None:
        return web.json_response({"type": "unauthorized", "title": "Unauthorized", "status": 401,
                                  "detail": problem}, status=401)
    objects = json.loads(body or b"{}").get("objects")
    if net not in ("production", "staging") or not isinstance(objects, list) or not objects:
        return _bad("path network must be production|staging and body {\"objects\": [...]}")
    return web.json_response({"httpStatus": 201, "detail": "Request accepted",
                              "estimatedSeconds": 5, "purgeId": secrets.token_hex(8),
                              "supportId": secrets.token_hex(8)}, status=201)


# -- CMS webhook (X-Onthedot-Signature) ---------------------------------------------------------
async def cms(fake: Fake, request: web.Request, body: bytes) -> web.Response:
    expected = "sha256=" + hmac.new(CMS_SECRET.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-Onthedot-Signature", ""), expected):
        return web.json_response({"error": "bad signature"}, status=401)
    data = json.loads(body)
    if str(data.get("timestamp")) != request.headers.get("X-Onthedot-Timestamp"):
        return _bad("timestamp header and body differ")
    action, files = data.get("action"), fake.cms_files
    if action == "stage":
        content = base64.b64decode(data["content_base64"])
        if hashlib.sha256(content).hexdigest() != data["sha256"] or len(content) != data["size"]:
            return _bad("content does not match sha256/size")
        files[data["location"]] = content
    elif action == "publish":
        if data["location"] not in files:
            return web.json_response({"error": "not staged"}, status=404)
        files[data["path"]] = files.pop(data["location"])
    elif action == "discard":
        files.pop(data["location"], None)
    elif action == "status":
        found = files.get(data["path"])
        return web.json_response({"sha256": hashlib.sha256(found).hexdigest() if found else None})
    else:
        return _bad(f"unknown action {action!r}")
    return web.json_response({"ok": True})


_ROUTES: list[tuple[str, tuple[str, Any]]] = [
    (r"/purge/(.+)", ("POST", fastly_url)),
    (r"/service/([^/]+)/purge", ("POST", fastly_keys)),
    (r"/client/v4/zones/([^/]+)/purge_cache", ("POST", cloudflare)),
    (r"/2020-05-31/distribution/([^/]+)/invalidation", ("POST", cf_create)),
    (r"/2020-05-31/distribution/([^/]+)/invalidation/([^/]+)", ("GET", cf_get)),
    (r"/ccu/v3/invalidate/(url|tag)/([^/]+)", ("POST", akamai)),
    (r"/cms/onthedot", ("POST", cms)),
]
