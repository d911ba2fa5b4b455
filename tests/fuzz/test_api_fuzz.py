"""The HTTP API, fuzzed from its own OpenAPI schema (schemathesis, in-process over ASGI): whatever
a client sends to any operation, the app never answers 5xx and every answer conforms to the schema
it publishes (content type, body, headers). The app is ``create_app`` over a SQLite store holding
the web tests' two releases, their results and timelines; requests come with an agent's token and
without. Deterministic (``derandomize``) and bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from onthedot.config import Config
from onthedot.store.db import create_engine, open_store
from onthedot.web.app import create_app
from onthedot.web.assets import VENDOR
from tests.web.conftest import TOKENS, fill

CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
AGENT = {"Authorization": f"Bearer {next(iter(TOKENS))}"}


async def _filled(url: str) -> None:
    engine = await open_store(url)
    try:
        await fill(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'onthedot.db'}"
    asyncio.run(_filled(url))
    # each request is served in an event loop of its own, so no connection is kept between them
    engine = create_engine(url, pooled=False)
    app = create_app(engine, config=Config(), agent_tokens=TOKENS, vendor=VENDOR)
    yield schemathesis.openapi.from_asgi("/api/openapi.json", app)


FUZZ = settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("headers", [AGENT, {}], ids=["agent", "anonymous"])
def test_no_request_makes_the_api_fail_or_break_its_schema(
    api_schema: Any, headers: dict[str, str]
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5  # the schema was read: every operation is fuzzed
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def each(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        each()
