"""Administration logic shared by the CLI and the REST API (no typer, no HTTP).

* :mod:`wolfpack.admin.objects` -- what every configuration noun shares: create, modify,
  delete in one validated transaction, and the JSON document of an object
* :mod:`wolfpack.admin.nouns` -- the nouns (nodes, groups, ...) with their details and
  delete guards
* :mod:`wolfpack.admin.requests` -- administrator requests (intents), with the checks
  that can be judged at once
* :mod:`wolfpack.admin.tokens`, :mod:`wolfpack.admin.audit` -- API tokens and the audit log
* :mod:`wolfpack.admin.events` -- store changes as events (the API's SSE, ``wolfpack events``)
"""
