"""Web Server (agent ``nginx``): an nginx instance serving a docroot on the group's disk.

The IIS analog of DESIGN §3. Each resource gets its own nginx with its own configuration,
written at every start to ``<run_dir>/resources/<name>/nginx.conf``; everything nginx writes
(pid file, error and access logs, temporary files) lives beside it, so the system's nginx
and its ``/etc/nginx`` are never involved. The configuration serves ``docroot`` on
``listen_address:port`` and answers ``GET /wolfpack-health`` with 200 ``ok``.

This is a :class:`~wolfpack.resources.application.ApplicationAgent` whose command is
``nginx -c CONF -p DIR -g 'daemon off;'``: the master runs in the foreground as the
supervised child (a crash is reported through ``ctx.on_failure`` at once), as the daemon's
account so that it can bind any port; its workers run as ``user`` (default www-data).

* start: write the configuration, check it with ``nginx -t`` (a wrong one is
  ``ERR_CONFIGURED`` with nginx's own words), start nginx and return once the health
  location answers; an nginx that exits while starting (port in use, address not on this
  node) is ``ERR_CONFIGURED`` with what nginx said.
* stop: SIGQUIT (graceful: finish the requests in progress), then what the application
  agent does (SIGTERM, SIGKILL) to whatever is left.
* looks_alive: the master runs; is_alive: the health location answers 200.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import signal
import time
from pathlib import Path

from wolfpack.errors import AgentError
from wolfpack.resources.application import (
    ApplicationAgent,
    _Phase,
    _read_from,
    _Record,
    _Settings,
)
from wolfpack.resources.base import AgentResult
from wolfpack.resources.commands import (
    DEFAULT_PATH,
    Account,
    RunResult,
    StartGate,
    blocked_ancestor,
    run_bounded,
    tail,
)
from wolfpack.resources.process import (
    ProcessGroup,
    Watch,
    _signal_verified,
    describe_exit,
    proc_cmdline,
)

__all__ = ["HEALTH_PATH", "WebServerAgent"]

#: the location every instance answers with 200 "ok" (is_alive, start)
HEALTH_PATH = "/wolfpack-health"
#: bound of one health request and of ``nginx -t``
PROBE_TIMEOUT_S = 5
CONFIG_TEST_TIMEOUT_S = 20
#: share of the stop timeout given to the graceful SIGQUIT
GRACEFUL_SHARE = 0.6
DEFAULT_WORKER_USER = "www-data"
MIME_TYPES = Path("/etc/nginx/mime.types")
#: beside nginx.conf: the stamp of the configuration ``nginx -t`` last accepted
TESTED_MARKER = "nginx.conf.tested"
_UNSAFE = set('"\\$\n\r\t\0')
#: nginx's master rewrites its command line to this prefix plus its argv joined by spaces
_MASTER_TITLE = "nginx: master process "


def _q(value: str) -> str:
    """A path as an nginx quoted string (callers reject the characters it cannot hold)."""
    return f'"{value}"'


class WebServerAgent(ApplicationAgent):
    #: the start check is one in-process GET of a local address (a refused connection costs
    #: microseconds), so nginx's readiness is seen within 10 ms, not 50
    check_every_s = 0.01

    # -- properties --------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.state_dir / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.log_path("error.log")

    def settings(self) -> _Settings:
        """The properties checked on this node; AgentError naming the first one at fault."""
        nginx = shutil.which("nginx", path=DEFAULT_PATH)
        if nginx is None:
            raise self.error(
                AgentResult.ERR_INSTALLED,
                f"nginx is not installed on this node (not found in {DEFAULT_PATH})",
            )
        docroot = self.prop_str("docroot", required=True)
        assert docroot is not None
        if not os.path.isabs(docroot) or _UNSAFE & set(docroot):
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"{docroot!r} must be an absolute path without quotes, backslashes, '$'"
                " or control characters",
                "docroot",
            )
        if not os.path.isdir(docroot):
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"docroot {docroot!r} does not exist on this node (is the group's disk online"
                " here?)",
                "docroot",
            )
        self.listen_endpoint(80)
        worker = self._worker_account()
        blocked = None if worker is None else blocked_ancestor(Path(docroot, "-"), worker)
        if worker is not None and blocked is not None:
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"nginx's workers run as {worker.name!r}, which cannot reach docroot"
                f" {docroot!r}: {str(blocked)!r} (mode {blocked.stat().st_mode & 0o777:o})"
                " does not let it through",
                "docroot",
            )
        logs = self.ctx.log_dir / self.name if self.ctx.log_dir is not None else None
        for what, where in (("run", self.state_dir), ("resource log", logs)):
            if where is not None and _UNSAFE & set(str(where)):
                raise self.error(
                    AgentResult.ERR_CONFIGURED,
                    f"the node's {what} directory {str(where)!r} cannot be named in an"
                    " nginx configuration",
                )
        account = Account.current()
        argv = (nginx, "-c", str(self.config_file), "-p", f"{self.state_dir}/", "-g", "daemon off;")
        return _Settings(
            argv=argv,
            directory="/",
            account=account,
            env=account.environment(
                {"WOLFPACK_RESOURCE": self.name, "WOLFPACK_NODE": self.ctx.node}
            ),
            check=("GET", self._health_url()),  # answered in-process by _check
            check_timeout_s=PROBE_TIMEOUT_S,
        )

    def _worker_account(self) -> Account | None:
        """The account nginx's workers run as, or None when this daemon cannot switch."""
        user = self.prop_str("user") or DEFAULT_WORKER_USER
        try:
            account = Account.lookup(user)
        except KeyError:
            raise self.error(
                AgentResult.ERR_CONFIGURED, f"no account {user!r} on this node", "user"
            ) from None
        return account if account.switch else None

    def _health_url(self) -> str:
        address, port = self.listen_endpoint(80)
        return f"http://{address}:{port}{HEALTH_PATH}"

    # -- configuration -----------------------------------------------------------------------
    def render_config(self) -> str:
        """The nginx.conf for the current properties."""
        docroot = self.prop_str("docroot", required=True)
        assert docroot is not None
        address, port = self.listen_endpoint(80)
        worker = self._worker_account()
        d = self.state_dir
        mime = (
            f"include {_q(str(MIME_TYPES))};"
            if MIME_TYPES.is_file()
            else "types { text/html html htm; text/css css; application/javascript js; }"
        )
        temp = "\n".join(
            f"    {kind}_temp_path {_q(str(d / 'temp' / kind))};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""\
# Written by wolfpack for resource {self.name!r} on {self.ctx.node}; rewritten at every start.
{f"user {worker.name};" if worker else "# workers run as the daemon's account"}
worker_processes auto;
pid {_q(str(d / "nginx.pid"))};
error_log {_q(str(self.error_log))} warn;

events {{
    worker_connections 1024;
}}

http {{
    {mime}
    default_type application/octet-stream;
    access_log {_q(str(self.log_path("access.log")))};
{temp}
    sendfile on;
    server_tokens off;

    server {{
        listen {address}:{port};
        server_name _;
        root {_q(docroot)};
        index index.html index.htm;

        location = {HEALTH_PATH} {{
            access_log off;
            default_type text/plain;
            return 200 "ok\\n";
        }}
    }}
}}
"""

    def _write_config(self, cfg: _Settings) -> None:
        """Write the configuration and have nginx check it: ERR_CONFIGURED with its words.
        A configuration nginx already accepted here (the same text, the same nginx and
        mime.types: :meth:`_tested_stamp`) is not checked again: the check is a process
        start on every failover's path, and nginx still refuses a bad one when it starts."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "temp").mkdir(exist_ok=True)
        text = self.render_config()
        stamp = self._tested_stamp(cfg, text)
        marker = self.state_dir / TESTED_MARKER
        tmp = self.config_file.with_name(".nginx.conf.tmp")
        tmp.write_text(text)
        tmp.replace(self.config_file)
        with contextlib.suppress(OSError):
            if marker.read_text() == stamp:
                return
        marker.unlink(missing_ok=True)
        test = (*cfg.argv[:5], "-t", *cfg.argv[5:])  # nginx -c CONF -p DIR -t -g ...
        try:
            result = run_bounded(
                cfg.account, test, timeout_s=CONFIG_TEST_TIMEOUT_S, cwd="/", env=cfg.env
            )
        except OSError as exc:
            raise self.error(
                AgentResult.ERR_INSTALLED, f"cannot run {cfg.argv[0]!r}: {exc.strerror or exc}"
            ) from exc
        if result.returncode != 0:
            said = result.output or describe_exit(result.returncode or 0)
            if result.returncode is None:
                said = f"nginx -t did not finish within {CONFIG_TEST_TIMEOUT_S} s"
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"nginx rejects the configuration {str(self.config_file)!r}: {said}",
            )
        self.log("nginx_config_tested", config=str(self.config_file))
        with contextlib.suppress(OSError):
            marker.write_text(stamp)

    @staticmethod
    def _tested_stamp(cfg: _Settings, text: str) -> str:
        """What a passed ``nginx -t`` vouches for: the configuration's text, the account it
        ran as, and the nginx program and mime.types it read (path, size, change time)."""
        digest = hashlib.sha256(text.encode())
        digest.update(f"\0{cfg.account.name}".encode())
        for path in (cfg.argv[0], str(MIME_TYPES)):
            try:
                st = os.stat(path)
                digest.update(f"\0{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}".encode())
            except OSError:
                digest.update(f"\0{path}:absent".encode())
        return digest.hexdigest()

    # -- start (hooks of ApplicationAgent.start) ------------------------------------------------
    def _spawn(self, cfg: _Settings, gate: StartGate) -> tuple[int, Watch, int]:
        self._write_config(cfg)
        return super()._spawn(cfg, gate)

    def _wait_online(self, cfg: _Settings, watch: Watch, deadline: float, offset: int) -> None:
        try:
            super()._wait_online(cfg, watch, deadline, offset)
        except AgentError as exc:
            if not watch.exited.is_set():
                raise self.error(
                    AgentResult.ERR_GENERIC,
                    f"nginx did not answer {cfg.check[1] if cfg.check else ''} within the start"
                    f" timeout ({exc})",
                    "port",
                ) from exc
            said = _read_from(self.output_log, offset)
            prop = "port" if "in use" in said else "listen_address" if "bind()" in said else None
            raise self.error(
                AgentResult.ERR_CONFIGURED,
                f"nginx {describe_exit(watch.returncode)} while starting; it said: {said}",
                prop,
            ) from exc

    def _check(self, cfg: _Settings, timeout_s: float) -> RunResult:
        """GET the health location in-process; 0 for a 200, 1 (with the reason) otherwise."""
        address, port = self.listen_endpoint(80)
        conn = http.client.HTTPConnection(address, port, timeout=max(timeout_s, 0.1))
        try:
            conn.request("GET", HEALTH_PATH, headers={"User-Agent": "wolfpack"})
            response = conn.getresponse()
            body = response.read(200)
        except (OSError, http.client.HTTPException) as exc:
            return RunResult(1, f"GET {HEALTH_PATH}: {exc}", None)
        finally:
            conn.close()
        if response.status != 200:
            return RunResult(1, f"GET {HEALTH_PATH}: {response.status} {tail(body)}", None)
        return RunResult(0, "", None)

    # -- stop --------------------------------------------------------------------------------
    def stop(self, timeout_s: float) -> None:
        """SIGQUIT to the master (graceful), then SIGTERM/SIGKILL to whatever is left."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._phase = _Phase.STOPPING  # an exit from now on is no failure
            group = self._group
        if group is None:
            group = self._recorded_master()
        if group is not None and group.leader_alive():
            self.log("agent_signal", signal="SIGQUIT", pid=group.pid)
            _signal_verified(group.pid, group.start_time, signal.SIGQUIT)
            group.wait_gone(max(0.0, timeout_s * GRACEFUL_SHARE))
        super().stop(max(0.0, deadline - time.monotonic()))

    def _recorded_master(self) -> ProcessGroup | None:
        """The master recorded in the pid file by an earlier instance, if it is still it."""
        record = _Record.load(self.pid_file)
        if record is None or not record.group.leader_alive():
            return None
        argv = proc_cmdline(record.group.pid)
        return record.group if argv and argv[0].startswith(_MASTER_TITLE) else None

    # -- adopt -------------------------------------------------------------------------------
    def adopt(self) -> bool:
        """As the application agent, knowing that nginx's master renames itself: a recorded
        master whose title is ``nginx: master process <argv>`` is the one we started."""
        record = _Record.load(self.pid_file)
        if record is not None and record.group.leader_alive():
            argv = proc_cmdline(record.group.pid)
            if argv == [_MASTER_TITLE + " ".join(record.argv)]:
                with contextlib.suppress(OSError):
                    _Record(record.group, tuple(argv)).save(self.pid_file)
        return super().adopt()
