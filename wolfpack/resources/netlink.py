"""pyroute2's ``IPRoute`` and ``NetlinkError``, without the rest of pyroute2.

pyroute2's package ``__init__`` imports every API it has (NDB with sqlite3, IPDB, IPVS,
WireGuard, nl80211, plan9, ...): about 220 modules and 12 MB resident, in every wolfpackd,
which needs only rtnetlink (links, addresses, routes). This module imports the two
submodules it needs under the package *not yet executed* (``module_from_spec`` without
``exec_module``): 143 modules and 6.5 MB (measured on this machine, issue 12's idle cost).
The package's own ``__init__`` still runs, in the same module object, the first time anyone
asks it for a name it has not got (``from pyroute2 import NetNS``, ``pyroute2.NDB``), so
code that wants all of pyroute2 (the lab) gets all of it.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any

__all__ = ["IPRoute", "NetlinkError"]

_lock = threading.RLock()


def _bare_package() -> None:
    """``pyroute2`` in sys.modules, its ``__init__`` deferred until a missing name is
    asked for (nothing done if pyroute2 is imported already)."""
    with _lock:
        if "pyroute2" in sys.modules:
            return
        spec = importlib.util.find_spec("pyroute2")
        if spec is None or spec.loader is None:
            raise ImportError("pyroute2 is not installed")
        package = importlib.util.module_from_spec(spec)
        loader = spec.loader
        state = {"done": False}

        def complete(name: str) -> Any:
            if not state["done"] and importlib.util.find_spec(f"pyroute2.{name}") is not None:
                return importlib.import_module(f"pyroute2.{name}")  # a submodule: no more
            with _lock:
                if not state["done"]:
                    state["done"] = True
                    del package.__getattr__  # the real __init__ defines what it defines
                    loader.exec_module(package)
            try:
                return package.__dict__[name]
            except KeyError:
                raise AttributeError(f"module 'pyroute2' has no attribute {name!r}") from None

        package.__getattr__ = complete  # type: ignore[method-assign]  # PEP 562
        sys.modules["pyroute2"] = package


_bare_package()

from pyroute2.iproute.linux import IPRoute  # type: ignore[import-untyped, unused-ignore]  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped, unused-ignore]  # noqa: E402
