"""One lazily opened aiobotocore client per adapter (the S3 target, the CloudFront purger).

Credentials come from the adapter's URL: the access key id is the URL's user and the secret key
its ``password`` secret (or any secret source); without a user the standard AWS credential chain
is used. ``?endpoint=`` and ``?region=`` pick the API; the client is opened on first use and
closed by ``aclose`` (after which it opens again when needed).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from onthedot.adapters import Adapter


class AwsClient:
    def __init__(
        self, adapter: Adapter, service: str, *, timeout: float, retries: dict[str, Any]
    ) -> None:
        self._adapter = adapter
        self._service = service
        self._config = AioConfig(connect_timeout=timeout, read_timeout=timeout, retries=retries)
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    async def get(self) -> Any:
        if self._client is None:
            url = self._adapter.parsed
            stack = AsyncExitStack()
            self._client = await stack.enter_async_context(
                get_session().create_client(
                    self._service,
                    endpoint_url=url.query.get("endpoint") or None,
                    region_name=url.query.get("region", "us-east-1"),
                    aws_access_key_id=url.user,
                    aws_secret_access_key=self._adapter.secret(
                        "password", required=url.user is not None
                    ),
                    config=self._config,
                )
            )
            self._stack = stack
        return self._client

    async def aclose(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self._client = None, None
