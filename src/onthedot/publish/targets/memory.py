"""``memory://NAME``: an in-memory target for tests (like httpx's MockTransport).

Targets built from the same ``memory://NAME`` share one store, so a test can build the target from
a URL (as the publisher does) and look inside with ``MemoryTarget.store(NAME)``. ``fail`` makes the
next call of a method raise: ``target.fail["flip"] = TargetUnreachable("...")``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from onthedot.adapters import AdapterURL
from onthedot.errors import TargetError
from onthedot.publish.targets.base import Staged, StagedMissing, Target


@dataclass
class MemoryStore:
    files: dict[str, bytes] = field(default_factory=dict)  # path or staged location -> bytes
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) in order


class MemoryTarget(Target):
    """memory://NAME"""

    scheme: ClassVar[str] = "memory"
    title: ClassVar[str] = "in-memory target"
    _stores: ClassVar[dict[str, MemoryStore]] = {}

    def __init__(self, url: AdapterURL | str = "memory://default") -> None:
        super().__init__(url)
        self.name = self.parsed.host or "default"
        self.fail: dict[str, TargetError] = {}

    @classmethod
    def store(cls, name: str = "default") -> MemoryStore:
        return cls._stores.setdefault(name, MemoryStore())

    def _call(self, method: str, path: str) -> MemoryStore:
        store = self.store(self.name)
        store.calls.append((method, path))
        if method in self.fail:
            raise self.fail.pop(method)
        return store

    async def _upload(self, staged: Staged, local_file: Path) -> None:
        location = staged.location
        self._call("stage", location).files[location] = local_file.read_bytes()

    async def _move(self, location: str, path: str) -> None:
        store = self._call("flip", path)
        if location not in store.files:
            raise StagedMissing(location)
        store.files[path] = store.files.pop(location)

    async def _remove(self, location: str) -> None:
        self._call("discard", location).files.pop(location, None)

    async def read_staged(self, staged: Staged) -> AsyncIterator[bytes]:
        data = self._call("read_staged", staged.location).files.get(staged.location)
        if data is None:
            raise TargetError(f"The staged copy of {staged.path} is not in {self.url()}.")
        yield data

    async def _read_sha256(self, path: str) -> str | None:
        data = self._call("fetch_sha256", path).files.get(path)
        return None if data is None else hashlib.sha256(data).hexdigest()
