"""The hub's REST API (FastAPI): its routers, dependencies, request and response models and middleware.

The app that serves them, with the dashboard's routes, is assembled by :func:`citytally.hub.web.create_app`.
"""
