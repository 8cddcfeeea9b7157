"""The REST API every wolfpackd serves (docs/api.md).

* :mod:`wolfpack.api.app` -- ``create_app``: the FastAPI application
* :mod:`wolfpack.api.cache` -- the cluster document, read once per store revision
* :mod:`wolfpack.api.feed` -- one store watch: invalidates the cache, feeds the SSE clients
* :mod:`wolfpack.api.auth`, :mod:`wolfpack.api.middleware` -- tokens, audit, metrics, limits
* :mod:`wolfpack.api.errors` -- the one mapping of the exception tree to error JSON
* :mod:`wolfpack.api.routes` -- the endpoints, one module per concern
* :mod:`wolfpack.api.server` -- uvicorn on a thread inside wolfpackd
"""
