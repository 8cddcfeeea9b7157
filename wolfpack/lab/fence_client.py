"""The lab's fence agent as the daemons run it: asks the lab's power switch.

    printf 'action=off\\nplug=node2\\n' | python -I -S fence_client.py /run/wolfpack-lab/power.sock

The fence-agents interface (options on standard input, exit status 0 = done and confirmed,
2 = off for ``status``), carried out by :mod:`wolfpack.lab.power_switch`. Run as a file with
``-I -S``, it imports only the standard library's ``socket`` and ``sys``: it starts in a few
milliseconds, as a fence agent talking to a BMC does. Like the fence-agents library it
reads the status back after an ``off`` and confirms only once the switch says the node is
off. Bounded: no answer within :data:`TIMEOUT_S` is a failed fence.
"""

import socket
import sys

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


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {PROG} POWER_SOCKET (options on standard input)", file=sys.stderr)
        return 1
    request = sys.stdin.buffer.read()
    code, message = ask(argv[1], request)
    options = dict(line.partition("=")[::2] for line in request.decode().splitlines())
    if code == 0 and options.get("action", "reboot") in ("off", "reboot"):
        # as the fence-agents library does after an off: read the status back, and
        # confirm only once the device itself says the outlet is off
        plug = options.get("plug") or options.get("port") or options.get("nodename") or ""
        status, said = ask(argv[1], f"action=status\nplug={plug}\n".encode())
        if status != 2:
            code, message = 1, f"{PROG}: {plug} is not off after the off ({said or status})"
    if message:
        print(message, file=sys.stderr if code == 1 else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
