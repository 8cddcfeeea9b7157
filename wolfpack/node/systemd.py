"""The two things wolfpackd says to systemd (sd_notify(3)), in a few lines of socket code.

``Type=notify``: systemd counts the service as started only when the daemon sends
``READY=1``, i.e. after its lease is acquired and its resource manager runs (not when the
process exists). ``WatchdogSec=``: systemd restarts the daemon if ``WATCHDOG=1`` stops
arriving, so the pings come from the main thread's loop, and only while the daemon's own
threads are all alive. Without ``NOTIFY_SOCKET`` (a shell, the lab, the tests' clusters)
every call does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

#: the exit status of a bad configuration (sysexits.h EX_CONFIG): the unit's
#: ``RestartPreventExitStatus=`` names it, so systemd does not restart into the same error.
EX_CONFIG = 78
#: every other failure to start or run (etcd unreachable, not a member, ...): restarted
EX_FAILURE = 2


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to the socket in ``NOTIFY_SOCKET``, if any; True
    if it was sent. A leading ``@`` is Linux's abstract namespace. Errors are swallowed:
    telling systemd is never a reason for the daemon to fail."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), target)
    except OSError:
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """How often to send ``WATCHDOG=1`` (half of ``WatchdogSec``, as sd_watchdog_enabled(3)
    advises), or None when systemd does not watch this process."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2e6
