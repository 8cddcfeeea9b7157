"""``EtcdStore``: the production :class:`~wolfpack.store.base.Store`, on etcd v3.

It speaks etcd's HTTP/JSON gateway (``/v3/...``) over plain HTTP/1.1, one POST per request
on kept-alive connections (:mod:`wolfpack.store.etcd_endpoint`), because that needs no gRPC
stack and works with the etcd that Debian ships; watches use one long-lived HTTP stream per
watch read by a daemon thread.

Failure handling:

* every ``http.client``/socket exception is translated into the
  :mod:`wolfpack.errors` tree; nothing third-party escapes.
* with several endpoints, a request that provably never reached a server (connection refused,
  connect timeout) moves on to the next endpoint; so does any failed *read*. A write whose
  request may have reached a server is not re-sent elsewhere (it may have been applied): the
  caller gets ``StoreUnavailable`` and must re-read. The endpoint that last answered is tried
  first next time.
* a lease keep-alive (idempotent) that the endpoint last answering does not answer at once is
  sent to every endpoint together, again and again, until one answers or its budget is spent.
* a watch whose stream breaks fails with ``StoreUnavailable``; a watch whose start revision was
  compacted fails with ``StoreError``. The consumer re-reads and watches again.

Security (C1): ``https://`` endpoints with :class:`~wolfpack.store.etcd_tls.EtcdCredentials`
(the cluster database CA, a client certificate, an etcd user and its password; the token is
kept by the session, :class:`~wolfpack.store.etcd_tls.TokenAuth`). ``http://`` without
credentials still works here, for the callers that decide whether plain text is allowed.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from wolfpack.errors import LeaseNotFound, StoreError, StoreUnavailable
from wolfpack.store.base import (
    Compare,
    Delete,
    KeyValue,
    Op,
    TxnResult,
    Watch,
    validate_ops,
)
from wolfpack.store.etcd_endpoint import (
    _Endpoint,
    _GatewayError,
    _GatewayTimeout,
    _GatewayUnreachable,
    _parse_endpoint,
)
from wolfpack.store.etcd_tls import EtcdCredentials
from wolfpack.store.etcd_watch import _WatchStream
from wolfpack.store.etcd_wire import (
    _GRPC_DEADLINE_EXCEEDED,
    _GRPC_UNAVAILABLE,
    HINT,
    _b64,
    _compare,
    _error_body,
    _key_bytes,
    _kv,
    _op,
    _range,
    _revision,
    _short_reason,
    _WatchRefused,
    endpoint_address,
    split_endpoint,
)

__all__ = ["HINT", "KEEPALIVE_ATTEMPT_S", "EtcdStore", "endpoint_address", "split_endpoint"]


#: A keep-alive reaching a member that knows no leader waits there in steps of a whole
#: election timeout, even once the new leader is there; sent again, it is answered at once.
#: So each attempt gets at most this long, then the keep-alive is sent again.
KEEPALIVE_ATTEMPT_S = 0.4

#: After a round of keep-alives that all failed at once (connections refused), this pause
#: before the next round: no busy loop against a cluster that is down.
KEEPALIVE_PAUSE_S = 0.05
#: endpoints a store is made ready to race keep-alives to, at least (a cluster of 5 members,
#: each with a private and a public address; :meth:`EtcdStore.set_endpoints` may add more)
MEMBERS_EXPECTED = 10


class _TryAgain(Exception):
    """One keep-alive attempt at one endpoint failed in a way another attempt may not."""


class EtcdStore:
    """:class:`~wolfpack.store.base.Store` backed by an etcd v3 cluster.

    ``endpoints`` is one URL (``"https://127.0.0.1:2379"``), a comma-separated string of them,
    or a list. ``timeout`` (seconds) bounds every request and the set-up of a watch. Creating
    the object does not contact etcd; the first call does.
    """

    def __init__(
        self,
        endpoints: str | Sequence[str],
        timeout: float = 5.0,
        *,
        credentials: EtcdCredentials | None = None,
    ) -> None:
        items = endpoints.split(",") if isinstance(endpoints, str) else list(endpoints)
        items = [e for e in items if e.strip()]
        if not items:
            raise ValueError("EtcdStore needs at least one endpoint")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._timeout = timeout
        self.credentials = credentials
        #: replaced whole, never changed in place (:meth:`set_endpoints`): a request reads it
        #: once, through :meth:`_in_order`
        self._endpoints = [_parse_endpoint(e, timeout, credentials) for e in items]
        self._current = self._endpoints[0]  # the one that last answered: asked first
        #: the endpoint :meth:`prefer` chose (a node's own member): a keep-alive answered
        #: elsewhere in a race does not move the other requests away from it
        self._home: _Endpoint | None = None
        self._lock = threading.Lock()
        self._watches: set[Watch] = set()
        self._closed = False
        self._racers: ThreadPoolExecutor | None = None

    @property
    def endpoints(self) -> list[str]:
        return [e.url for e in self._endpoints]

    def set_endpoints(self, endpoints: Sequence[str]) -> bool:
        """Ask these endpoints from now on (the members of a cluster that grew or shrank);
        the connections to those kept are kept, those to the others closed once no request
        uses them. Whether anything changed."""
        urls = [e for e in dict.fromkeys(endpoints) if e.strip()]
        if not urls:
            raise ValueError("EtcdStore needs at least one endpoint")
        with self._lock:
            self._check_open()
            old = {ep.url: ep for ep in self._endpoints}
            if list(old) == urls:
                return False
            fresh = [
                old.get(u) or _parse_endpoint(u, self._timeout, self.credentials) for u in urls
            ]
            self._endpoints = fresh
            dropped = [ep for url, ep in old.items() if url not in urls]
        for ep in dropped:
            ep.close()  # idle connections; one in use is closed when its request ends
        return True

    @property
    def asked_first(self) -> str:
        """The endpoint the next request goes to first (the one that last answered, or the
        one :meth:`prefer` chose)."""
        return self._in_order()[0].url

    def prefer(self, url: str, *, probe_s: float = 0.5) -> bool:
        """Ask ``url`` first from now on (a node's own member, once it votes: the fastest
        answer, and the one member that cannot die while this node lives), if its status
        shows it serving: it answers within ``probe_s``, knows a leader, reports no error
        and has applied the log to within :data:`CAUGHT_UP_ENTRIES` of the member asked
        now (a member just started answers its status before it can serve a request).
        Without it a store keeps asking whichever member answered last, which may be
        another node's: when that node dies, every request waits out the timeout before it
        moves on, and a failover waits with it. Whether the store moved to it."""
        with self._lock:
            self._check_open()
            ep = next((e for e in self._endpoints if e.url == url), None)
        if ep is None:
            return False
        if self._current is ep:
            self._home = ep
            return False
        try:
            mine = self._post(ep, "maintenance/status", {}, probe_s)
            theirs = self._post(self._current, "maintenance/status", {}, probe_s)
        except (_GatewayError, http.client.HTTPException, ValueError, OSError):
            return False
        if not _serving(mine, theirs):
            return False
        self._current = self._home = ep
        return True

    def _in_order(self) -> list[_Endpoint]:
        """The endpoints, the one that last answered first."""
        eps = self._endpoints
        current = self._current
        if current not in eps:
            return list(eps)
        i = eps.index(current)
        return eps[i:] + eps[:i]

    def __repr__(self) -> str:
        return f"EtcdStore({','.join(self.endpoints)!r})"

    def call_api(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One gateway call outside the Store contract (``auth/...`` for
        :mod:`wolfpack.store.etcd_auth`); not retried elsewhere."""
        return self._call(path, payload, idempotent=False)

    # -- transport -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("this EtcdStore was closed; create a new one to reconnect")

    def _unavailable(self, failures: list[str], *, maybe_applied: bool = False) -> StoreUnavailable:
        text = f"cannot reach etcd ({'; '.join(failures)})."
        if maybe_applied:
            text += " The write may or may not have been applied: re-read before retrying."
        return StoreUnavailable(f"{text} {HINT}")

    def _translate(self, exc: _GatewayError, url: str) -> StoreError:
        code, message = _error_body(exc.detail_text)
        if code in (_GRPC_UNAVAILABLE, _GRPC_DEADLINE_EXCEEDED):
            return self._unavailable([f"{url}: {message}"])
        if "lease not found" in message:
            return LeaseNotFound(f"etcd at {url}: {message} (the lease expired or was revoked)")
        return StoreError(f"etcd at {url} refused the request: {message or exc!r}")

    def _call(self, path: str, payload: dict[str, Any], *, idempotent: bool) -> dict[str, Any]:
        """POST ``payload`` to the gateway, failing over between endpoints where that is
        safe (each request bounded by the store's timeout)."""
        self._check_open()
        failures: list[str] = []
        last: BaseException | None = None
        for ep in self._in_order():
            try:
                reply = self._post(ep, path, payload, None)
            except (_GatewayUnreachable, _GatewayTimeout) as exc:
                failures.append(f"{ep.url}: {_short_reason(exc.detail_text or str(exc))}")
                last = exc
                if idempotent or exc.not_sent:
                    continue
                raise self._unavailable(failures, maybe_applied=True) from exc
            except _GatewayError as exc:
                raise self._translate(exc, ep.url) from exc
            except (http.client.HTTPException, ValueError, OSError) as exc:
                raise StoreError(f"unexpected reply from etcd at {ep.url}: {exc}") from exc
            if not isinstance(reply, dict):
                raise StoreError(f"unexpected reply from etcd at {ep.url}: {reply!r}")
            self._current = ep
            return reply
        raise self._unavailable(failures) from last

    @staticmethod
    def _post(ep: _Endpoint, path: str, payload: dict[str, Any], timeout: float | None) -> Any:
        if timeout is None:
            return ep.post(path, payload)
        ep.shorter.timeout = timeout
        try:
            return ep.post(path, payload)
        finally:
            ep.shorter.timeout = None

    # -- key-value -----------------------------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        reply = self._call("kv/range", {"key": _b64(_key_bytes(key))}, idempotent=True)
        kvs = reply.get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        key, end = _range(prefix)
        payload = {"key": key, "range_end": end, "sort_order": "ASCEND", "sort_target": "KEY"}
        reply = self._call("kv/range", payload, idempotent=True)
        return [_kv(d) for d in reply.get("kvs", [])], _revision(reply)

    def put(self, key: str, value: bytes, *, lease: int = 0) -> int:
        payload: dict[str, Any] = {"key": _b64(_key_bytes(key)), "value": _b64(value)}
        if lease:
            payload["lease"] = lease
        return _revision(self._call("kv/put", payload, idempotent=False))

    def delete(self, key: str, *, prefix: bool = False) -> int:
        payload = _op(Delete(key, prefix))["request_delete_range"]
        return int(self._call("kv/deleterange", payload, idempotent=False).get("deleted", 0))

    def txn(
        self,
        compare: Sequence[Compare],
        success: Sequence[Op],
        failure: Sequence[Op] = (),
    ) -> TxnResult:
        validate_ops(success)
        validate_ops(failure)
        payload = {
            "compare": [_compare(c) for c in compare],
            "success": [_op(o) for o in success],
            "failure": [_op(o) for o in failure],
        }
        # a txn with no writes in either branch is a read and may be retried anywhere
        reply = self._call("kv/txn", payload, idempotent=not success and not failure)
        return TxnResult(bool(reply.get("succeeded", False)), _revision(reply))

    def compact(self, revision: int) -> None:
        try:
            self._call("kv/compaction", {"revision": revision}, idempotent=True)
        except StoreError as exc:
            if "has been compacted" in str(exc):
                return
            if "future revision" in str(exc):
                raise ValueError(f"cannot compact at future revision {revision}") from exc
            raise

    # -- leases --------------------------------------------------------------------------

    def lease_grant(self, ttl: int) -> int:
        if ttl < 1:
            raise ValueError("lease TTL must be at least 1 second")
        reply = self._call("lease/grant", {"TTL": ttl, "ID": 0}, idempotent=False)
        return int(reply["ID"])

    def lease_keepalive(self, lease_id: int, *, timeout: float | None = None) -> int:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        reply = self._keepalive({"ID": lease_id}, self._timeout if timeout is None else timeout)
        ttl = int(reply.get("result", {}).get("TTL", -1))
        if ttl <= 0:
            raise LeaseNotFound(f"lease {lease_id:x} not found (expired or revoked)")
        return ttl

    def _keepalive(self, payload: dict[str, Any], budget: float) -> dict[str, Any]:
        """A keep-alive within ``budget`` seconds: to the endpoint that last answered, then,
        if it did not, to every endpoint at once in rounds of :data:`KEEPALIVE_ATTEMPT_S`
        until one answers. One after another, the endpoints a fault made silent (a leader
        cut from its peers: its own member and its private addresses) ate the budget before
        the new leader was asked (issue 9); a keep-alive is idempotent, so racing is safe."""
        self._check_open()
        ends = time.monotonic() + budget
        failures: dict[str, str] = {}
        order = self._in_order()
        try:
            return self._keepalive_at(order[0], payload, min(KEEPALIVE_ATTEMPT_S, budget))
        except _TryAgain as exc:
            failures[order[0].url] = str(exc)
        while (left := ends - time.monotonic()) > 0:
            round_start = time.monotonic()
            attempt = min(KEEPALIVE_ATTEMPT_S, left)
            futures = self._start_round(payload, attempt)
            for done in as_completed(futures):
                try:
                    return done.result()
                except _TryAgain as exc:
                    failures[futures[done]] = str(exc)
            if time.monotonic() - round_start < KEEPALIVE_PAUSE_S:
                time.sleep(max(0.0, min(KEEPALIVE_PAUSE_S, ends - time.monotonic())))
        spent = f"no answer within the {budget:.2f} s budget"
        said = [failures[ep.url] for ep in self._endpoints if ep.url in failures]
        raise self._unavailable([*said, spent])

    def _keepalive_at(
        self, ep: _Endpoint, payload: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """One keep-alive sent to ``ep``; :class:`_TryAgain` if another may work, the
        store's own error if etcd answered no (the lease is gone)."""
        try:
            reply = self._post(ep, "lease/keepalive", payload, timeout)
        except (_GatewayUnreachable, _GatewayTimeout) as exc:
            raise _TryAgain(f"{ep.url}: {_short_reason(exc.detail_text or str(exc))}") from exc
        except _GatewayError as exc:
            error = self._translate(exc, ep.url)
            if isinstance(error, StoreUnavailable):
                raise _TryAgain(f"{ep.url}: {_error_body(exc.detail_text)[1]}") from exc
            raise error from exc
        except (http.client.HTTPException, ValueError, OSError) as exc:
            raise StoreError(f"unexpected reply from etcd at {ep.url}: {exc}") from exc
        if not isinstance(reply, dict):
            raise StoreError(f"unexpected reply from etcd at {ep.url}: {reply!r}")
        if "error" in reply:  # the gateway's stream answered with an error
            code, message = _error_body(json.dumps(reply))
            if code in (_GRPC_UNAVAILABLE, _GRPC_DEADLINE_EXCEEDED):
                raise _TryAgain(f"{ep.url}: {message}")
            raise StoreError(f"lease keepalive failed: {message} (code {code})")
        if self._home is None or self._current is not self._home:
            # a race won by another member: the rest follows, unless it is at home (a
            # keep-alive slower than 0.4 s there once, on a busy machine, moved every
            # request to another node's member, and a failover then waited out the request
            # timeout when that node died)
            self._current = ep
        return reply

    def _start_round(
        self, payload: dict[str, Any], attempt: float
    ) -> dict[Future[dict[str, Any]], str]:
        """One keep-alive to every endpoint at once, on the race's threads (made on first
        need: a healthy cluster never races; room for a round still running out its
        attempts and the next). Under the lock, so a store closed meanwhile refuses."""
        with self._lock:
            self._check_open()
            if self._racers is None:  # threads are made as needed, up to this
                self._racers = ThreadPoolExecutor(
                    max_workers=2 * max(len(self._endpoints), MEMBERS_EXPECTED),
                    thread_name_prefix="etcd-keepalive",
                )
            return {
                self._racers.submit(self._keepalive_at, ep, payload, attempt): ep.url
                for ep in self._endpoints
            }

    def lease_revoke(self, lease_id: int) -> None:
        try:
            self._call("kv/lease/revoke", {"ID": lease_id}, idempotent=True)
        except LeaseNotFound:
            return  # documented: revoking an unknown or expired lease is a no-op

    def lease_ttl(self, lease_id: int) -> int:
        reply = self._call("kv/lease/timetolive", {"ID": lease_id}, idempotent=True)
        # proto3 JSON omits zero: no TTL field means 0 s left, expired leases say -1
        return int(reply.get("TTL", 0))

    # -- watches -------------------------------------------------------------------------

    def watch_prefix(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        if start_revision is not None and start_revision < 1:
            raise ValueError("start_revision must be at least 1 (or None for 'from now')")
        self._check_open()
        key, end = _range(prefix)
        create: dict[str, Any] = {"key": key, "range_end": end}
        if start_revision is not None:
            create["start_revision"] = start_revision
        body = json.dumps({"create_request": create}).encode()
        failures: list[str] = []
        for ep in self._in_order():
            try:
                stream = _WatchStream.open(ep, body, self._timeout)
            except _WatchRefused as exc:
                raise StoreError(
                    f"etcd at {ep.url} refused the watch on {prefix!r}: {exc}"
                ) from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                failures.append(f"{ep.url}: {_short_reason(str(exc) or type(exc).__name__)}")
                continue
            return self._register(stream)
        raise self._unavailable(failures)

    def _register(self, stream: _WatchStream) -> Watch:
        def on_cancel() -> None:
            stream.close()
            with self._lock:
                self._watches.discard(watch)

        watch = Watch(on_cancel=on_cancel)
        with self._lock:
            if self._closed:
                stream.close()
                self._check_open()
            self._watches.add(watch)
        stream.start(watch)
        return watch

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed = True
            watches, self._watches = list(self._watches), set()
        for w in watches:
            w.cancel()
        if self._racers is not None:
            self._racers.shutdown(wait=False, cancel_futures=True)
        for ep in self._endpoints:
            ep.close()


#: a member this many raft entries behind has not caught up (a learner is not promoted, a
#: node's own member is not preferred)
CAUGHT_UP_ENTRIES = 100


def _serving(mine: Any, theirs: Any) -> bool:
    """Whether a member's status (``mine``) shows it serving requests as well as the member
    whose status is ``theirs``: a leader known, no error, the log applied to within
    :data:`CAUGHT_UP_ENTRIES` (the gateway sends 64-bit numbers as strings)."""
    if not isinstance(mine, dict) or not isinstance(theirs, dict):
        return False
    try:
        leader = int(str(mine.get("leader", 0)))
        applied = int(str(mine.get("raftAppliedIndex", mine.get("raftIndex", 0))))
        head = int(str(theirs.get("raftIndex", 0)))
    except ValueError:
        return False
    return leader != 0 and not mine.get("errors") and applied >= head - CAUGHT_UP_ENTRIES
