"""The editors' web UI: server-rendered Jinja2 pages with htmx, served under / by the API.

Pages call the same `pool_core` services as the API (never the API over HTTP), so the web
shows exactly what the API would answer to the same user.
"""
