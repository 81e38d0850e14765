"""The web dashboard, served by the hub: pages, their data endpoints and the public register.

The routers live in :mod:`~citytally.hub.dashboard.routes`, :mod:`~citytally.hub.dashboard.incidents` and
:mod:`~citytally.hub.dashboard.pages`; :func:`citytally.hub.web.create_app` includes them in the hub's app.
:mod:`~citytally.hub.dashboard.server` builds the front end (npm) and serves a hub app on a local port.
"""
