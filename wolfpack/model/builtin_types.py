"""The resource types every cluster knows (S26, S31), with their property schemas.

Agents implementing them live in ``wolfpack.resources``; the schema here is what the cluster
database validates before anything is stored.
"""

from __future__ import annotations

from wolfpack.model.config import PropertyKind as K
from wolfpack.model.config import PropertySpec as P
from wolfpack.model.config import ResourceType

IP_ADDRESS = "IP Address"
NETWORK_NAME = "Network Name"
PHYSICAL_DISK = "Physical Disk"
GENERIC_APPLICATION = "Generic Application"
GENERIC_SCRIPT = "Generic Script"
GENERIC_SERVICE = "Generic Service"
WEB_SERVER = "Web Server"
POSTGRESQL = "PostgreSQL Server"
OCF = "OCF Resource Agent"

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        IP_ADDRESS,
        agent="ip",
        description="A virtual IPv4 address on a client network, announced by gratuitous ARP",
        properties=(
            P("address", K.IPV4, required=True, description="The virtual address"),
            P("network", K.STRING, required=True, description="Cluster network to add it on"),
            P("prefix_length", K.INT, default=24, minimum=1, maximum=32),
        ),
    ),
    ResourceType(
        NETWORK_NAME,
        agent="network-name",
        description="A virtual computer name registered in DNS by dynamic update (S10, S16)",
        properties=(
            P("name", K.HOSTNAME, required=True, description="Host name, e.g. www"),
            P("ttl", K.INT, default=30, minimum=1, maximum=86400, description="Record TTL (s)"),
            P("zone", K.HOSTNAME, default="cluster.test", description="DNS zone of the name"),
            P("server", K.IPV4, default="127.0.0.1", description="DNS server for updates"),
            P("port", K.INT, default=53, minimum=1, maximum=65535, description="Its port"),
            P("key_file", K.PATH, description="TSIG key file (tsig-keygen's format)"),
            P("key_name", K.STRING, description="Key in key_file (default: its only key)"),
            P("address", K.IPV4, description="Address to register (the IP Address's)"),
        ),
        required_dependencies=(IP_ADDRESS,),
    ),
    ResourceType(
        PHYSICAL_DISK,
        agent="disk",
        description="A shared ext4 filesystem (with MMP) mounted on one node at a time, claimed"
        " in the cluster database first (S6, S24)",
        properties=(
            P(
                "device",
                K.STRING,
                required=True,
                description="Block device (/dev/loop7, /dev/disk/by-id/...), UUID=... or LABEL=...",
            ),
            P(
                "mountpoint",
                K.PATH,
                required=True,
                description="Where to mount it (made if absent)",
            ),
            P("fstype", K.STRING, default="ext4", choices=("ext4", "xfs"), description="ext4 only"),
            P("mount_options", K.STRING, description="mount -o options, e.g. noatime,data=ordered"),
            P(
                "fsck_repair",
                K.BOOL,
                default=False,
                description="After an unclean unmount run e2fsck -y (fix everything), not -p",
            ),
        ),
    ),
    ResourceType(
        GENERIC_APPLICATION,
        agent="application",
        description="Any program, supervised as a child process (S31)",
        properties=(
            P("command", K.STRING, required=True, description="Command line to run"),
            P("directory", K.PATH, default="/", description="Working directory"),
            P("user", K.STRING, default="root", description="Account it runs as (S11, S41)"),
            P("environment", K.LIST, default=[], description="NAME=value entries"),
            P(
                "check_command",
                K.STRING,
                description="Command whose exit 0 means the program answers (start waits for it;"
                " IsAlive runs it)",
            ),
            P("check_timeout_s", K.INT, default=10, minimum=1, description="Bound of one check"),
            P(
                "stop_timeout_s",
                K.INT,
                default=10,
                minimum=0,
                description="Seconds between SIGTERM and SIGKILL at stop",
            ),
        ),
    ),
    ResourceType(
        GENERIC_SCRIPT,
        agent="script",
        description="A script implementing start, stop and status",
        properties=(
            P("script", K.PATH, required=True, description="Called as: script start|stop|status"),
            P(
                "status_timeout_s",
                K.INT,
                default=10,
                minimum=1,
                description="Bound of one status call (LooksAlive/IsAlive)",
            ),
        ),
    ),
    ResourceType(
        GENERIC_SERVICE,
        agent="service",
        description="A system service: a systemd unit where systemd runs, else a supervised"
        " command (S31)",
        properties=(
            P("service", K.STRING, required=True, description="Unit name, e.g. chrony.service"),
            P("command", K.STRING, description="Without systemd: the command line to supervise"),
            P("directory", K.PATH, default="/", description="Without systemd: working directory"),
            P("user", K.STRING, default="root", description="Without systemd: its account (S41)"),
            P("environment", K.LIST, default=[], description="Without systemd: NAME=value entries"),
            P(
                "stop_timeout_s",
                K.INT,
                default=10,
                minimum=0,
                description="Without systemd: seconds between SIGTERM and SIGKILL at stop",
            ),
        ),
    ),
    ResourceType(
        WEB_SERVER,
        agent="nginx",
        description="An nginx instance serving a docroot on the group's disk (IIS analog)",
        properties=(
            P("docroot", K.PATH, required=True),
            P("listen_address", K.IPV4, required=True),
            P("port", K.INT, default=80, minimum=1, maximum=65535),
            P("user", K.STRING, default="www-data", description="Account of nginx's workers"),
        ),
    ),
    ResourceType(
        POSTGRESQL,
        agent="postgresql",
        description="A PostgreSQL virtual server with its data on a shared disk (S40)",
        is_alive_ms=10000,
        properties=(
            P("data_directory", K.PATH, required=True),
            P("listen_address", K.IPV4, required=True),
            P("port", K.INT, default=5432, minimum=1, maximum=65535),
            P("user", K.STRING, default="postgres", description="Account it runs as (S41)"),
            P(
                "initialize",
                K.BOOL,
                default=False,
                description="Run initdb once if the data directory is absent or empty",
            ),
            P(
                "bin_directory",
                K.PATH,
                description="Local binaries (default: /usr/lib/postgresql/<PG_VERSION>/bin)",
            ),
        ),
    ),
    ResourceType(
        OCF,
        agent="ocf",
        description="Any OCF 1.1 resource agent from Debian's resource-agents",
        properties=(
            P("agent", K.STRING, required=True, description="provider:type, e.g. heartbeat:Dummy"),
            P("parameters", K.LIST, default=[], description="name=value entries"),
            P("ocf_root", K.PATH, default="/usr/lib/ocf", description="OCF_ROOT of the agents"),
            P("netns", K.STRING, description="Run the agent in this named network namespace"),
        ),
    ),
)


def builtin_types() -> dict[str, ResourceType]:
    return {t.name: t for t in BUILTIN_TYPES}
