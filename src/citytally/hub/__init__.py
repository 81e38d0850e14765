"""The hub: the city's central data bank (ingest, store, roll-ups, API, access, audit, retention).

It receives events only (:mod:`citytally.hub.ingest` from the broker, or the in-process bus of
:mod:`citytally.hub.embedded`), never a frame or a track id. :mod:`~citytally.hub.store` keeps them,
:mod:`~citytally.hub.web` serves the API (:mod:`~citytally.hub.api`) and the dashboard
(:mod:`~citytally.hub.dashboard`), :mod:`~citytally.hub.access` and :mod:`~citytally.hub.audit` decide and
record who read what.
"""
