"""A watch on etcd's JSON gateway: one long-lived ``POST /v3/watch`` stream per watch, read by
a daemon thread that delivers events to a :class:`~wolfpack.store.base.Watch`."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from typing import Any

from wolfpack.errors import StoreError, StoreUnavailable
from wolfpack.store.base import Watch, WatchEvent
from wolfpack.store.etcd_endpoint import _STALE_TOKEN, HEADERS, _Endpoint
from wolfpack.store.etcd_wire import (
    _GRPC_CALLER_ERRORS,
    API_PATH,
    HINT,
    _error_body,
    _kv,
    _WatchRefused,
)

#: how a silent watch stream is proven alive: TCP keep-alive probes after this many seconds
#: without traffic, this many seconds apart, this many unanswered before the kernel drops
#: the connection. etcd says nothing while nothing changes, so without probes a stream whose
#: path died (a cable cut, a host powered off) blocks for ever and the copy it feeds goes
#: stale without an error; with them the stream fails in about 3 s and is set up again over
#: a path that works (Patroni sets the same options on its etcd sockets).
WATCH_PROBE_IDLE_S = 1
WATCH_PROBE_INTERVAL_S = 1
WATCH_PROBE_COUNT = 2


def probe_when_silent(sock: socket.socket) -> None:
    """TCP keep-alive on a stream socket (the options above; Linux names them)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, WATCH_PROBE_IDLE_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, WATCH_PROBE_INTERVAL_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, WATCH_PROBE_COUNT)
    # data sent and never acknowledged (the request itself, a TLS alert) gives up as soon
    user_timeout_ms = 1000 * (WATCH_PROBE_IDLE_S + WATCH_PROBE_INTERVAL_S * WATCH_PROBE_COUNT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, user_timeout_ms)


class _WatchStream:
    """One ``POST /v3/watch`` stream: set up synchronously (so the watch is established when
    ``watch_prefix`` returns), then read line by line by a daemon thread.

    A connection of its own, not one of the endpoint's kept-alive ones: the socket must block
    without a read timeout once the stream runs (etcd is silent while nothing changes), and
    cancel must be able to shut the socket down to wake the reader.
    """

    def __init__(
        self,
        url: str,
        conn: http.client.HTTPConnection,
        sock: socket.socket,
        resp: http.client.HTTPResponse,
    ) -> None:
        self.url = url
        self._conn = conn
        self._sock = sock
        self._resp = resp
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, ep: _Endpoint, body: bytes, timeout: float) -> _WatchStream:
        headers = dict(HEADERS)
        headers |= ep.auth_headers(timeout)
        conn = ep.connection(timeout)
        try:
            conn.request("POST", API_PATH + "watch", body=body, headers=headers)
            sock = conn.sock
            assert sock is not None
            resp = conn.getresponse()
            if resp.status != 200:
                code, message = _error_body(resp.read().decode("utf-8", "replace"))
                if resp.status == 503 or code not in _GRPC_CALLER_ERRORS:
                    raise ConnectionError(f"HTTP {resp.status}: {message}")  # try elsewhere
                raise _WatchRefused(f"HTTP {resp.status}: {message}")
            first = _read_message(resp)
            if first is None:
                raise http.client.IncompleteRead(b"", None)
            result = first.get("result")
            if not isinstance(result, dict) or not result.get("created"):
                _, message = _error_body(json.dumps(first))
                raise _WatchRefused(message or "watch was not created")
            if result.get("canceled"):  # how etcd refuses a watch it may not serve (RBAC)
                reason = str(result.get("cancel_reason") or "cancelled at once")
                if any(w in reason for w in _STALE_TOKEN):
                    if ep.auth is not None:
                        ep.auth.invalidate(headers.get("Authorization", ""))
                    raise ConnectionError(reason)  # a new token next time
                raise _WatchRefused(reason)
            sock.settimeout(None)  # from now on etcd may stay silent for as long as it likes,
            probe_when_silent(sock)  # but the path to it may not die unnoticed
        except BaseException:
            conn.close()
            raise
        return cls(ep.url, conn, sock, resp)

    def start(self, watch: Watch) -> None:
        self._thread = threading.Thread(
            target=self._pump, args=(watch,), name=f"etcd-watch {self.url}", daemon=True
        )
        self._thread.start()

    def _pump(self, watch: Watch) -> None:
        try:
            while not self._closed.is_set():
                msg = _read_message(self._resp)
                if msg is None:
                    raise ConnectionError("the watch stream ended (etcd stopped, or the path died)")
                result = msg.get("result")
                if not isinstance(result, dict):
                    code, message = _error_body(json.dumps(msg))
                    if code not in _GRPC_CALLER_ERRORS:
                        # e.g. "transport is closing" while etcd shuts down: a lost stream
                        raise ConnectionError(f"{message} (gRPC code {code})")
                    watch.fail(StoreError(f"etcd at {self.url} ended the watch: {message}"))
                    return
                # one message holds whole revisions (etcd splits a revision's events only
                # when asked to fragment, which this watch never does): delivered together
                watch.deliver_all([_event(ev) for ev in result.get("events", [])])
                if result.get("canceled"):
                    compacted = int(result.get("compact_revision", 0))
                    reason = (
                        f"history before revision {compacted} was compacted"
                        if compacted
                        else result.get("cancel_reason", "cancelled by etcd")
                    )
                    watch.fail(
                        StoreError(
                            f"etcd at {self.url} ended the watch: {reason}; re-read and watch again"
                        )
                    )
                    return
        except (OSError, ValueError, KeyError, http.client.HTTPException) as exc:
            if not self._closed.is_set():
                watch.fail(
                    StoreUnavailable(f"lost the watch stream to etcd at {self.url} ({exc}). {HINT}")
                )
        finally:
            self._conn.close()

    def close(self) -> None:
        """Stop reading: shutting the socket down wakes the blocked reader thread."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._conn.close()


def _event(ev: dict[str, Any]) -> WatchEvent:
    """One event of the gateway's JSON, with the key's metadata after a put."""
    kv = _kv(ev["kv"])
    if ev.get("type") == "DELETE":
        return WatchEvent("delete", kv.key, b"", kv.mod_revision)
    return WatchEvent(
        "put", kv.key, kv.value, kv.mod_revision, kv.create_revision, kv.version, kv.lease
    )


def _read_message(resp: http.client.HTTPResponse) -> dict[str, Any] | None:
    """The next JSON message of a gateway stream (one per line), ``None`` at end of stream."""
    while True:
        line = resp.readline()
        if not line:
            return None
        if line.strip():
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise ValueError(f"unexpected watch message {line[:200]!r}")
            return msg
