"""``memory://NAME``: an in-memory purger for tests; it records what it was asked to purge.

Purgers built from the same ``memory://NAME`` share one log (``MemoryPurger.log(NAME)``).
``?fail=N`` makes the first N requests answer 503 (then succeed), ``?fail=always`` never succeeds.
"""

from __future__ import annotations

from typing import ClassVar

from onthedot.adapters import AdapterURL
from onthedot.publish.purgers.base import Outcome, Purger, PurgeRequest, RetryPolicy


class MemoryPurger(Purger):
    """memory://NAME"""

    scheme: ClassVar[str] = "memory"
    title: ClassVar[str] = "in-memory purger"
    supports: ClassVar[frozenset[str]] = frozenset({"urls", "prefixes", "tags"})
    _logs: ClassVar[dict[str, list[str]]] = {}

    def __init__(
        self, url: AdapterURL | str = "memory://default", *, retry: RetryPolicy | None = None
    ) -> None:
        super().__init__(
            url,
            retry=retry or RetryPolicy(wait_initial=0.0, wait_max=0.0, wait_jitter=0.0, attempts=3),
        )
        self.name = self.parsed.host or "default"
        fail = self.parsed.query.get("fail", "0")
        self._failures = -1 if fail == "always" else int(fail)

    @classmethod
    def log(cls, name: str = "default") -> list[str]:
        return cls._logs.setdefault(name, [])

    def requests(self, urls: list[str], prefixes: list[str], tags: list[str]) -> list[PurgeRequest]:
        items = [f"url {u}" for u in urls] + [f"prefix {p}" for p in prefixes]
        items += [f"tag {t}" for t in tags]
        return [self._request(item) for item in items]

    def _request(self, item: str) -> PurgeRequest:
        async def send() -> Outcome:
            if self._failures != 0:
                self._failures -= 1 if self._failures > 0 else 0
                return Outcome(503, False, "503 fake failure", retry=True)
            self.log(self.name).append(item)
            return Outcome(200, True, "200 purged")

        return PurgeRequest(f"PURGE {item}", send)
