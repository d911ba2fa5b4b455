"""Single sign-on against a small OpenID Connect provider run by the test on 127.0.0.1: real
redirects between two servers (httpx following them as a browser does), a real token exchange
and a signed ID token."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from onthedot.config import Config, load_config
from onthedot.errors import ReleaseFileError
from onthedot.settings import OidcSettings
from onthedot.web.app import create_app
from tests.web.conftest import GDP, FixedClock
from tests.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, rsa_key
from tests.web.serve import serve

pytestmark = pytest.mark.services
STATS = {"sub": "u-1", "email": "jane@example.org", "groups": ["everyone", "stats-team"]}


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    made = Provider(user=dict(STATS))
    async with serve(made.app()) as base:
        made.base = base
        yield made


@pytest.fixture
async def onthedot(
    provider: Provider, store: AsyncEngine, clock: FixedClock
) -> AsyncIterator[httpx.AsyncClient]:
    oidc = OidcSettings.model_validate(
        {
            "issuer": provider.base,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "roles": {"hop-team": "head-of-profession", "stats-team": "statistician"},
        }
    )
    app = create_app(store, config=Config(oidc=oidc), clock=clock)
    async with serve(app) as base, httpx.AsyncClient(base_url=base, follow_redirects=True) as c:
        yield c


async def test_a_person_signs_in_through_their_organisation_with_the_role_of_their_group(
    onthedot: httpx.AsyncClient, provider: Provider
) -> None:
    page = await onthedot.get("/sign-in")
    assert 'href="/sign-in/oidc"' in page.text
    landed = await onthedot.get("/sign-in/oidc")
    hops = [str(r.url).split("?")[0] for r in landed.history]
    assert hops == [f"{onthedot.base_url}/sign-in/oidc", f"{provider.base}/authorize"]
    assert landed.url.path == "/sign-in/oidc/callback" and landed.status_code == 200
    assert 'http-equiv="refresh" content="0;url=/"' in landed.text
    assert "jane@example.org</strong> (statistician)" in landed.text
    assert "onthedot_sso" not in onthedot.cookies and "onthedot_session" in onthedot.cookies
    detail = await onthedot.get(f"/releases/{GDP.id}")
    assert "Signed in: jane@example.org" in detail.text and "gdp-itl-regions.xlsx" in detail.text
    assert provider.refused == []


async def test_someone_whose_group_has_no_role_is_not_signed_in(
    onthedot: httpx.AsyncClient, provider: Provider
) -> None:
    provider.user = {"sub": "u-2", "email": "visitor@example.org", "groups": "guests"}
    refused = await onthedot.get("/sign-in/oidc")
    assert refused.status_code == 403 and "onthedot_session" not in onthedot.cookies
    assert "visitor@example.org has no role in onthedot: ask onthedot's administrator" in (
        html.unescape(refused.text)
    )


async def test_a_forged_id_token_or_a_foreign_answer_is_refused(
    onthedot: httpx.AsyncClient, provider: Provider
) -> None:
    provider.signing_key = rsa_key("test-1")  # the same key id, another key
    forged = await onthedot.get("/sign-in/oidc")
    assert forged.status_code == 403
    assert "Single sign-on did not work (its ID token could not be checked" in forged.text
    provider.signing_key = None
    first = await onthedot.get("/sign-in/oidc", follow_redirects=False)
    to_provider = await onthedot.get(first.headers["location"], follow_redirects=False)
    back = httpx.URL(to_provider.headers["location"])
    other = back.copy_set_param("state", "someone-elses-state")
    foreign = await onthedot.get(str(other))
    assert foreign.status_code == 403
    assert "the answer does not belong to this browser" in foreign.text
    assert "onthedot_session" not in onthedot.cookies


def test_the_client_secret_is_masked_wherever_the_settings_are_shown(tmp_path: Path) -> None:
    path = tmp_path / "onthedot.toml"
    path.write_text(
        '[oidc]\nissuer = "https://login.example.org/tenant/v2.0"\nclient_id = "onthedot"\n'
        f'client_secret = "{CLIENT_SECRET}"\nroles = {{stats = "statistician"}}\n',
        encoding="utf-8",
    )
    oidc = load_config(path).oidc
    assert oidc.client_secret.get_secret_value() == CLIENT_SECRET
    for shown in (repr(oidc), str(oidc.model_dump()), str(oidc.model_dump(mode="json"))):
        assert CLIENT_SECRET not in shown
    path.write_text('[oidc]\nissuer = "http://login.example.org"\nroles = {a = "boss"}\n')
    with pytest.raises(ReleaseFileError) as refused:
        load_config(path)
    assert f"{path}:2: oidc.issuer: " in str(refused.value)
    assert "boss is not a role: use one of viewer, statistician" in str(refused.value)
