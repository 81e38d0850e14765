"""The hub: the city's central data bank (ingest, store, roll-ups, API, access, audit, retention)."""
