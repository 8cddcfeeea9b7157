"""The Debian package under a real systemd (issue 13 items 1-3): ``scripts/build-deb``
builds it; ``apt install ./wolfpack_*.deb`` into a fresh Debian 12 root (debootstrap, booted
with ``systemd-nspawn -b`` in a private network namespace, an etcd started by Debian's own
etcd.service); the untouched example configuration fails once with exit status 78 and is
not restarted; a real one reaches active through sd_notify and stays active under the
watchdog; errors and warnings reach the journal with their priority; the log file survives
logrotate; ``systemctl restart wolfpackd`` on a node in maintenance moves nothing (the
resource's process, its cgroup, the group's owner and state stay; no failover, restart or
stop in the log) and after ``node resume`` the adopted process is monitored again (killed,
it is restarted); ``apt remove`` keeps /etc/wolfpack/wolfpackd.yaml, ``apt purge`` removes it.

The debootstrap root is cached as a tarball under /var/tmp/wolfpack-debootstrap-cache
(made on first use, about two minutes); each run unpacks it into a unique directory under
/var/tmp and removes it afterwards. Drive the booted container with ``nsenter`` on its init.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path("/var/tmp/wolfpack-debootstrap-cache")
#: what the cached root holds besides minbase: systemd to boot, etcd for the daemon, and the
#: package's Depends and Recommends (the container has no network: apt needs nothing more)
INCLUDE = "systemd,systemd-sysv,dbus,etcd-server,etcd-client,python3.11,logrotate,iproute2"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
TOOLS = ("debootstrap", "systemd-nspawn", "nsenter", "dpkg-deb", "tar")

pytestmark = [pytest.mark.deb, pytest.mark.timeout(900)]  # a first run debootstraps


def _unusable() -> str | None:
    """Why this test cannot run here (the skip reason), or None."""
    if os.geteuid() != 0:
        return "needs root: debootstrap and systemd-nspawn create and boot a root file system"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)}: apt-get install debootstrap systemd-container"
    if not Path("/usr/bin/python3.11").exists():
        return "scripts/build-deb needs Debian's /usr/bin/python3.11"
    return None


def _mirror() -> str:
    for line in Path("/etc/apt/sources.list.d/debian.sources").read_text().splitlines():
        if line.startswith("URIs:"):
            return line.split()[1]
    return "http://deb.debian.org/debian"


@pytest.fixture(scope="module")
def base_tar() -> Path:
    """A fresh Debian 12 root with INCLUDE, as a tarball (cached across runs)."""
    reason = _unusable()
    if reason:
        pytest.skip(reason)
    key = hashlib.sha1(INCLUDE.encode()).hexdigest()[:10]
    tar = CACHE / f"bookworm-{key}.tar"
    if tar.exists():
        return tar
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = CACHE / f"staging-{uuid.uuid4().hex[:8]}"
    try:
        boot = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={INCLUDE}", "bookworm",
             str(staging), _mirror()],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if boot.returncode != 0:
            pytest.skip(f"debootstrap from {_mirror()} failed: {boot.stderr.strip()[-400:]}")
        # debootstrap writes no /etc/hosts: etcd's default 'localhost' must resolve offline
        (staging / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
        (staging / "etc/hostname").write_text("wolfpack-deb-test\n")
        part = tar.with_suffix(".part")
        subprocess.run(["tar", "-C", str(staging), "-cf", str(part), "."], check=True)
        part.rename(tar)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tar


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory, base_tar: Path) -> Path:
    """The package, built by the script (or $WOLFPACK_DEB, already built)."""
    given = os.environ.get("WOLFPACK_DEB")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("deb")
    subprocess.run([str(REPO / "scripts/build-deb"), str(out)], check=True, timeout=600,
                   capture_output=True)  # fmt: skip
    (built,) = out.glob("wolfpack_*.deb")
    return built


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class Container:
    """A Debian root booted with systemd-nspawn; ``sh`` runs a command in it."""

    def __init__(self, tar: Path) -> None:
        self.name = f"wolfpack-deb-{uuid.uuid4().hex[:8]}"
        self.root = Path("/var/tmp") / self.name
        self.root.mkdir()
        subprocess.run(["tar", "-C", str(self.root), "-xf", str(tar)], check=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.init = 0

    def boot(self) -> None:
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", str(self.root), "-b", "--register=no", "--keep-unit",
             "--private-network", f"--machine={self.name}", "--console=read-only"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.init and time.monotonic() < deadline:
            for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
                kids = task.read_text().split()
                # nspawn's own helper children come and go first: only systemd is the init
                if kids and _comm(int(kids[0])) == "systemd":
                    self.init = int(kids[0])
            time.sleep(0.2)
        assert self.init, "systemd-nspawn started no init"
        deadline = time.monotonic() + 120
        while True:  # right after exec, init may not have its bus socket yet: ask again
            state = self.sh("systemctl is-system-running --wait", timeout=120, check=False)
            if "Failed to connect to bus" not in state.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert state.stdout.strip() in ("running", "degraded"), state

    def sh(
        self, command: str, *, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["nsenter", "-t", str(self.init), "-a", "/bin/sh", "-c", command],
            capture_output=True, text=True, timeout=timeout, env=ENV,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, (command, result.stdout, result.stderr)
        return result

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.sh(f"systemctl show {unit} " + " ".join(f"-p {p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # nspawn -b: an orderly poweroff
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{self.name}", ignore_errors=True)


@pytest.fixture
def container(base_tar: Path) -> Iterator[Container]:
    box = Container(base_tar)
    try:
        box.boot()
        yield box
    finally:
        box.close()


def test_package_contents(deb: Path) -> None:
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    wanted = [
        "./usr/bin/wolfpack -> /opt/wolfpack/bin/wolfpack",
        "./usr/sbin/wolfpackd -> /opt/wolfpack/bin/wolfpackd",
        "./lib/systemd/system/wolfpackd.service",
        "./etc/wolfpack/wolfpackd.yaml",
        "./etc/logrotate.d/wolfpack",
        "./usr/share/doc/wolfpack/copyright",
        "./usr/share/doc/wolfpack/docs/daemon.md",
        "./usr/share/man/man8/wolfpackd.8.gz",
        "./opt/wolfpack/bin/python3.11",
    ]
    assert [p for p in wanted if p not in listing] == []
    info = subprocess.run(["dpkg-deb", "-I", str(deb), "conffiles"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert info.split() == ["/etc/wolfpack/wolfpackd.yaml", "/etc/logrotate.d/wolfpack"]


#: /etc/default/etcd for one member on localhost with TLS and JWT tokens (install.md §4)
ETCD_DEFAULTS = """\
ETCD_NAME="deb"
ETCD_DATA_DIR="/var/lib/etcd/wolfpack"
ETCD_LISTEN_CLIENT_URLS="https://127.0.0.1:2379"
ETCD_ADVERTISE_CLIENT_URLS="https://127.0.0.1:2379"
ETCD_LISTEN_PEER_URLS="https://127.0.0.1:2380"
ETCD_INITIAL_ADVERTISE_PEER_URLS="https://127.0.0.1:2380"
ETCD_INITIAL_CLUSTER="deb=https://127.0.0.1:2380"
ETCD_CLIENT_CERT_AUTH="true"
ETCD_TRUSTED_CA_FILE="/etc/etcd/pki/ca.crt"
ETCD_CERT_FILE="/etc/etcd/pki/server.crt"
ETCD_KEY_FILE="/etc/etcd/pki/server.key"
ETCD_PEER_CLIENT_CERT_AUTH="true"
ETCD_PEER_TRUSTED_CA_FILE="/etc/etcd/pki/ca.crt"
ETCD_PEER_CERT_FILE="/etc/etcd/pki/peer.crt"
ETCD_PEER_KEY_FILE="/etc/etcd/pki/peer.key"
ETCD_PEER_CERT_ALLOWED_CN="wolfpack-etcd-peer"
ETCD_AUTH_TOKEN="jwt,pub-key=/etc/etcd/pki/jwt.pub,priv-key=/etc/etcd/pki/jwt.key,sign-method=ES256,ttl=10m"
"""
CLIENT_CONFIG = """\
endpoint: https://127.0.0.1:2379
etcd_ca: /root/.config/wolfpack/etcd/ca.crt
etcd_cert: /root/.config/wolfpack/etcd/admin.crt
etcd_key: /root/.config/wolfpack/etcd/admin.key
"""


def secure_etcd(box: Container) -> None:
    """The administrator's steps of install.md section 4, in the box: a CA, the member's
    certificates, an admin, etcd restarted with TLS on a new data dir, authentication on."""
    box.sh("wolfpack cluster certs init --cluster deb --dir /root/pki")
    box.sh("wolfpack cluster certs member deb --address 127.0.0.1 --dir /root/pki "
           "--out /etc/etcd/pki && chown -R etcd: /etc/etcd/pki")  # fmt: skip
    box.sh("wolfpack cluster certs issue --admin root --offline --dir /root/pki "
           "--out /root/.config/wolfpack/etcd")  # fmt: skip
    (box.root / "root/.config/wolfpack/config.yaml").write_text(CLIENT_CONFIG)
    box.sh("systemctl stop etcd")
    (box.root / "etc/default/etcd").write_text(ETCD_DEFAULTS)
    box.sh("systemctl start etcd", timeout=120)
    enabled = json.loads(box.sh("wolfpack cluster certs enable-auth --json").stdout)
    assert enabled == {"enabled": True, "admin": "admin:root"}


#: prints the PIDs of the processes whose command line is ``sleep infinity`` (no procps here)
PIDS = (
    "import os; print(' '.join(p for p in os.listdir('/proc') if p.isdigit() and "
    "open(f'/proc/{p}/cmdline', 'rb').read() == b'/usr/bin/sleep\\0infinity\\0'))"
)
#: log events that would mean something was started, stopped, failed over or fenced
MOVES = {"plan", "resource_online", "resource_stopped", "resource_failed", "stop_everything",
         "leftover_cleaned", "agent_killed", "fenced", "fence_unavailable"}  # fmt: skip


def sleeper(box: Container, *, not_pid: int = 0, timeout: float = 60) -> int:
    """The PID of the resource's ``sleep infinity`` once it is Online (and not ``not_pid``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [int(p) for p in box.sh(f'python3.11 -c "{PIDS}"').stdout.split()]
        state = json.loads(box.sh("wolfpack resource show app --json").stdout)["state"]
        if state == "Online" and len(pids) == 1 and pids[0] != not_pid:
            return pids[0]
        time.sleep(0.5)
    raise AssertionError(f"app not Online with one new process: {pids}, {state}")


