"""Network Name (agent ``network-name``): a virtual computer name registered in DNS (S10, S16).

Online means: the DNS server ``server:port`` answers ``<name>.<zone>`` with an A record for
``address``. ``start`` sends one RFC 2136 dynamic update, TSIG-signed with the key in
``key_file`` (BIND's ``key "name" { algorithm …; secret "…"; };`` format, as written by
``tsig-keygen``), that *replaces* the name's A records with ``address`` (TTL ``ttl``, MSCS
HostRecordTTL), then queries the server until it answers with it. A move is therefore one
update by the new owner; the old owner's :meth:`NetworkNameAgent.is_alive` then sees another
address and returns False, which is right: the name has moved.

Each registration is marked as its registrant's: the same update replaces the name's TXT
records with a token of its own (``wolfpack-registration node=<node> id=<random>``), much as
RFC 4703's DHCID record marks which DHCP client owns a name. A successful start writes
``<run_dir>/resources/<name>/registered.json`` (name, address, server, token); ``stop``
deregisters only what this node registered (that file, or this instance's start), in an
update whose prerequisite is that token (RFC 2136 §2.4.2): the server deletes our address
and our token only if the name still carries it, in one step. The virtual address moves
with its group, so after a failover the new owner has registered the *same* address; the
old owner's late stop (or the clean-up of a node powered on again after a fence) then finds
another token and deletes nothing (``agent_deregister_skipped``). A stop on a node that never
registered the name sends nothing. A stop that cannot reach the server is logged, not raised:
the record is replaced by whoever brings the name online next, and a failed deregistration
must not hold the group; nor is it tried when the link toward the server is down or has no
carrier (the client cable was pulled, S41): ARP would take seconds to give up, and the
group's failover would wait for it. ``adopt`` needs that file and the server still
answering with it.

``looks_alive`` is cheap (the last update succeeded, no stop since, and no ``is_alive`` since
found the record gone or moved; no network); ``is_alive`` and ``adopt`` ask the server.
Every network call is one TCP exchange bounded by the caller's timeout (``is_alive``:
:data:`QUERY_TIMEOUT_S`). Errors: an update the server refuses (REFUSED, or a TSIG error
such as a wrong secret or an unknown key) is ERR_CONFIGURED naming the key; NOTAUTH/NOTZONE
(a zone the server does not serve) is ERR_CONFIGURED naming ``zone``; no answer or no
connection is ERR_GENERIC naming ``server:port``.

The address to register is the ``address`` of the IP Address resource this name depends
on: the resource manager fills properties a resource leaves unset from its dependencies
(:func:`wolfpack.model.inheritance.effective_resource`), so it reaches the agent as this
resource's ``address``. Set ``address`` only to register another one; with neither, the
start fails with ERR_CONFIGURED naming ``address``.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.txtbase
import dns.tsig
import dns.tsigkeyring
import dns.update

from wolfpack.errors import AgentError
from wolfpack.model.config import Resource, ResourceType
from wolfpack.resources.base import Agent, AgentContext, AgentResult, error_fields
from wolfpack.resources.commands import read_json, write_json
from wolfpack.resources.routes import lost_link_toward

__all__ = ["NetworkNameAgent", "TsigKey", "read_key_file"]

DEFAULT_ZONE = "cluster.test"
DEFAULT_SERVER = "127.0.0.1"
DEFAULT_PORT = 53
DEFAULT_TTL = 30
#: bound of the query is_alive and adopt make
QUERY_TIMEOUT_S = 2.0
#: pause between two verification queries after an update
VERIFY_EVERY_S = 0.05

#: a quoted string (kept: a base64 secret may hold "//"), or a comment of named.conf's three
#: kinds (removed)
_COMMENT_OR_STRING = re.compile(r'"[^"]*"|#[^\n]*|//[^\n]*|/\*.*?\*/', re.DOTALL)
_KEY = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{(.*?)\}\s*;', re.DOTALL)
_ALGORITHM = re.compile(r'algorithm\s+"?([A-Za-z0-9-]+)"?\s*;')
_SECRET = re.compile(r'secret\s+"([^"]+)"\s*;')


@dataclass(frozen=True)
class TsigKey:
    name: str
    algorithm: str
    secret: str

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        ring: dict[dns.name.Name, dns.tsig.Key] = dns.tsigkeyring.from_text(
            {self.name: (self.algorithm, self.secret)}
        )
        return ring


def read_key_file(path: Path) -> list[TsigKey]:
    """The keys in a BIND key file; ValueError saying what is wrong with it."""
    text = _COMMENT_OR_STRING.sub(
        lambda m: m.group(0) if m.group(0).startswith('"') else " ", path.read_text()
    )
    keys = []
    for match in _KEY.finditer(text):
        name, body = match.group(1), match.group(2)
        algorithm, secret = _ALGORITHM.search(body), _SECRET.search(body)
        if algorithm is None or secret is None:
            raise ValueError(f"key {name!r} lacks an algorithm or a secret")
        key = TsigKey(name, algorithm.group(1).lower(), secret.group(1))
        try:
            key.keyring()
        except Exception as exc:  # dnspython: bad base64, unknown algorithm, bad name
            raise ValueError(f"key {name!r} is unusable: {exc}") from exc
        keys.append(key)
    if not keys:
        raise ValueError('no key "name" { algorithm ...; secret "..."; }; in it')
    return keys


@dataclass(frozen=True)
class _Settings:
    """The properties, checked and resolved on this node."""

    fqdn: dns.name.Name
    zone: dns.name.Name
    address: str
    ttl: int
    server: str
    port: int
    key: TsigKey | None

    @property
    def host(self) -> str:
        return self.fqdn.to_text(omit_final_dot=True)

    @property
    def domain(self) -> str:
        return self.zone.to_text(omit_final_dot=True)

    @property
    def where(self) -> str:
        return f"{self.server}:{self.port}"

    def record(self) -> dict[str, object]:
        """What registered.json holds besides the token: the settings registered with."""
        return {"name": self.host, "address": self.address, "server": self.where}

    @property
    def relative(self) -> dns.name.Name:
        return self.fqdn.relativize(self.zone)

    def update(self) -> dns.update.UpdateMessage:
        if self.key is None:
            return dns.update.UpdateMessage(self.zone)
        return dns.update.UpdateMessage(
            self.zone, keyring=self.key.keyring(), keyname=dns.name.from_text(self.key.name)
        )


class _Phase(StrEnum):
    OFFLINE = "offline"
    ONLINE = "online"
    LOST = "lost"  # is_alive saw the record gone or moved; start registers it again
    STOPPING = "stopping"


class NetworkNameAgent(Agent):
    def __init__(self, resource: Resource, rtype: ResourceType, ctx: AgentContext) -> None:
        super().__init__(resource, rtype, ctx)
        self._lock = threading.Lock()
        self._phase = _Phase.OFFLINE
        self._settings: _Settings | None = None  # those it was registered (or adopted) with
        self._token: str | None = None  # the mark of that registration (its TXT record)

    @property
    def record_file(self) -> Path:
        return self.state_dir / "registered.json"

    # -- validate ----------------------------------------------------------------------------
    def validate(self) -> None:
        self.settings()

    def settings(self) -> _Settings:
        """The properties checked on this node; AgentError naming the first one at fault."""
        zone_text = (self.prop_str("zone") or DEFAULT_ZONE).rstrip(".")
        try:
            zone = dns.name.from_text(zone_text)
        except dns.exception.DNSException as exc:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"{zone_text!r} is not a DNS name: {exc}", "zone"
            ) from exc
        fqdn = self._fqdn(zone)
        server = self.prop_str("server") or DEFAULT_SERVER
        self._ipv4(server, "server")
        port = self.prop_int("port", DEFAULT_PORT)
        if not 1 <= port <= 65535:
            raise self.error(AgentResult.ERR_CONFIGURED, f"{port} is not a port", "port")
        ttl = self.prop_int("ttl", DEFAULT_TTL)
        return _Settings(fqdn, zone, self._address(), ttl, server, port, self._key())

    def _fqdn(self, zone: dns.name.Name) -> dns.name.Name:
        text = self.prop_str("name", required=True)
        assert text is not None
        zone_text = zone.to_text(omit_final_dot=True).lower()
        bare = text.rstrip(".").lower()
        absolute = text.endswith(".") or bare == zone_text or bare.endswith("." + zone_text)
        try:
            fqdn = dns.name.from_text(bare + "." if absolute else bare, origin=zone)
        except dns.exception.DNSException as exc:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"{text!r} is not a DNS name: {exc}", "name"
            ) from exc
        if not fqdn.is_subdomain(zone) or fqdn == zone:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{text!r} is not a name inside zone {zone_text}",
                "name",
            )
        return fqdn

    def _ipv4(self, text: str, prop: str) -> None:
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"{text!r} is not an IPv4 address", prop
            ) from None

    def _address(self) -> str:
        address = self.prop_str("address")
        if address is None:
            ips = [name for alternatives in self.resource.dependencies for name in alternatives]
            which = f" of IP Address resource {' or '.join(map(repr, ips))}" if ips else ""
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"is required: depend on an IP Address resource that sets it, or set it to"
                f" the address{which} this name depends on",
                "address",
            )
        self._ipv4(address, "address")
        return address

    def _key(self) -> TsigKey | None:
        key_file = self.prop_str("key_file")
        key_name = self.prop_str("key_name")
        if key_file is None:
            if key_name is not None:
                raise self.error(
                    AgentResult.ERR_CONFIGURED,
                    f"key {key_name!r} is named but no key_file holds it",
                    "key_file",
                )
            return None  # unsigned updates: the server decides
        try:
            keys = read_key_file(Path(key_file))
        except OSError as exc:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"cannot read {key_file!r} on this node: {exc.strerror or exc}",
                "key_file",
            ) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{key_file!r} is not a BIND key file: {exc}",
                "key_file",
            ) from exc
        if key_name is None:
            if len(keys) > 1:
                names = ", ".join(k.name for k in keys)
                raise self.error(
                    AgentResult.ERR_CONFIGURED,
                    f"{key_file!r} holds several keys ({names}): say which one",
                    "key_name",
                )
            return keys[0]
        wanted = key_name.rstrip(".").lower()
        for key in keys:
            if key.name.rstrip(".").lower() == wanted:
                return key
        raise self.error(
            AgentResult.ERR_CONFIGURED, f"no key {key_name!r} in {key_file!r}", "key_name"
        )

    # -- talking to the server ----------------------------------------------------------------
    def _exchange(self, cfg: _Settings, msg: dns.message.Message, timeout_s: float) -> int:
        """Send ``msg`` over TCP, return the reply's rcode; AgentError if there is none."""
        timeout_s = max(timeout_s, 0.001)
        try:
            reply = dns.query.tcp(msg, cfg.server, port=cfg.port, timeout=timeout_s)
        except dns.tsig.PeerError as exc:
            raise self._key_error(cfg, f"TSIG error {type(exc).__name__}") from exc
        except dns.exception.Timeout as exc:
            raise self.error(
                AgentResult.ERR_GENERIC,
                f"DNS server {cfg.where} did not answer within {timeout_s:.3g} s",
                "server",
            ) from exc
        except OSError as exc:
            raise self.error(
                AgentResult.ERR_GENERIC,
                f"cannot reach DNS server {cfg.where}: {exc.strerror or exc}",
                "server",
            ) from exc
        except dns.exception.DNSException as exc:
            raise self.error(
                AgentResult.ERR_GENERIC, f"bad answer from DNS server {cfg.where}: {exc}", "server"
            ) from exc
        return int(reply.rcode())

    def _key_error(self, cfg: _Settings, what: str) -> AgentError:
        if cfg.key is None:
            return self.error(
                AgentResult.ERR_CONFIGURED,
                f"DNS server {cfg.where} refused the unsigned update of {cfg.host} ({what});"
                " set key_file to a TSIG key allowed to update the zone",
                "key_file",
            )
        return self.error(
            AgentResult.ERR_CONFIGURED,
            f"DNS server {cfg.where} refused the update of {cfg.host} signed with key"
            f" {cfg.key.name!r} ({what}): is the key right, and may it update A and TXT records"
            f" in {cfg.domain} (update-policy {{ grant {cfg.key.name} zonesub A TXT; }})?",
            "key_name",
        )

    def _update(
        self,
        cfg: _Settings,
        msg: dns.update.UpdateMessage,
        timeout_s: float,
        allow: tuple[dns.rcode.Rcode, ...] = (),
    ) -> bool:
        """Send an update; False if applied, True if refused with an rcode in ``allow`` (a
        prerequisite that did not hold), AgentError for any other refusal."""
        rcode = self._exchange(cfg, msg, timeout_s)
        if rcode == dns.rcode.NOERROR:
            return False
        if rcode in allow:
            return True
        what = dns.rcode.to_text(dns.rcode.Rcode.make(rcode))
        if rcode == dns.rcode.REFUSED:
            raise self._key_error(cfg, what)
        if rcode in (dns.rcode.NOTAUTH, dns.rcode.NOTZONE):  # with a valid TSIG: the zone
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"DNS server {cfg.where} is not authoritative for zone {cfg.domain} ({what})",
                "zone",
            )
        raise self.error(
            AgentResult.ERR_GENERIC,
            f"DNS server {cfg.where} failed the update of {cfg.host} ({what})",
            "server",
        )

    def addresses(self, cfg: _Settings, timeout_s: float) -> set[str]:
        """The A records the server has for the name now (empty if none)."""
        return {r.to_text() for r in self._answer(cfg, dns.rdatatype.A, timeout_s)}

    def _tokens(self, cfg: _Settings, timeout_s: float) -> set[str]:
        """The registration tokens (TXT records) the server has for the name now."""
        return {
            b"".join(r.strings).decode("utf-8", "replace")
            for r in self._answer(cfg, dns.rdatatype.TXT, timeout_s)
            if isinstance(r, dns.rdtypes.txtbase.TXTBase)
        }

    def _answer(
        self, cfg: _Settings, rdtype: dns.rdatatype.RdataType, timeout_s: float
    ) -> list[dns.rdata.Rdata]:
        """The records of ``rdtype`` the server has for the name now (empty if none)."""
        query = dns.message.make_query(cfg.fqdn, rdtype)
        timeout_s = max(timeout_s, 0.001)
        try:
            reply = dns.query.tcp(query, cfg.server, port=cfg.port, timeout=timeout_s)
        except dns.exception.Timeout as exc:
            raise self.error(
                AgentResult.ERR_GENERIC,
                f"DNS server {cfg.where} did not answer within {timeout_s:.3g} s",
                "server",
            ) from exc
        except (OSError, dns.exception.DNSException) as exc:
            raise self.error(
                AgentResult.ERR_GENERIC, f"cannot query DNS server {cfg.where}: {exc}", "server"
            ) from exc
        rcode = reply.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise self.error(
                AgentResult.ERR_GENERIC,
                f"DNS server {cfg.where} answered {dns.rcode.to_text(rcode)} for {cfg.host}",
                "server",
            )
        rrset = reply.get_rrset(reply.answer, cfg.fqdn, dns.rdataclass.IN, rdtype)
        return [] if rrset is None else list(rrset)

    # -- start -------------------------------------------------------------------------------
    def start(self, timeout_s: float) -> None:
        cfg = self.settings()
        with self._lock:
            if self._phase is _Phase.ONLINE and self._settings == cfg:
                return
        deadline = time.monotonic() + timeout_s
        self.log("agent_starting", name=cfg.host, address=cfg.address, server=cfg.where)
        token = f"wolfpack-registration node={self.ctx.node} id={secrets.token_hex(8)}"
        update = cfg.update()
        update.replace(cfg.relative, cfg.ttl, dns.rdatatype.A, cfg.address)
        update.replace(cfg.relative, cfg.ttl, dns.rdatatype.TXT, _quoted(token))
        try:
            self._update(cfg, update, deadline - time.monotonic())
        except AgentError as exc:
            self._start_failed(exc)
            raise
        try:
            self._verify(cfg, deadline)
            write_json(self.record_file, {**cfg.record(), "token": token})
        except (AgentError, OSError) as exc:
            self._deregister(cfg, token, QUERY_TIMEOUT_S)  # leave nothing registered
            self._start_failed(exc)
            if isinstance(exc, AgentError):
                raise
            raise self.error(
                AgentResult.ERR_GENERIC, f"cannot record the registration: {exc}"
            ) from exc
        with self._lock:
            self._phase, self._settings, self._token = _Phase.ONLINE, cfg, token
        self.log("agent_online", name=cfg.host, address=cfg.address)

    def _start_failed(self, exc: Exception) -> None:
        self.log("agent_start_failed", **error_fields(exc))
        with self._lock:
            self._phase, self._settings, self._token = _Phase.OFFLINE, None, None

    def _verify(self, cfg: _Settings, deadline: float) -> None:
        """Wait until the server answers the name with our address."""
        seen: set[str] = set()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            seen = self.addresses(cfg, min(left, QUERY_TIMEOUT_S))
            if cfg.address in seen:
                return
            time.sleep(min(VERIFY_EVERY_S, max(0.0, deadline - time.monotonic())))
        raise self.error(
            AgentResult.ERR_GENERIC,
            f"DNS server {cfg.where} accepted the update but answers {cfg.host} with"
            f" {sorted(seen) or 'nothing'}, not {cfg.address}",
            "server",
        )

    # -- stop --------------------------------------------------------------------------------
    def stop(self, timeout_s: float) -> None:
        with self._lock:
            self._phase = _Phase.STOPPING
            cfg, token = self._settings, self._token
        self.log("agent_stopping")
        if cfg is None and self.record_file.exists():  # left by an earlier instance
            try:
                cfg, token = self.settings(), self._stored_token()
            except AgentError as exc:
                self.log("agent_deregister_skipped", error=str(exc))
        if cfg is not None:
            self._deregister(cfg, token, timeout_s)
        self.record_file.unlink(missing_ok=True)
        with self._lock:
            self._phase, self._settings, self._token = _Phase.OFFLINE, None, None
        self.log("agent_offline")

    def _stored_token(self) -> str | None:
        """The token registered.json holds (None: no file, or one without a token)."""
        stored = read_json(self.record_file)
        token = stored.get("token") if isinstance(stored, dict) else None
        return token if isinstance(token, str) else None

    def _deregister(self, cfg: _Settings, token: str | None, timeout_s: float) -> None:
        """Delete our address and our token, only while the name still carries our token
        (the server checks, in the same update); an absent record is fine. Logged, not
        raised, when the server cannot be told (see the module docstring)."""
        if token is None:
            why = "no token in registered.json (an older registration): left for the next owner"
            self.log("agent_deregister_skipped", why=why)
            return
        lost = lost_link_toward(cfg.server)
        if lost is not None:
            why = f"link {lost} toward DNS server {cfg.where} is down or has no carrier"
            self.log("agent_deregister_failed", error=why)
            return
        update = cfg.update()
        update.present(cfg.relative, dns.rdatatype.TXT, _quoted(token))
        update.delete(cfg.relative, dns.rdatatype.A, cfg.address)
        update.delete(cfg.relative, dns.rdatatype.TXT, _quoted(token))
        try:
            if self._update(cfg, update, timeout_s, allow=(dns.rcode.NXRRSET,)):
                why = f"{cfg.host} was registered again since (not by this registration)"
                self.log("agent_deregister_skipped", why=why)
        except AgentError as exc:
            self.log("agent_deregister_failed", error=str(exc))

    # -- health ------------------------------------------------------------------------------
    def looks_alive(self) -> bool:
        with self._lock:
            return self._phase is _Phase.ONLINE

    def is_alive(self) -> bool:
        with self._lock:
            cfg = self._settings if self._phase is _Phase.ONLINE else None
        if cfg is None:
            return False
        if self._registered(cfg):
            return True
        with self._lock:  # failed: looks_alive agrees, and start registers it again
            if self._phase is _Phase.ONLINE and self._settings is cfg:
                self._phase = _Phase.LOST
        return False

    def _registered(self, cfg: _Settings) -> bool:
        try:
            seen = self.addresses(cfg, QUERY_TIMEOUT_S)
        except AgentError as exc:
            self.log("agent_check_failed", why=str(exc))
            return False
        if cfg.address not in seen:
            self.log("agent_check_failed", why=f"{cfg.host} resolves to {sorted(seen)}")
            return False
        return True

    # -- adopt -------------------------------------------------------------------------------
    def adopt(self) -> bool:
        with self._lock:
            if self._phase is _Phase.ONLINE:
                return True
        try:
            cfg = self.settings()
        except AgentError as exc:
            self.log("agent_adopt_rejected", why=str(exc))
            return False
        stored = read_json(self.record_file)
        token = self._stored_token()
        if token is None or stored != {**cfg.record(), "token": token}:
            self.log("agent_adopt_rejected", why="this node has not registered this name")
            return False
        if not self._registered(cfg):
            return False
        try:
            tokens = self._tokens(cfg, QUERY_TIMEOUT_S)
        except AgentError as exc:
            self.log("agent_adopt_rejected", why=str(exc))
            return False
        if token not in tokens:
            self.log("agent_adopt_rejected", why=f"{cfg.host} was registered again since")
            return False
        with self._lock:
            self._phase, self._settings, self._token = _Phase.ONLINE, cfg, token
        self.log("agent_adopted", name=cfg.host, address=cfg.address)
        return True

    def pids(self) -> list[int]:
        return []  # nothing runs: the record lives in the DNS server


def _quoted(token: str) -> str:
    """A token as TXT rdata text (one quoted string; tokens have no quotes or backslashes)."""
    return f'"{token}"'
