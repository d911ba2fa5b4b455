"""Real servers on loopback for the demo, the tests and the benchmarks.

nginx (an origin), Varnish (a cache in front of it), vsftpd (an FTP server to publish to) and an
SMTP sink, each a subprocess (or, for mail, a thread) on 127.0.0.1 with free ports and its own
temporary folder, stopped with everything it started. One module per server; ``base`` is what they
share. ``onthedot demo`` runs the 2019 incident on them; ``tests/servers`` re-exports them.
"""
