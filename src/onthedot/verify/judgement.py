"""The one judgement of what a vantage point got at one URL: the server's sweeps and the agents'.

``judge`` is called by the verifier for each edge response and by every remote agent for each of
its own, with whatever each could fetch, so a URL seen the same way gets the same status, sentence
and expected version wherever it was seen from. ``linked_file`` says which linked files are judged
at all: the verifier and the agents look for them, and the agents API takes results only for them
(and the release's own URLs).

What the new version of a URL is (the reference):

* a listed artefact: its file (SHA-256), or for a CMS page its ``expect_text``;
* a file a release's page links to, of which no copy is held: the copy the origin web server
  serves, when it was fetched and answered 2xx — that is the file as uploaded; failing that, the
  public URL with a cache-busting query, when it answered 2xx — what the site hands out behind its
  caches (a remote agent sees only the public address, so it always has only this); failing both,
  nobody can vouch for the file and it is not judged. The origin comes first because a cache that
  leaves the query out of its key (a common CDN setting) answers the cache-busted URL with the
  very copy under suspicion, which would make a stale file look live.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from urllib.parse import urlsplit

from onthedot.model import CheckResult
from onthedot.verify.caches import CacheModel
from onthedot.verify.diagnose import LINKED_SUFFIXES, diagnose
from onthedot.verify.probe import ProbeResponse

PAGE_KEEP_BYTES = 2_000_000
"""How much of a page is kept: enough to find the files it links to."""
FILE_KEEP_BYTES = 16_384
"""How much of a file's answer is kept: enough to see that it is a "not found" page served with
200 (a soft 404, judged ``missing`` as a 404 is), whose title comes first."""


def body_to_keep(expect_text: str | None) -> int:
    """How many bytes of an edge's answer to keep for judging it: a page's (``expect_text``) or
    a file's, for every sweep and every agent alike."""
    return PAGE_KEEP_BYTES if expect_text else FILE_KEEP_BYTES


def judge(
    edge: ProbeResponse,
    *,
    origin: ProbeResponse | None = None,
    busted: ProbeResponse | None = None,
    expected_sha256: str | None,
    expect_text: str | None,
    release_at: dt.datetime,
    now: dt.datetime,
    vantage: str,
    models: Mapping[str, CacheModel] | None = None,
) -> CheckResult | None:
    """The result for ``edge`` (the public URL as ``vantage`` got it), judged against the
    artefact's ``expected_sha256`` or ``expect_text``, or for a linked file (neither given)
    against the reference copy among ``origin`` and ``busted`` (see the module doc); None when a
    linked file has no reference."""
    expected = expected_sha256
    if expected is None and expect_text is None:
        expected = reference_sha256(origin, busted)
        if expected is None:
            return None
    verdict = diagnose(
        edge,
        origin=origin,
        origin_busted=busted,
        expected_sha256=expected,
        expect_text=expect_text,
        release_at=release_at,
        now=now,
        models=models,
    )
    layer = verdict.layer
    return CheckResult.judged(
        url=edge.request.url,
        status=verdict.status,
        served_sha256=edge.sha256,
        expected_sha256=expected,
        diagnosis=verdict.sentence,
        cache=verdict.cache,
        vantage=vantage,
        checked_at=now,
        http_status=edge.http_status,
        layer=layer if layer == "cache" or layer == "origin" else None,
        timings=dict(edge.timings),
    )


def reference_sha256(origin: ProbeResponse | None, busted: ProbeResponse | None) -> str | None:
    """The SHA-256 of a linked file's new version: the origin's copy, else the cache-busted one,
    whichever first answered 2xx (see the module doc); None when neither did."""
    for copy in (origin, busted):
        if copy is not None and copy.ok:
            return copy.sha256
    return None


def linked_file(url: str, public: str) -> bool:
    """``url`` is a file (.xlsx, .ods, .csv, .pdf, ...) under the site's public address ``public``:
    what a page's links may add to what is judged."""
    return url.startswith(public.rstrip("/") + "/") and urlsplit(url).path.lower().endswith(
        LINKED_SUFFIXES
    )
