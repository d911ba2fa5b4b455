"""``onthedot demo``: the 2019 incident replayed on this machine, then prevented.

``website`` starts what a producer's website is made of (an nginx origin, a Varnish cache keeping
files an hour, an FTP server) on loopback, ``session`` the two websites and the mail sink of one
run; ``seed`` holds the release and what people did that morning; ``replay`` the clock that makes
the hour pass in seconds; ``folder`` the demo's settings and store; ``replayed`` (act 1) and
``prevented`` (act 2) play the acts, telling them through ``stage``; ``show`` prints them for
people with Rich.
"""
