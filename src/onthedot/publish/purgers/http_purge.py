"""``http-purge://127.0.0.1:8080``: the generic ``PURGE <path>`` method (nginx proxy_cache_purge,
Squid with ``acl PURGE method PURGE``, Apache Traffic Server, Varnish with a minimal VCL).

One ``PURGE`` per public URL, sent to the cache's address with the public site's ``Host`` header.
``http-purge+https://`` speaks TLS to the cache. Only URLs can be purged this way.
"""

from __future__ import annotations

from typing import ClassVar

from onthedot.publish.purgers.base import PurgeRequest
from onthedot.publish.purgers.varnish import VarnishPurger


class HTTPPurgePurger(VarnishPurger):
    """http-purge://127.0.0.1:8080"""

    scheme: ClassVar[str] = "http-purge"
    title: ClassVar[str] = "HTTP PURGE"
    docs: ClassVar[str] = (
        "https://wiki.squid-cache.org/SquidFaq/OperatingSquid#how-can-i-purge-an-object-from-my-cache"
    )
    supports: ClassVar[frozenset[str]] = frozenset({"urls"})

    def requests(self, urls: list[str], prefixes: list[str], tags: list[str]) -> list[PurgeRequest]:
        return [self._purge(url) for url in urls]


class HTTPSPurgePurger(HTTPPurgePurger):
    """http-purge+https://cache.internal:8443"""

    scheme: ClassVar[str] = "http-purge+https"
    tls: ClassVar[bool] = True
