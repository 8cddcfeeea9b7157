"""Configuration writes of :class:`~wolfpack.store.repository.ClusterDB`: validate the whole
result, check what an import may touch, then one optimistic transaction on ``config_epoch``
(see :mod:`wolfpack.store.repository` for the rules)."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, cast

from wolfpack.errors import (
    AlreadyExistsError,
    ConflictError,
    FieldError,
    RejectedError,
    ValidationError,
)
from wolfpack.model.builtin_types import builtin_types
from wolfpack.model.config import (
    ClusterConfig,
    ClusterSettings,
)
from wolfpack.model.rename import Renamable, rename_refusal, renamed
from wolfpack.model.snapshot import (
    GroupStatus,
    NodeStatus,
    ResourceStatus,
)
from wolfpack.model.states import ResourceState, Wanted
from wolfpack.model.validation import validate_config
from wolfpack.store.base import (
    Compare,
    Delete,
    Op,
    Put,
    Store,
    key_absent,
    prefix_empty,
)
from wolfpack.store.base import mod_revision_is as mod_is
from wolfpack.store.database_read import _SCHEMA, DatabaseRead, DecodeCache, Status, encode
from wolfpack.store.keys import (
    CONFIG_KINDS,
    STATE_KINDS,
    ConfigKind,
    KeySpace,
    StateKind,
)

#: how often ``import_config`` re-reads and re-checks after a concurrent write
IMPORT_ATTEMPTS: Final = 3


@dataclass(frozen=True)
class StateSection:
    """Observed state to write together with a configuration (``config import``)."""

    nodes: Mapping[str, NodeStatus] = field(default_factory=dict)
    groups: Mapping[str, GroupStatus] = field(default_factory=dict)
    resources: Mapping[str, ResourceStatus] = field(default_factory=dict)

    def of(self, kind: StateKind) -> Mapping[str, Status]:
        return cast(Mapping[str, Status], getattr(self, kind))


def _key_name_errors(cfg: ClusterConfig) -> list[FieldError]:
    """Names become key segments: refuse what the key layout cannot hold."""
    errors = []
    for kind in CONFIG_KINDS:
        for name in getattr(cfg, kind):
            if not name or "/" in name or name in (".", ".."):
                errors.append(
                    FieldError(f"{kind}.{name}.name", f"{name!r} is not a valid name: no '/'")
                )
    return errors


def check_config(cfg: ClusterConfig) -> None:
    """``validate_config`` plus what the key layout needs; raises one ValidationError."""
    errors = _key_name_errors(cfg)
    try:
        validate_config(cfg)
    except ValidationError as exc:
        if not errors:
            raise
        errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)


def _state_errors(cfg: ClusterConfig, state: StateSection) -> list[FieldError]:
    errors = []
    for kind in cast(tuple[StateKind, ...], STATE_KINDS):
        known = getattr(cfg, kind)
        for name in state.of(kind):
            if name not in known:
                errors.append(FieldError(f"state.{kind}.{name}", f"unknown {kind[:-1]} {name!r}"))
    return errors


def cluster_running(read: DatabaseRead) -> list[str]:
    """The nodes holding a live lease in ``read`` (their daemons run)."""
    prefix = read.keys.node_leases_prefix
    return sorted(key[len(prefix) :] for key in read.kvs if key.startswith(prefix))


def _resource_active(status: ResourceStatus) -> bool:
    """Online, pending, or failed on a node: it may still run there."""
    return status.state.active and (status.state is not ResourceState.FAILED or bool(status.node))


def active_removed(read: DatabaseRead, new: ClusterConfig) -> list[str]:
    """What ``new`` removes while it is active, as read: a resource that may run on a node,
    a group wanted online that has an owner. Removing those would orphan what runs."""
    if not read.initialized:
        return []
    current = read.config()
    found = []
    for name in sorted(set(current.groups) - set(new.groups)):
        kv = read.kvs.get(read.keys.state("groups", name))
        group = read.decode(GroupStatus, kv) if kv is not None else None
        if group is not None and group.owner and group.wanted is Wanted.ONLINE:
            found.append(f"group {name!r} (online on {group.owner})")
    for name in sorted(set(current.resources) - set(new.resources)):
        kv = read.kvs.get(read.keys.state("resources", name))
        res = read.decode(ResourceStatus, kv) if kv is not None else None
        if res is not None and _resource_active(res):
            found.append(f"resource {name!r} ({res.state} on {res.node})")
    return found


def removed_state_guard(read: DatabaseRead, new: ClusterConfig) -> list[Compare]:
    """The status revisions of every group and resource ``new`` removes, as read: the
    transaction fails if any of them was written since (the check above went stale)."""
    if not read.initialized:
        return []
    current = read.config()
    keys = [
        read.keys.state(kind, name)
        for kind in cast(tuple[StateKind, ...], ("groups", "resources"))
        for name in sorted(set(getattr(current, kind)) - set(getattr(new, kind)))
    ]
    return [mod_is(key, read.kvs[key].mod_revision if key in read.kvs else 0) for key in keys]


class ConfigWrites:
    """The configuration-writing half of :class:`~wolfpack.store.repository.ClusterDB`."""

    store: Store
    keys: KeySpace

    if TYPE_CHECKING:

        def read(self, cache: DecodeCache | None = None) -> DatabaseRead: ...

    def initialize(self, settings: ClusterSettings) -> ClusterConfig:
        """Create the cluster: schema version, settings and the built-in resource types,
        in one transaction, only if the database holds no cluster yet."""
        cfg = ClusterConfig(cluster=settings, types=builtin_types())
        check_config(cfg)
        for attempt in (1, 2):
            read = self.read()
            read.check_schema()
            if read.initialized:
                raise AlreadyExistsError("cluster", read.config().cluster.name)
            try:
                self._commit(read, cfg, StateSection(), replace_state=False)
                break
            except ConflictError:
                if attempt == 2:
                    raise  # re-checked: someone keeps writing, but no cluster appeared
        return cfg

    def update_config(
        self,
        change: Callable[[ClusterConfig], ClusterConfig],
        *,
        expected_epoch: int | None = None,
        also: Sequence[Op] = (),
        based_on: DatabaseRead | None = None,
        guard: Sequence[Compare] = (),
        check: Callable[[DatabaseRead], Sequence[Compare]] | None = None,
    ) -> ClusterConfig:
        """Apply ``change`` to the current configuration and store the result atomically.

        The whole result is validated first (``ValidationError``: nothing written). The write
        only happens if ``config_epoch`` is unchanged since the read, or equals
        ``expected_epoch`` when given; otherwise ``ConflictError`` and nothing is written.
        ``also``: operations outside the configuration written in the same transaction
        (the API's audit record of the change), even when the configuration is unchanged.
        ``based_on``: a recent read to start from instead of reading now (the API's cached
        one); the epoch check still refuses the write if it is out of date. Only for
        changes that remove no object (their state is deleted by what the read holds).
        ``guard``: more conditions of the same transaction (a coordinator's election token);
        if one fails, ``ConflictError``. ``check``: called with the read the change starts
        from, raises if the change may not happen now and returns the conditions under
        which its verdict holds (the revisions of the state it looked at), compared in the
        transaction like ``guard`` (a delete guard that cannot go stale).
        """
        read = based_on if based_on is not None else self.read()
        current = read.config()
        if expected_epoch is not None and expected_epoch != read.epoch:
            raise self._conflict(expected_epoch)
        if check is not None:
            guard = [*guard, *check(read)]
        new = change(current)
        check_config(new)
        self._commit(read, new, StateSection(), replace_state=False, also=also, guard=guard)
        return new

    def rename(
        self, kind: Renamable, old: str, new: str, *, also: Sequence[Op] = ()
    ) -> ClusterConfig:
        """Rename group or resource ``old`` to ``new`` (S19) in one transaction: the
        configuration with every reference (:func:`wolfpack.model.rename.renamed`), its
        status and a group's failover history moved to the new key. Refused
        (``RejectedError``) while :func:`~wolfpack.model.rename.rename_refusal` says so, on
        the read it starts from; the old status's revision is compared in the transaction,
        so a node that changed it meanwhile makes this a ``ConflictError`` (a retry checks
        again)."""
        read = self.read()
        new_cfg = renamed(read.config(), kind, old, new)
        refusal = rename_refusal(read.snapshot(), kind, old)
        if refusal is not None:
            raise refusal
        check_config(new_cfg)
        k = self.keys
        # the old status goes with its name (_commit deletes what is no longer configured)
        moves = [(k.state(kind, old), k.state(kind, new), read.kvs.get(k.state(kind, old)))]
        if kind == "groups":  # kept beside the root, outside the read
            moves.append((k.history(old), k.history(new), self.store.get(k.history(old))))
        ops: list[Op] = []
        guard: list[Compare] = []
        for src, dst, kv in moves:
            guard += [mod_is(src, kv.mod_revision if kv is not None else 0), key_absent(dst)]
            if kv is not None:
                ops.append(Put(dst, kv.value))
                if not src.startswith(k.state_root):
                    ops.append(Delete(src))
        self._commit(read, new_cfg, StateSection(), replace_state=False, also=[*ops, *also],
                     guard=guard)  # fmt: skip
        return new_cfg

    def import_config(
        self,
        change: Callable[[ClusterConfig], ClusterConfig],
        state: StateSection | None = None,
        *,
        replace_state: bool = False,
    ) -> ClusterConfig:
        """Like :meth:`update_config`, but also creates the cluster if there is none yet and
        writes ``state`` in the same transaction (``replace_state``: delete every other
        status). ``change`` gets an empty configuration with the built-in types when the
        database holds no cluster.

        Observed state belongs to the running daemons: writing ``state`` or deleting it
        (``replace_state``) is refused (``RejectedError`` CLUSTER_RUNNING) while any node
        holds a lease, and that is compared in the transaction itself. Otherwise removing a
        group or resource that is active is refused (OBJECTS_ACTIVE), their status
        revisions compared in the transaction. A concurrent write re-reads and re-checks.
        """
        for attempt in range(1, IMPORT_ATTEMPTS + 1):
            read = self.read()
            read.check_schema()
            current = read.config() if read.initialized else ClusterConfig(types=builtin_types())
            new = change(current)
            state = state or StateSection()
            errors = _state_errors(new, state)
            try:
                check_config(new)
            except ValidationError as exc:
                raise ValidationError([*exc.errors, *errors]) from None
            if errors:
                raise ValidationError(errors)
            guard = self._import_guard(read, new, state, replace_state=replace_state)
            try:
                self._commit(read, new, state, replace_state=replace_state, guard=guard)
                return new
            except ConflictError:
                if attempt == IMPORT_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _import_guard(
        self, read: DatabaseRead, new: ClusterConfig, state: StateSection, *, replace_state: bool
    ) -> list[Compare]:
        """H3: what must hold for an import, checked on ``read`` now and again (as compares)
        in its transaction."""
        if replace_state or any(state.of(k) for k in cast(tuple[StateKind, ...], STATE_KINDS)):
            running = cluster_running(read)
            if running:
                what = "delete the observed state" if replace_state else "write a state section"
                raise RejectedError(
                    "CLUSTER_RUNNING",
                    f"an import may only {what} while the cluster is stopped, and nodes "
                    f"{', '.join(running)} hold live leases: stop every wolfpackd first "
                    "(systemctl stop wolfpackd on each node), or import without state",
                )
            return [prefix_empty(self.keys.node_leases_prefix)]
        active = active_removed(read, new)
        if active:
            raise RejectedError(
                "OBJECTS_ACTIVE",
                f"the import would remove {'; '.join(active)} while active: take them "
                "offline first (wolfpack group offline NAME / wolfpack resource offline "
                "NAME), then import again",
            )
        return removed_state_guard(read, new)

    def _documents(self, cfg: ClusterConfig) -> dict[str, bytes]:
        docs = {self.keys.cluster: encode(cfg.cluster)}
        for kind in cast(tuple[ConfigKind, ...], CONFIG_KINDS):
            for name, obj in getattr(cfg, kind).items():
                docs[self.keys.config(kind, name)] = encode(obj)
        return docs

    def _commit(
        self,
        read: DatabaseRead,
        new: ClusterConfig,
        state: StateSection,
        *,
        replace_state: bool,
        also: Sequence[Op] = (),
        guard: Sequence[Compare] = (),
    ) -> None:
        k = self.keys
        current = {key: kv.value for key, kv in read.kvs.items()}
        wanted = self._documents(new)
        for kind in cast(tuple[StateKind, ...], STATE_KINDS):
            for name, status in state.of(kind).items():
                wanted[k.state(kind, name)] = encode(status)
        ops: list[Op] = [Put(key, v) for key, v in sorted(wanted.items()) if current.get(key) != v]
        for key in sorted(current):
            if key in wanted:
                continue
            if key.startswith(k.config_root) or (
                key.startswith(k.state_root) and (replace_state or self._orphan(key, new))
            ):
                ops.append(Delete(key))
        if not ops:
            if also and not self.store.txn(list(guard), list(also)).succeeded:
                raise self._conflict(read.epoch, guarded=bool(guard))
            return
        ops.extend(also)
        compares: list[Compare]
        if read.initialized:
            compares = [mod_is(k.config_epoch, read.epoch)]
            counter = read.kvs[k.config_epoch].value if read.epoch else b"0"
        else:
            # creation: no cluster yet; a schema stamp (keys.ensure_schema) may already exist
            schema = read.kvs.get(k.schema_version)
            compares = [key_absent(k.cluster), mod_is(k.config_epoch, read.epoch)]
            compares.append(mod_is(k.schema_version, schema.mod_revision if schema else 0))
            if schema is None:
                ops.append(Put(k.schema_version, _SCHEMA))
            counter = b"0"
        ops.append(Put(k.config_epoch, str(_counter(counter) + 1).encode()))
        if not self.store.txn([*compares, *guard], ops).succeeded:
            raise self._conflict(read.epoch, guarded=bool(guard))

    def _orphan(self, key: str, cfg: ClusterConfig) -> bool:
        """A status whose object is no longer configured."""
        for kind in STATE_KINDS:
            prefix = self.keys.state_prefix(cast(StateKind, kind))
            if key.startswith(prefix):
                return key[len(prefix) :] not in getattr(cfg, kind)
        return False

    def _conflict(self, epoch: int, *, guarded: bool = False) -> ConflictError:
        also = " or the state it was checked against" if guarded else ""
        return ConflictError(
            f"conflict on {self.keys.config_epoch!r}: the configuration{also} was changed by "
            f"someone else after it was read (epoch {epoch}); nothing was written, re-read "
            "and retry"
        )


def _counter(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
