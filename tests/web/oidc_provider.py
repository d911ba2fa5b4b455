"""A small OpenID Connect provider for tests, served by the test on 127.0.0.1 (``serve``).

Discovery document, ``/authorize`` (signs in ``Provider.user`` at once: no login page, and sends
the browser back with a code), ``/token`` (checks the client's secret, the redirect address and
the PKCE verifier; answers an ID token signed RS256 by ``key``, with the nonce it was given) and
``/jwks``. ``signing_key`` may be set to another key to send a forged token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "onthedot-test"
CLIENT_SECRET = "a-client-secret-for-tests"


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class Provider:
    base: str = ""
    user: dict[str, Any] = field(default_factory=dict)
    key: RSAKey = field(default_factory=lambda: rsa_key("test-1"))
    signing_key: RSAKey | None = None  # another key: a forged ID token
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()
        app.get("/.well-known/openid-configuration")(self.discovery)
        app.get("/authorize")(self.authorize)
        app.post("/token")(self.token)
        app.get("/jwks")(self.jwks)
        return app

    async def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.base,
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/token",
            "jwks_uri": f"{self.base}/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {k: q.get(k, "") for k in ("redirect_uri", "nonce", "code_challenge")}
        back = urlencode({"code": code, "state": q.get("state", "")})
        return RedirectResponse(f"{q['redirect_uri']}?{back}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        given = self.codes.pop(form.get("code", ""), None)
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        why = (
            "unknown code"
            if given is None
            else "client"
            if request.headers.get("authorization") != f"Basic {basic}"
            else "redirect"
            if form.get("redirect_uri") != given["redirect_uri"]
            else "pkce"
            if challenge.decode() != given["code_challenge"]
            else ""
        )
        if why or given is None:
            self.refused.append(why)
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {"iss": self.base, "aud": CLIENT_ID, "iat": now, "exp": now + 300}
        claims |= {"nonce": given["nonce"], **self.user}
        key = self.signing_key or self.key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return JSONResponse({"access_token": "at", "token_type": "Bearer", "id_token": id_token})

    async def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.key]).as_dict(private=False))
