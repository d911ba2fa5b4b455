"""Which cache answered, and whether it was a hit, from each header a product sends on its own
(what a site behind a single CDN or proxy shows); and the small readings around it."""

from __future__ import annotations

import pytest

from onthedot.verify.caches import CacheModel, model_for
from onthedot.verify.caches.info import recognise
from onthedot.verify.judgement import linked_file

# (the only header(s) sent, product, hit)
ALONE: list[tuple[list[tuple[str, str]], str | None, bool | None]] = [
    ([("Server", "cloudflare")], "cloudflare", None),
    ([("CF-Cache-Status", "HIT")], "cloudflare", True),
    ([("Via", "1.1 edge (trafficserver/9.2 [cHs f ])")], "ats", True),
    ([("Via", "http/1.1 edge (ApacheTrafficServer/9.2 [uScMsSf pSeN:t cCMp sS])")], "ats", False),
    ([("Server", "ATS/9.2")], "ats", None),
    ([("Server", "squid/5.7")], "squid", None),
    ([("X-Cache-Lookup", "MISS from proxy:3128")], "squid", None),
    ([("Via", "1.1 proxy (squid/5.7)")], "squid", None),
    ([("Via", "1.1 varnish (Varnish/7.1)")], "varnish", None),
    ([("X-Proxy-Cache", "HIT")], "nginx", True),
    ([("X-Cache-Status", "MISS")], "nginx", False),
    ([("X-Amz-Cf-Pop", "LHR62-C1")], "cloudfront", None),
    ([("X-Cache", "Hit from cloudfront")], "cloudfront", True),
    ([("Via", "1.1 abc.cloudfront.net (CloudFront)")], "cloudfront", None),
    ([("Fastly-Debug-Digest", "abc")], "fastly", None),
    ([("X-Served-By", "cache-lhr7321-LHR")], "fastly", None),
    ([("Akamai-Cache-Status", "Hit from child")], "akamai", True),
    ([("X-Akamai-Request-Id", "1.2")], "akamai", None),
    ([("Server", "AkamaiGHost")], "akamai", None),
    ([("X-Cache", "TCP_MISS from a1-2.deploy.akamaitechnologies.com")], "akamai", False),
    ([("Cache-Status", "Fastly; hit")], "fastly", True),
    ([("X-Cache", ",")], None, None),
]


@pytest.mark.parametrize(("headers", "product", "hit"), ALONE)
def test_each_products_own_header_alone_names_it(
    headers: list[tuple[str, str]], product: str | None, hit: bool | None
) -> None:
    info = recognise(headers)
    assert (info.product, info.hit) == (product, hit)


def test_the_nearest_caches_hit_count() -> None:
    info = recognise([("X-Cache-Hits", "0, 3"), ("X-Varnish", "5 6")])
    assert (info.product, info.hit, info.hits) == ("varnish", True, 3)
    # the last of a chain of three caches (Fastly's shield, edge, ...), one count alone, none
    assert [recognise([("X-Cache-Hits", v)]).hits for v in ("0, 1, 7", "12", " 4 ", "x")] == [
        7,
        12,
        4,
        None,
    ]


def test_an_empty_quoted_directive_value_is_empty() -> None:
    assert recognise([("Cache-Control", 'no-cache=""')]).cache_control == {"no-cache": ""}


def test_an_unknown_product_is_a_generic_cache() -> None:
    assert model_for("other") == CacheModel()


@pytest.mark.parametrize(
    ("url", "public", "linked"),
    [
        ("https://www.hse.gov.uk/statistics/a.XLSX", "https://www.hse.gov.uk/", True),
        ("https://www.hse.gov.uk/statistics/a.htm", "https://www.hse.gov.uk", False),
        ("https://other.example.org/a.xlsx", "https://www.hse.gov.uk", False),
    ],
)
def test_a_linked_file_is_a_file_under_the_public_address(
    url: str, public: str, linked: bool
) -> None:
    assert linked_file(url, public) is linked
