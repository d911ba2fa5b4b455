"""``onthedot demo``: the 2019 incident replayed on this machine, then prevented.

``sandbox_site`` starts what a producer's website is made of (an nginx origin, a Varnish cache
keeping files an hour, an FTP server) on loopback; ``seed`` holds the release and what people did
that morning; ``replay`` the clock that makes the hour pass in seconds; ``acts`` runs the two acts;
``show`` prints them for people.
"""
