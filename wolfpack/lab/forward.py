"""A TCP forwarder from this machine's loopback into a lab namespace, so a browser on the
machine that runs the lab can open the web Cluster Administrator (the lab's networks have
no uplink, by design).

    python -m wolfpack.lab.forward --listen 127.0.0.1:PORT --netns NS --to ADDRESS:PORT

The listening socket is made in the namespace the forwarder starts in (the host's); then
the process enters ``NS`` (the lab's admin host), so every connection it makes goes out
from there, as if from the admin host. One thread per connection, at most
``MAX_CONNECTIONS`` at once; a connection idle for ``IDLE_S`` is closed. ``lab down``
ends it with the lab's other processes.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import sys
import threading

from pyroute2 import netns as pyroute2_netns

MAX_CONNECTIONS = 64
IDLE_S = 600.0
CHUNK = 65536


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def _relay(client: socket.socket, target: tuple[str, int], slots: threading.Semaphore) -> None:
    try:
        with client, socket.create_connection(target, timeout=5) as upstream:
            upstream.settimeout(None)
            pair = {client: upstream, upstream: client}
            with selectors.DefaultSelector() as sel:
                for s in pair:
                    sel.register(s, selectors.EVENT_READ)
                while True:
                    ready = sel.select(timeout=IDLE_S)
                    if not ready:
                        return  # idle too long
                    for key, _ in ready:
                        src = key.fileobj
                        assert isinstance(src, socket.socket)
                        data = src.recv(CHUNK)
                        if not data:
                            return
                        pair[src].sendall(data)
    except OSError:
        pass  # the target is down (its node powered off) or the browser went away
    finally:
        slots.release()


def serve(listen: tuple[str, int], netns: str, target: tuple[str, int]) -> None:
    server = socket.create_server(listen, reuse_port=False)
    pyroute2_netns.setns(netns)  # from here on, connections start in the lab
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    print(f"forwarding {listen[0]}:{listen[1]} to {target[0]}:{target[1]} in {netns}", flush=True)
    with server:
        while True:
            client, _ = server.accept()
            if not slots.acquire(timeout=5):
                client.close()  # too many at once
                continue
            threading.Thread(target=_relay, args=(client, target, slots), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wolfpack.lab.forward", description=__doc__)
    ap.add_argument("--listen", required=True, help="ADDRESS:PORT on this machine")
    ap.add_argument("--netns", required=True, help="the lab namespace to connect from")
    ap.add_argument("--to", required=True, help="ADDRESS:PORT in that namespace")
    args = ap.parse_args(argv)
    serve(_address(args.listen), args.netns, _address(args.to))
    return 0


if __name__ == "__main__":
    sys.exit(main())
