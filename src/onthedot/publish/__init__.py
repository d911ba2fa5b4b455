"""Publish: stage artefacts under embargo before T, go live at T with atomic flips, then purge caches.

``targets/`` holds one file per publish target (``file://``, ``ftp://``, ``ftps://``, ``sftp://``,
``s3://``, ``webhook+https://``) and ``purgers/`` one file per cache purger (``varnish://``,
``http-purge://``, ``fastly://``, ``cloudflare://``, ``cloudfront://``, ``akamai://``). Both are
reached only through ``onthedot.adapters.create("target" | "purger", url)``.
"""