def unified_cgroup(box: Container, pid: int) -> str:
    """The process's cgroup v2 line (``0::/...``; a hybrid host lists v1 ones too)."""
    lines = box.sh(f"cat /proc/{pid}/cgroup").stdout.splitlines()
    return next(line for line in lines if line.startswith("0::"))


def log_events(box: Container, after_line: int) -> list[dict[str, object]]:
    lines = box.sh("cat /var/log/wolfpack/wolfpackd.log").stdout.splitlines()[after_line:]
    return [json.loads(line) for line in lines if line.startswith("{")]


def restart_in_maintenance(box: Container) -> None:
    """Issue 13: ``systemctl restart wolfpackd`` in maintenance moves nothing (Pacemaker's
    node maintenance: unmanaged, not stopped); after ``node resume`` it is managed again."""
    box.sh("wolfpack group create Web --preferred-owners node1")
    box.sh('wolfpack resource create app --type "Generic Application" --group Web '
           '--prop command="/usr/bin/sleep infinity"')  # fmt: skip
    box.sh("wolfpack group online Web", check=False)  # placed anyway: wanted Online
    pid = sleeper(box)
    cgroup = unified_cgroup(box, pid)
    assert cgroup.startswith("0::/system.slice/wolfpackd.service/wolfpack-node1-"), cgroup
    assert cgroup.endswith("/app"), cgroup
    said = json.loads(box.sh("wolfpack node maintenance node1 --json").stdout)
    assert said == {"node": "node1", "maintenance": True}, said
    group = json.loads(box.sh("wolfpack group show Web --json").stdout)
    assert (group["owner"], group["state"]) == ("node1", "Online"), group
    daemon = box.show("wolfpackd", "MainPID")["MainPID"]
    mark = len(box.sh("cat /var/log/wolfpack/wolfpackd.log").stdout.splitlines())

    box.sh("systemctl restart wolfpackd", timeout=150)
    time.sleep(5)  # some coordinator ticks: a wrong plan would have been made by now
    assert box.show("wolfpackd", "MainPID")["MainPID"] != daemon  # it did restart
    assert box.sh(f'python3.11 -c "{PIDS}"').stdout.split() == [str(pid)]
    assert unified_cgroup(box, pid) == cgroup  # not orphaned
    after = json.loads(box.sh("wolfpack group show Web --json").stdout)
    assert (after["owner"], after["state"]) == ("node1", "Online"), after
    assert after["status"]["failovers"] == group["status"]["failovers"], after
    resource = json.loads(box.sh("wolfpack resource show app --json").stdout)
    assert (resource["state"], resource["node"]) == ("Online", "node1"), resource
    events = log_events(box, mark)
    names = [str(e["event"]) for e in events]
    assert {"stopping", "resources_left_running", "resource_adopted", "started"} <= set(names)
    left = next(e for e in events if e["event"] == "resources_left_running")
    assert left["resources"] == ["app"], left
    assert [e for e in events if e["event"] in MOVES] == [], names

    # out of maintenance the adopted process is watched again: killed, it is restarted
    box.sh("wolfpack node resume node1")
    mark = len(box.sh("cat /var/log/wolfpack/wolfpackd.log").stdout.splitlines())
    time.sleep(2)
    box.sh(f"kill -9 {pid}")
    restarted = sleeper(box, not_pid=pid, timeout=90)
    assert restarted != pid
    names = [str(e["event"]) for e in log_events(box, mark)]
    assert "resource_failed" in names and "resource_online" in names, names
    group = json.loads(box.sh("wolfpack group show Web --json").stdout)
    assert (group["owner"], group["state"]) == ("node1", "Online"), group


