"""Keep wolfpackd's resident memory small: at most two glibc malloc arenas, and what start-up
freed handed back to the system.

glibc gives each thread that allocates its own arena (up to 8 per core), and every arena
keeps freed memory for reuse. wolfpackd runs a dozen long-lived threads (heartbeats,
watches, coordinator, resource manager, agents, the API) that each allocate a little, so
without a limit most of its resident memory is arenas' slack. Two arenas cost nothing
measurable here (the threads rarely allocate at the same instant) and save several MB per
daemon. This is what ``MALLOC_ARENA_MAX=2`` does, set from inside before any thread starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from typing import Any

#: mallopt parameter number of M_ARENA_MAX in glibc's malloc.h
M_ARENA_MAX = -8


def _libc_function(name: str) -> Any | None:
    """A function of the C library, or None where there is no such library or function."""
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        return getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Limit glibc's malloc arenas; False where the C library is not glibc (nothing done)."""
    if arenas < 1:
        raise ValueError("arenas must be at least 1")
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """After start-up (imports, schema building) give the heap's free pages back to the
    system: ``gc.collect()`` then glibc's ``malloc_trim(0)``. False where that is not glibc."""
    gc.collect()
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True
