"""Caches: what a response says of them, and how each product keeps a response.

``info.recognise(headers)`` reads which cache answered, whether it was a hit and how old the copy
is (``CacheInfo``; ``headers`` and ``vendors`` are its parsing and product guesses). One small
module per product models how that product keeps a response, with one registry here:
``model_for("varnish")`` gives the default model; pass ``models={"varnish": Varnish(default_ttl=3600,
configured=True)}`` where a site's configuration is known.
"""

from __future__ import annotations

from collections.abc import Mapping

from onthedot.verify.caches.ats import TrafficServer
from onthedot.verify.caches.base import BrowserCache, CacheModel, Grace, Lifetime, Source
from onthedot.verify.caches.cdn import Akamai, Cloudflare, CloudFront, Fastly
from onthedot.verify.caches.nginx import Nginx
from onthedot.verify.caches.squid import RefreshPattern, Squid
from onthedot.verify.caches.varnish import Varnish

__all__ = [
    "MODELS",
    "Akamai",
    "BrowserCache",
    "CacheModel",
    "CloudFront",
    "Cloudflare",
    "Fastly",
    "Grace",
    "Lifetime",
    "Nginx",
    "RefreshPattern",
    "Source",
    "Squid",
    "TrafficServer",
    "Varnish",
    "model_for",
]

MODELS: Mapping[str, CacheModel] = {
    "varnish": Varnish(),
    "nginx": Nginx(),
    "squid": Squid(),
    "ats": TrafficServer(),
    "cloudflare": Cloudflare(),
    "fastly": Fastly(),
    "cloudfront": CloudFront(),
    "akamai": Akamai(),
}


def model_for(product: str | None, models: Mapping[str, CacheModel] | None = None) -> CacheModel:
    """The model for ``product`` (site overrides first); a generic RFC 9111 cache when unknown."""
    if product is None:
        return CacheModel()
    if models and product in models:
        return models[product]
    return MODELS.get(product, CacheModel())
