"""The names the cluster database's certificates carry (:mod:`wolfpack.store.pki`), without
cryptography: etcd's command line needs them on every node, and a daemon that imported the
certificate code only for them kept cryptography's Rust core resident (~9 MB, issue 12)."""

from __future__ import annotations

from typing import Literal

__all__ = ["PEER_CN", "PRINCIPAL_KINDS", "USER_URI", "PrincipalKind"]

#: the common name every member's peer certificate has (``--peer-cert-allowed-cn``)
PEER_CN = "wolfpack-etcd-peer"
#: how a client certificate names its etcd user (a URI subject alternative name)
USER_URI = "urn:wolfpack:etcd-user:"

PrincipalKind = Literal["node", "api", "admin"]
PRINCIPAL_KINDS: tuple[PrincipalKind, ...] = ("node", "api", "admin")
