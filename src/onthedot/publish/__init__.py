"""Publish: stage artefacts under embargo before T, go live at T with atomic flips, then purge caches.

The tools the release morning (``onthedot.morning``) uses: ``staging`` (upload hidden, flip into
place), ``purging`` (every purger, every attempt recorded), ``steps`` (what a run finished),
``lease`` (one publisher per release); ``statement`` puts the statement about a breach on the site.

``targets/`` holds one file per publish target (``file://``, ``ftp://``, ``ftps://``, ``sftp://``,
``s3://``, ``webhook+https://``) and ``purgers/`` one file per cache purger (``varnish://``,
``http-purge://``, ``fastly://``, ``cloudflare://``, ``cloudfront://``, ``akamai://``). Both are
reached only through ``onthedot.adapters.create("target" | "purger", url)``.
"""
