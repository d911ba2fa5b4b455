"""``cloudfront://DISTRIBUTION_ID``: Amazon CloudFront invalidations (aiobotocore, SigV4-signed).

One ``CreateInvalidation`` (``POST /2020-05-31/distribution/{id}/invalidation``, XML
``InvalidationBatch``) per 1,000 paths — URLs become their paths, prefixes ``/prefix*`` — then
``GetInvalidation`` is polled every ``?poll=`` seconds (default 10) until its status is
``Completed``, for at most ``?wait=`` seconds (default 900); every poll is recorded as an attempt.
The access key id is the URL user, the secret key its password (or any secret source); without
them the standard AWS credential chain is used. CloudFront has no tags.

``?endpoint=`` (onthedot.toml only) points at another API base, e.g. a local fake in the tests,
as the service cannot be reached from here: https, or http to this machine only; its secrets then
come only from the URL or ``?<field>_env=``, never the ones named after the URL's host, nor the
AWS credential chain (the URL needs its access key id).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from onthedot.adapters import AdapterURL
from onthedot.errors import AdapterURLError, PurgeError
from onthedot.publish.aws import AwsClient
from onthedot.publish.purgers.base import (
    Outcome,
    PurgeAttempt,
    Purger,
    PurgeRequest,
    RetryPolicy,
    classify,
)

BATCH = 1000


class CloudFrontPurger(Purger):
    """cloudfront://AKIA...@E2EXAMPLE?password_env=AWS_SECRET"""

    scheme: ClassVar[str] = "cloudfront"
    title: ClassVar[str] = "CloudFront"
    docs: ClassVar[str] = (
        "https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreateInvalidation.html"
    )
    required: ClassVar[tuple[str, ...]] = ("host",)
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    supports: ClassVar[frozenset[str]] = frozenset({"urls", "prefixes"})

    def __init__(self, url: AdapterURL | str, *, retry: RetryPolicy | None = None) -> None:
        super().__init__(url, retry=retry)
        if self.endpoint_override and not self.parsed.user:
            raise AdapterURLError(
                f"{self.url()} sends requests to its ?endpoint=: give it an access key id of its "
                "own (cloudfront://KEY_ID@DISTRIBUTION?password_env=VARIABLE) in onthedot.toml."
            )
        self.distribution = (self.parsed.host or "").upper()
        self.poll = self.seconds("poll", 10.0)
        self.wait = self.seconds("wait", 900.0)
        self._aws = AwsClient(
            self,
            "cloudfront",
            timeout=self.retry.timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        self._created: list[str] = []

    async def _cloudfront(self) -> Any:
        return await self._aws.get()

    async def aclose(self) -> None:
        await self._aws.aclose()

    async def purge(
        self, urls: Sequence[str], *, prefixes: Sequence[str] = (), tags: Sequence[str] = ()
    ) -> list[PurgeAttempt]:
        self._created = []
        attempts = await super().purge(urls, prefixes=prefixes, tags=tags)
        for invalidation in self._created:
            await self._until_completed(invalidation, attempts)
        return attempts

    def requests(self, urls: list[str], prefixes: list[str], tags: list[str]) -> list[PurgeRequest]:
        paths = [_path(u) for u in urls] + [_path(p).rstrip("*") + "*" for p in prefixes]
        paths = list(dict.fromkeys(paths))
        return [self._create(paths[i : i + BATCH]) for i in range(0, len(paths), BATCH)]

    def _create(self, paths: list[str]) -> PurgeRequest:
        async def send() -> Outcome:
            batch = {
                "Paths": {"Quantity": len(paths), "Items": paths},
                "CallerReference": f"onthedot-{secrets.token_hex(8)}",
            }
            response = await self._call("create_invalidation", InvalidationBatch=batch)
            if isinstance(response, Outcome):
                return response
            invalidation = response["Invalidation"]
            self._created.append(invalidation["Id"])
            status = response["ResponseMetadata"]["HTTPStatusCode"]
            return classify(
                status, f"{status} invalidation {invalidation['Id']} {invalidation['Status']}"
            )

        return PurgeRequest(f"CreateInvalidation {self.distribution} {' '.join(paths)[:200]}", send)

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        client = await self._cloudfront()
        try:
            return await getattr(client, operation)(DistributionId=self.distribution, **kwargs)
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) or None
            code = exc.response.get("Error", {}).get("Code", "")
            retry = (
                status is None
                or status >= 500
                or code in ("Throttling", "TooManyInvalidationsInProgress")
            )
            return Outcome(status, False, f"{status} {code}", retry=retry)
        except BotoCoreError as exc:
            return Outcome(None, False, f"no answer ({type(exc).__name__})", retry=True)

    async def _until_completed(self, invalidation: str, attempts: list[PurgeAttempt]) -> None:
        """Poll until the invalidation is completed; each poll is a try of its own (bounded by
        the retry policy's timeout, aiobotocore reading a reply whole; an error no purger
        expects, e.g. a reply that is not CloudFront's XML, ends the polling)."""
        deadline = time.monotonic() + self.wait

        async def poll() -> Outcome:
            response = await self._call("get_invalidation", Id=invalidation)
            if isinstance(response, Outcome):
                return response
            state = response["Invalidation"]["Status"]
            status = response["ResponseMetadata"]["HTTPStatusCode"]
            detail = f"{status} invalidation {invalidation} {state}"
            return Outcome(status, state == "Completed", detail, retry=True)

        request = PurgeRequest(f"GetInvalidation {self.distribution} {invalidation}", poll)
        while True:
            outcome = await self._try(request, attempts)
            if outcome.ok:
                return
            if outcome.crashed:
                raise PurgeError(
                    f"CloudFront invalidation {invalidation} on {self.url()} could not be "
                    f"followed ({outcome.detail}): old copies may still be served; check it in "
                    "the AWS console.",
                    attempts,
                )
            if time.monotonic() + self.poll > deadline:
                raise PurgeError(
                    f"CloudFront invalidation {invalidation} on {self.url()} did not complete "
                    f"within {self.wait:g} s ({outcome.detail}): old copies may still be served; "
                    "check it in the AWS console.",
                    attempts,
                )
            await asyncio.sleep(self.poll)


def _path(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path if parts.scheme else url
    return (path or "/") + (f"?{parts.query}" if parts.query else "")
