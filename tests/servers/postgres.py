"""PostgreSQL for tests and benchmarks: a throwaway database on the machine's server, or a private
cluster of one's own (``initdb`` + ``postgres`` from /usr/lib/postgresql/*/bin, trust auth, on a
free port in a temp dir) that a chaos test may stop and start again — never the shared server."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.servers.base import ServerProcess, ServerStartError, kill_tree

PG_ADMIN = os.environ.get("ONTHEDOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
USER = "postgres"  # the server refuses to run as root: it runs as this account


@contextmanager
def throwaway_database(admin: str = PG_ADMIN) -> Iterator[str]:
    """A new database on the server of ``admin`` (a URL), dropped afterwards; its URL."""
    name = f"onthedot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


class PostgresCluster(ServerProcess):
    """``postgres -D <dir>/data`` on 127.0.0.1:port; ``url`` is its ``postgres`` database.
    ``halt()`` stops the server (every connection dropped), ``resume()`` starts it again on the
    same port and data."""

    name = "postgres"
    binary = _binary("postgres") or "postgres"
    apt_package = "postgresql"
    start_timeout = 30.0

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@{self.host}:{self.port}/postgres"

    def _prepare(self) -> None:
        initdb = _binary("initdb")
        if initdb is None:
            raise ServerStartError("initdb is not installed: apt-get install postgresql")
        shutil.chown(self.dir, USER)
        made = subprocess.run(
            ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", initdb,
             "-D", str(self.dir / "data"), "-U", USER, "--auth=trust", "--no-sync"],
            capture_output=True, text=True, cwd=self.dir,
        )  # fmt: skip
        if made.returncode:
            raise ServerStartError(f"initdb failed: {made.stderr.strip()[-2000:]}")

    def _command(self) -> list[str]:
        return [
            "setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", self.binary,
            "-D", str(self.dir / "data"), "-p", str(self.port), "-k", str(self.dir),
            "-c", f"listen_addresses={self.host}", "-c", "fsync=off",
        ]  # fmt: skip

    def _ready(self) -> bool:
        try:
            psycopg.connect(self.url, connect_timeout=1).close()
        except psycopg.OperationalError:
            return False
        return True

    def halt(self) -> None:
        """Stop the server now (a fast shutdown: every session is ended)."""
        if self._proc is not None:
            kill_tree(self._proc, self.stop_grace, signal.SIGINT)
            self._proc = None

    def resume(self) -> None:
        """Start it again on the same port and data; wait until it answers."""
        with (self.dir / "console.log").open("ab") as console:
            self._proc = subprocess.Popen(
                self._command(), cwd=self.dir, stdin=subprocess.DEVNULL, stdout=console,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while not self._ready():
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise ServerStartError(self._failure("did not start again"))
            time.sleep(0.05)
