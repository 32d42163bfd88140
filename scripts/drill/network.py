"""The drill's machines: one Linux network namespace per host, each with its own hostname, on a
bridge in the root namespace.

The addresses come from 10.231.0.0/24, which only this machine knows: the namespaces have no
default route and nothing here turns on forwarding, so no packet of the drill leaves the
machine. The bridge's own address, 10.231.0.1, is where the shared services listen.
"""

import contextlib
import ipaddress
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

PREFIX = "rhd-"  # every namespace, veth and the bridge the drill makes; stale ones are removed
BRIDGE = f"{PREFIX}br0"
NETWORK = ipaddress.ip_network("10.231.0.0/24")
GATEWAY = "10.231.0.1"  # the bridge: PostgreSQL, Redis, S3 and the webhook receiver


class NetworkError(RuntimeError):
    pass


@dataclass(frozen=True)
class Host:
    name: str  # its hostname too, e.g. "worker-a"
    address: str

    @property
    def namespace(self) -> str:
        return f"{PREFIX}{self.name}"

    @property
    def veth(self) -> str:
        return f"{PREFIX}{self.name}"[:15]  # the root end of its link (15 characters at most)

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside this host: its namespace, and a UTS namespace with its hostname, so
        `socket.gethostname()` (a lease's owner, Celery's `%h`) names the host."""
        script = f'hostname {self.name} && exec "$@"'
        return [
            *("ip", "netns", "exec", self.namespace, "unshare", "--uts", "sh", "-c", script),
            *("sh", *argv),
        ]


def ip(*arguments: str) -> str:
    done = subprocess.run(["ip", *arguments], capture_output=True, text=True)
    if done.returncode:
        raise NetworkError(f"ip {' '.join(arguments)}: {done.stderr.strip()}")
    return done.stdout


def network_create(hosts: Sequence[Host]) -> None:
    _refuse_overlap()
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "add", f"{GATEWAY}/{NETWORK.prefixlen}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")
    for host in hosts:
        inside = ("-n", host.namespace)
        peer = ("peer", "name", "eth0", "netns", host.namespace)
        ip("netns", "add", host.namespace)
        ip("link", "add", host.veth, "type", "veth", *peer)
        ip("link", "set", host.veth, "master", BRIDGE, "up")
        ip(*inside, "addr", "add", f"{host.address}/{NETWORK.prefixlen}", "dev", "eth0")
        ip(*inside, "link", "set", "eth0", "up")
        ip(*inside, "link", "set", "lo", "up")


def network_remove() -> None:
    """Remove every namespace and link the drill made, this run's or a killed run's. Processes
    still inside a namespace are killed first (they would keep it alive). The links go first and
    by name: a namespace's veth would otherwise outlive `ip netns delete` for a moment, and a
    quick second run would find its name taken."""
    for namespace in _namespaces():
        for pid in ip("netns", "pids", namespace).split():
            _kill(int(pid))
    for link in _links():
        ip("link", "delete", link)  # a veth takes its peer in the namespace with it
    for namespace in _namespaces():
        ip("netns", "delete", namespace)


def _links() -> list[str]:
    names = (
        line.split(":")[1].strip().partition("@")[0]
        for line in ip("-o", "link", "show").splitlines()
    )
    return [name for name in names if name.startswith(PREFIX)]


def _namespaces() -> list[str]:
    names = (line.split()[0] for line in ip("netns", "list").splitlines() if line.strip())
    return [name for name in names if name.startswith(PREFIX)]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _refuse_overlap() -> None:
    """The machine must not already use the drill's network (another tool, a VPN)."""
    for line in ip("-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        device, address = fields[1], fields[3]
        if device != BRIDGE and ipaddress.ip_interface(address).network.overlaps(NETWORK):
            raise NetworkError(f"{device} already has {address}, inside the drill's {NETWORK}")
