"""Fixtures for the adapter tests: one ``TargetEnv`` per target kind on real servers, mounts."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.publish.fake_cdn import CMS_SECRET, Fake
from tests.servers.base import ServerProcess
from tests.servers.moto import MotoS3
from tests.servers.ports import free_port, release_port

TARGET_KINDS = ["memory", "file", "ftp", "ftps", "sftp", "s3", "webhook"]


@dataclass
class TargetEnv:
    """How to reach one kind of target in a test, and where its files land on disk (if known)."""

    kind: str
    url: str
    wrong_credentials: str | None  # the same target with a wrong secret (None: not applicable)
    unreachable: str  # the same kind of target on a closed port
    disk: Path | None = None  # directory that an artefact path is appended to on this machine
    server: ServerProcess | None = None
    secrets: list[str] = field(default_factory=list)  # values that must never be printed


@pytest.fixture
def closed_port() -> Iterator[int]:
    port = free_port()  # reserved, nothing listens on it
    yield port
    release_port(port)


@pytest.fixture
async def fake() -> AsyncIterator[Fake]:
    server = await Fake().start()
    yield server
    await server.stop()


def artefact(directory: Path, size: int = 20_000, name: str = "fatalquarterly.xlsx") -> tuple[Path, str]:
    """A local artefact file of ``size`` pseudo-random bytes and its SHA-256."""
    data = hashlib.sha256(name.encode()).digest() * (size // 32 + 1)
    file = directory / name
    file.write_bytes(data[:size])
    return file, hashlib.sha256(data[:size]).hexdigest()


@contextlib.contextmanager
def mounted(args: list[str], where: Path) -> Iterator[Path]:
    """Mount something on ``where`` for the test (skip when mounting is not permitted)."""
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip()}): needs root with CAP_SYS_ADMIN")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """Make ``directory`` read-only even for root: a read-only bind mount over itself."""
    with mounted(["--bind", str(directory)], directory):
        result = subprocess.run(["mount", "-o", "remount,ro,bind", str(directory)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot remount read-only: {result.stderr.strip()}")
        yield directory


def _ftp_env(kind: str, request: pytest.FixtureRequest, closed: int) -> TargetEnv:
    server = request.getfixturevalue("ftps_server" if kind == "ftps" else "ftp_server")
    tail = f"?ca={server.cert_path}" if kind == "ftps" else ""
    good = server.url + tail
    wrong = good.replace(f":{server.password}@", ":wrong-password@")
    return TargetEnv(kind, good, wrong, f"{kind}://u:p@127.0.0.1:{closed}/{tail}",
                     disk=server.root, server=server, secrets=[server.password])


def _sftp_env(request: pytest.FixtureRequest, closed: int) -> TargetEnv:
    server = request.getfixturevalue("sftp_server")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("ONTHEDOT_TEST_SFTP_PASSWORD", server.password)
    monkeypatch.setenv("ONTHEDOT_TEST_SFTP_WRONG", "not-the-password")
    query = f"?known_hosts={server.known_hosts}"
    good = server.url + query + "&password_env=ONTHEDOT_TEST_SFTP_PASSWORD"
    wrong = server.url + query + "&password_env=ONTHEDOT_TEST_SFTP_WRONG"
    unreachable = f"sftp://{server.user}:x@127.0.0.1:{closed}/srv{query}&timeout=5"
    return TargetEnv("sftp", good, wrong, unreachable, disk=server.root, server=server,
                     secrets=[server.password])


def _s3_env(request: pytest.FixtureRequest, closed: int) -> TargetEnv:
    server: MotoS3 = request.getfixturevalue("s3_server")
    server.create_bucket("statistics")
    good = f"s3://testing:testing@statistics/www?endpoint={server.endpoint_url}"
    unreachable = f"s3://testing:testing@statistics/www?endpoint=http://127.0.0.1:{closed}&timeout=2"
    return TargetEnv("s3", good, None, unreachable, server=server)


def _webhook_env(request: pytest.FixtureRequest, closed: int) -> TargetEnv:
    fake: Fake = request.getfixturevalue("fake")
    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("ONTHEDOT_TEST_CMS_SECRET", CMS_SECRET)
    monkeypatch.setenv("ONTHEDOT_TEST_CMS_WRONG", "wrong-secret-value")
    base = f"webhook+http://{fake.url.split('://', 1)[1]}/cms/onthedot"
    return TargetEnv("webhook", base + "?secret_env=ONTHEDOT_TEST_CMS_SECRET",
                     base + "?secret_env=ONTHEDOT_TEST_CMS_WRONG",
                     f"webhook+http://127.0.0.1:{closed}/cms?secret=abc123&timeout=3",
                     secrets=[CMS_SECRET])


@pytest.fixture
def target_env(request: pytest.FixtureRequest, tmp_path: Path, closed_port: int) -> TargetEnv:
    kind: str = request.param
    builders: dict[str, Callable[[], TargetEnv]] = {
        "memory": lambda: TargetEnv("memory", f"memory://{tmp_path.name}", None, "memory://x"),
        "file": lambda: TargetEnv("file", f"file://{tmp_path / 'www'}", None,
                                  f"file://{tmp_path / 'no-such-root'}", disk=tmp_path / "www"),
        "ftp": lambda: _ftp_env("ftp", request, closed_port),
        "ftps": lambda: _ftp_env("ftps", request, closed_port),
        "sftp": lambda: _sftp_env(request, closed_port),
        "s3": lambda: _s3_env(request, closed_port),
        "webhook": lambda: _webhook_env(request, closed_port),
    }
    env = builders[kind]()
    if env.disk is not None:
        env.disk.mkdir(parents=True, exist_ok=True)
    return env