def test_install_run_remove_purge_under_systemd(deb: Path, container: Container) -> None:
    box = container
    shutil.copy(deb, box.root / "root" / deb.name)
    box.sh(f"DEBIAN_FRONTEND=noninteractive apt-get install -y /root/{deb.name}", timeout=300)
    assert box.sh("wolfpack --version").stdout.strip().startswith("wolfpack ")
    assert box.sh("wolfpackd --version").stdout.strip().startswith("wolfpackd ")
    assert box.sh("systemctl is-enabled wolfpackd").stdout.strip() == "enabled"
    verify = box.sh("systemd-analyze verify --man=no wolfpackd.service", check=False)
    assert verify.returncode == 0 and "wolfpackd" not in verify.stderr, verify.stderr
    assert box.sh("systemctl is-active wolfpackd", check=False).stdout.strip() == "inactive"
    box.sh("systemctl is-active etcd || systemctl start etcd")  # Debian's own etcd.service

    # the example configuration as shipped: no node, no fence agent -> 78, once
    started = box.sh("systemctl start wolfpackd", check=False)
    assert started.returncode != 0
    time.sleep(4)  # RestartSec=2s: a restart would have happened by now
    shown = box.show("wolfpackd", "ActiveState", "ExecMainStatus", "NRestarts", "Result")
    assert shown == {"ActiveState": "failed", "ExecMainStatus": "78", "NRestarts": "0",
                     "Result": "exit-code"}, shown  # fmt: skip
    said = box.sh("journalctl -u wolfpackd -o cat --no-pager").stdout
    assert "wolfpackd: node: " in said and "fence.agent" in said, said

    # a real configuration: etcd with TLS and users as install.md section 4 says (C1)
    secure_etcd(box)
    box.sh("wolfpack cluster create deb --secret-file /etc/wolfpack/secret")
    box.sh("wolfpack node create node1 --id 1")
    box.sh("wolfpack cluster certs issue --node node1 --dir /root/pki --out /etc/wolfpack/etcd")
    # nobody without a certificate gets in, plain HTTP least of all
    fetch = "import ssl, sys, urllib.request as u; c = ssl.create_default_context(cafile='/root/pki/ca.crt'); print(u.urlopen(sys.argv[1], timeout=3, context=c).read())"  # noqa: E501
    plain = box.sh(f'python3.11 -c "{fetch}" http://127.0.0.1:2379/health', check=False)
    bare = box.sh(f'python3.11 -c "{fetch}" https://127.0.0.1:2379/health', check=False)
    assert plain.returncode != 0 and bare.returncode != 0, (plain, bare)
    # READY=1 makes it active; the watchdog keeps it so
    box.sh("sed -i 's/^# node: node1/node: node1/' /etc/wolfpack/wolfpackd.yaml && "
           "printf 'fence:\\n  agent: none\\n' >> /etc/wolfpack/wolfpackd.yaml")  # fmt: skip
    box.sh("systemctl reset-failed wolfpackd && systemctl start wolfpackd", timeout=120)
    assert box.show("wolfpackd", "ActiveState", "SubState") == {
        "ActiveState": "active",
        "SubState": "running",
    }
    watch = box.show("wolfpackd", "WatchdogUSec", "Type", "KillMode", "Delegate")
    assert watch == {"WatchdogUSec": "10s", "Type": "notify", "KillMode": "process",
                     "Delegate": "yes"}, watch  # fmt: skip
    time.sleep(12)  # longer than WatchdogSec: the pings keep it alive
    shown = box.show("wolfpackd", "ActiveState", "NRestarts")
    assert shown == {"ActiveState": "active", "NRestarts": "0"}, shown
    warnings = box.sh("journalctl -u wolfpackd -p warning -o cat --no-pager").stdout
    assert '"event": "fencing_disabled"' in warnings, warnings  # <4>: PRIORITY=4
    assert '"event": "started"' not in warnings, warnings  # <6>: info
    assert '"event": "started"' in box.sh("cat /var/log/wolfpack/wolfpackd.log").stdout

    # logrotate moves the file; the daemon's next lines go to a new one
    box.sh("logrotate -f /etc/logrotate.d/wolfpack && systemctl restart wolfpackd")
    assert '"event": "started"' in box.sh("cat /var/log/wolfpack/wolfpackd.log.1").stdout
    assert '"event": "started"' in box.sh("cat /var/log/wolfpack/wolfpackd.log").stdout

    restart_in_maintenance(box)

    box.sh("DEBIAN_FRONTEND=noninteractive apt-get remove -y wolfpack", timeout=180)
    assert box.sh("test -f /etc/wolfpack/wolfpackd.yaml", check=False).returncode == 0
    assert box.sh("test -e /opt/wolfpack/bin/wolfpackd", check=False).returncode != 0
    assert box.sh("systemctl is-active wolfpackd", check=False).stdout.strip() != "active"
    box.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y wolfpack", timeout=180)
    gone = box.sh("ls -d /etc/wolfpack /var/log/wolfpack /var/lib/wolfpack", check=False)
    assert gone.returncode != 0 and gone.stdout.strip() == "", gone
    status = box.sh("dpkg-query -W -f='${Status}' wolfpack", check=False).stdout
    assert "installed" not in status.replace("not-installed", ""), status
