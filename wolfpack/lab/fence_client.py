"""The lab's fence agent as the daemons run it: asks the lab's power switch.

    printf 'action=off\\nplug=node2\\n' | python -I -S fence_client.py /run/wolfpack-lab/power.sock

The fence-agents interface (options on standard input, exit status 0 = done and confirmed,
2 = off for ``status``), carried out by :mod:`wolfpack.lab.power_switch`. Run as a file with
``-I -S``, it imports only the standard library's ``socket``, ``sys`` and ``time``: it
starts in a few milliseconds, as a fence agent talking to a BMC does. Like the
fence-agents library it reads the status back after an ``off`` and confirms only once the
switch says the node is off, ``power_wait`` seconds after the off (fence-agents' option:
``power_wait=S`` on standard input, or ``--power-wait=S`` after the socket; 0 by
default). Bounded: no answer within :data:`TIMEOUT_S` is a failed fence.
"""

import socket
import sys
import time

PROG = "fence_wolfpack_lab"
TIMEOUT_S = 30.0


def ask(path: str, request: bytes) -> tuple[int, str]:
    """One request to the switch: its exit status and message; (1, why) if it failed."""
    reply = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT_S)
            sock.connect(path)
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                reply += chunk
    except OSError as exc:
        return 1, (f"{PROG}: the lab's power switch at {path} did not answer: {exc}. "
                   "Is the lab up? (`wolfpack lab status`)")  # fmt: skip
    code, _, message = reply.decode(errors="replace").strip().partition(" ")
    if not code.isdigit():
        return 1, f"{PROG}: the power switch answered {reply[:200]!r}"
    return int(code), message


USAGE = f"usage: {PROG} POWER_SOCKET [--power-wait=SECONDS] (options on standard input)"


def main(argv: list[str]) -> int:
    flags = dict(a[2:].replace("-", "_").partition("=")[::2] for a in argv[2:])
    if len(argv) < 2 or set(flags) - {"power_wait"}:
        print(USAGE, file=sys.stderr)
        return 1
    request = sys.stdin.buffer.read()
    options = {**flags, **dict(line.partition("=")[::2] for line in request.decode().splitlines())}
    try:
        power_wait = float(options.get("power_wait") or 0)
    except ValueError:
        print(f"{PROG}: power_wait must be a number of seconds", file=sys.stderr)
        return 1
    code, message = ask(argv[1], request)
    if code == 0 and options.get("action", "reboot") in ("off", "reboot"):
        # as the fence-agents library does after an off: wait power_wait, read the status
        # back, and confirm only once the device itself says the outlet is off
        time.sleep(max(0.0, power_wait))
        plug = options.get("plug") or options.get("port") or options.get("nodename") or ""
        status, said = ask(argv[1], f"action=status\nplug={plug}\n".encode())
        if status != 2:
            code, message = 1, f"{PROG}: {plug} is not off after the off ({said or status})"
    if message:
        print(message, file=sys.stderr if code == 1 else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
