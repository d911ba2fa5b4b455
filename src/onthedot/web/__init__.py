"""The web app: JSON API, Prometheus metrics, remote-agent endpoints, GOV.UK Frontend dashboard.

``from onthedot.web.app import create_app``; ``python -m onthedot.web.assets build`` builds the
GOV.UK Frontend assets (from npm, never committed).
"""
