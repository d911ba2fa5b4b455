"""moto's S3 API server (``moto_server``) on 127.0.0.1, in-memory, any credentials accepted."""

from __future__ import annotations

import shutil
import sys
import urllib.request
from pathlib import Path

from tests.servers.base import ServerProcess, tcp_ready

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


def _moto_command() -> list[str]:
    beside = Path(sys.executable).with_name("moto_server")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("moto_server")
    return [found] if found else [sys.executable, "-m", "moto.server"]


class MotoS3(ServerProcess):
    """``moto_server`` on 127.0.0.1:port; ``endpoint_url`` for aiobotocore/boto3."""

    name = "moto"
    binary = "moto_server"
    apt_package = "python package moto[server] (pip install 'moto[server]')"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, bucket: str, prefix: str = "") -> str:
        """``s3://bucket/prefix`` for a release's target (endpoint given separately)."""
        return f"s3://{bucket}/{prefix.lstrip('/')}"

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``session.create_client("s3", **kwargs)``."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": REGION,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
        }

    def _command(self) -> list[str]:
        return [*_moto_command(), "-H", self.host, "-p", str(self.port)]

    def _env(self) -> dict[str, str]:
        env = super()._env()
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
            MOTO_ALLOW_NONEXISTENT_REGION="true",
        )
        return env

    def _ready(self) -> bool:
        return tcp_ready(self.port) and self._request("GET", "/moto-api/data.json") == 200

    def _request(self, method: str, path: str) -> int:
        request = urllib.request.Request(self.endpoint_url + path, method=method, data=b"")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except OSError:
            return 0

    def create_bucket(self, name: str) -> str:
        """Create a bucket (idempotent in us-east-1) and return its name."""
        status = self._request("PUT", f"/{name}")
        if status != 200:
            raise RuntimeError(f"moto could not create bucket {name!r} (HTTP {status})")
        return name

    def reset(self) -> None:
        """Forget every bucket and object (cheap; lets tests share one server)."""
        if self._request("POST", "/moto-api/reset") != 200:
            raise RuntimeError("moto did not accept /moto-api/reset")
