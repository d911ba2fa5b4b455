"""``s3://BUCKET/prefix``: an S3 bucket, or any S3-compatible store with ``?endpoint=URL``.

S3 has no rename. Staging puts the object under a hidden, unguessable key beside the final key
(private: no ACL is given); the flip is one server-side CopyObject to the final key — atomic per
object: readers see the old object or the new one, never a part — then DeleteObject of the staged
key. With ``?staging=/staging``, staged objects wait under that key prefix instead (from the
bucket's root), which the bucket policy and the CDN must not serve. The access key id is the URL user and the secret key its password (or any secret source);
without them the standard AWS credential chain is used. Options: ``?endpoint=http://host:port``,
``?region=eu-west-2``, ``?acl=public-read`` (given to the final object), ``?timeout=30``.
Objects are uploaded in one PUT (up to 5 GB).
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
from pathlib import Path
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from onthedot.adapters import AdapterURL
from onthedot.errors import (
    TargetAuthError,
    TargetError,
    TargetPermissionError,
    TargetSpaceError,
    TargetUnreachable,
)
from onthedot.publish.aws import AwsClient
from onthedot.publish.targets.base import CHUNK, Staged, StagedMissing, Target

_AUTH = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Target(Target):
    """s3://statistics-bucket/www?region=eu-west-2"""

    scheme: ClassVar[str] = "s3"
    title: ClassVar[str] = "S3 bucket"
    docs: ClassVar[str] = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html"
    required: ClassVar[tuple[str, ...]] = ("host",)
    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    stages_outside: ClassVar[bool] = True

    def __init__(self, url: AdapterURL | str) -> None:
        super().__init__(url)
        self.bucket = self.parsed.host or ""
        self.prefix = self.parsed.path.strip("/")
        self._aws = AwsClient(
            self,
            "s3",
            timeout=self.seconds("timeout", 30.0),
            retries={"max_attempts": 2, "mode": "standard"},
        )

    @property
    def served_root(self) -> str:
        return "/" + self.prefix

    def _remote(self, path: str) -> str:
        return f"{self.prefix}/{path.lstrip('/')}" if self.prefix else path.lstrip("/")

    def _placed(self, location: str) -> str:
        return location.lstrip("/") if self.staging is not None else self._remote(location)

    async def _s3(self) -> Any:
        return await self._aws.get()

    async def aclose(self) -> None:
        await self._aws.aclose()

    async def _upload(self, staged: Staged, local_file: Path) -> None:
        location, size = staged.location, staged.size
        s3, key = await self._s3(), self._placed(location)
        body = await asyncio.to_thread(local_file.read_bytes)
        try:
            await s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, Metadata={"sha256": staged.sha256}
            )
            head = await s3.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError, OSError) as exc:
            await self._forget(key)
            raise self._convert(exc, f"uploading {location}") from exc
        if head.get("ContentLength") != size:
            await self._forget(key)
            raise self.size_mismatch(location, size, head.get("ContentLength"))

    async def _forget(self, key: str) -> None:
        try:
            await (await self._s3()).delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError, OSError):
            pass

    async def _move(self, location: str, path: str) -> None:
        s3, source, dest = await self._s3(), self._placed(location), self._remote(path)
        extra: dict[str, str] = {}
        if "acl" in self.parsed.query:
            extra["ACL"] = self.parsed.query["acl"]
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        try:
            await s3.copy_object(
                Bucket=self.bucket,
                Key=dest,
                CopySource={"Bucket": self.bucket, "Key": source},
                MetadataDirective="REPLACE",
                ContentType=content_type,
                **extra,
            )
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise StagedMissing(location) from exc
            raise self._convert(exc, f"copying {location} to {path}") from exc
        except (BotoCoreError, OSError) as exc:
            raise self._convert(exc, f"copying {location} to {path}") from exc
        await self._remove(location)

    async def _remove(self, location: str) -> None:
        try:
            await (await self._s3()).delete_object(Bucket=self.bucket, Key=self._placed(location))
        except (ClientError, BotoCoreError, OSError) as exc:
            raise self._convert(exc, f"removing {location}") from exc

    async def _read_sha256(self, path: str) -> str | None:
        s3, digest = await self._s3(), hashlib.sha256()
        try:
            response = await s3.get_object(Bucket=self.bucket, Key=self._remote(path))
            async with response["Body"] as body:
                while chunk := await body.read(CHUNK):
                    digest.update(chunk)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise self._convert(exc, f"reading {path}") from exc
        except (BotoCoreError, OSError) as exc:
            raise self._convert(exc, f"reading {path}") from exc
        return digest.hexdigest()

    def _convert(self, exc: Exception, doing: str) -> TargetError:
        where = f"the bucket {self.bucket}"
        if not isinstance(exc, ClientError):
            return TargetUnreachable(
                f"The S3 endpoint for {where} could not be reached while {doing} "
                f"({self.scrub(str(exc))}): check ?endpoint= and the network; nothing was published."
            )
        code, message = _code(exc), self.scrub(str(exc))
        if code in _AUTH:
            return TargetAuthError(
                f"S3 refused the credentials for {where} ({code}): check the access key id and "
                "secret key in [site] target or its secret."
            )
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            return TargetPermissionError(
                f"S3 refused {doing} in {where} ({code}): give the access key s3:PutObject, "
                "s3:GetObject and s3:DeleteObject on it."
            )
        if code == "NoSuchBucket":
            return TargetUnreachable(f"{where} does not exist ({code}): check [site] target.")
        if code in ("EntityTooLarge", "QuotaExceeded"):
            return TargetSpaceError(
                f"S3 refused {doing} in {where} ({code}): the object is too big."
            )
        return TargetError(f"S3 failed while {doing} in {where} ({message}).")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
