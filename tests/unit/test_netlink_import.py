"""wolfpackd takes only rtnetlink from pyroute2 (issue 12: idle memory): the rest of
pyroute2 (NDB and its sqlite3, IPDB, WireGuard, ...) is not imported until someone asks the
package for a name it has not got, and then all of it is there."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from wolfpack.resources.netlink import IPRoute, NetlinkError
rest = ("pyroute2.ndb", "pyroute2.ipdb", "sqlite3")
before = sorted(m for m in sys.modules if m.startswith(rest))
with IPRoute() as ip:
    links = ip.get_links()
from pyroute2 import netns  # a submodule: still nothing more
after_netns = "pyroute2.ndb" in sys.modules
from pyroute2 import NDB, NetNS  # names the package's __init__ defines: now it runs
import pyroute2
print(before, len(links) > 0, after_netns, "pyroute2.ndb" in sys.modules,
      pyroute2.IPRoute is IPRoute, issubclass(NetlinkError, Exception))
"""


def test_the_daemon_imports_rtnetlink_only_and_the_lab_still_gets_everything() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True", "False", "True", "True", "True"]


def test_the_daemon_module_does_not_import_all_of_pyroute2() -> None:
    probe = "import sys, wolfpack.node.daemon; print('pyroute2.ndb' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr
