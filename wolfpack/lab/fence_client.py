"""The lab's fence agent as the daemons run it: asks the lab's power switch.

    printf 'action=off\\nplug=node2\\n' | python -I -S fence_client.py /run/wolfpack-lab/power.sock

The fence-agents interface (options on standard input, exit status 0 = done and confirmed,
2 = off for ``status``), carried out by :mod:`wolfpack.lab.power_switch`. Run as a file with
``-I -S``, it imports only the standard library's ``socket`` and ``sys``: it starts in a few
milliseconds, as a fence agent talking to a BMC does. Bounded: no answer within
:data:`TIMEOUT_S` is a failed fence.
"""

import socket
import sys

PROG = "fence_wolfpack_lab"
TIMEOUT_S = 30.0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {PROG} POWER_SOCKET (options on standard input)", file=sys.stderr)
        return 1
    request = sys.stdin.buffer.read()
    reply = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT_S)
            sock.connect(argv[1])
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                reply += chunk
    except OSError as exc:
        print(f"{PROG}: the lab's power switch at {argv[1]} did not answer: {exc}. "
              "Is the lab up? (`wolfpack lab status`)", file=sys.stderr)  # fmt: skip
        return 1
    code, _, message = reply.decode(errors="replace").strip().partition(" ")
    if not code.isdigit():
        print(f"{PROG}: the power switch answered {reply[:200]!r}", file=sys.stderr)
        return 1
    if message:
        print(message, file=sys.stderr if code == "1" else sys.stdout)
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
