"""A lab: a topology brought up as network namespaces, veths and bridges, with
a real lepton-server and one real lepton-agent per node, and VMs that get
their address from the node by a real DHCP client (busybox udhcpc).

Every object lives in a namespace named lp-<lab>-<host> that the lab made
(the agents' router namespaces are lp-<lab>-<node>-...). The server runs in
the host's namespace but listens only on loopback and on a UNIX socket in
the lab's state directory, which the agents use. The host's own interfaces,
routes and rules are never touched. Two labs with different names coexist.

The lab's state (topology, URL, token, the processes it started) is a JSON
file in its state directory, so that a Lab loaded by another process (the
command) acts on the same lab. Processes are ended by the PID the lab
recorded, and only while that PID is still the process it started (same
start time in /proc).
"""
import ipaddress
import json
import os
import pathlib
import select
import shutil
import signal
import socket
import subprocess
import time
import uuid

from . import bird
from .api import Client
from .topology import (ARP_GATEWAYS, ARP_NETWORK, ARP_PHYSNET, ARP_POOL, ARP_SWITCH, BGP_DEV,
                       BGP_EXT6, BGP_TABLE, CORE, INTERNET, INTERNET6, INTERNET_CIDR, LAB_NAME,
                       HOST_NAME, TENANT6,
                       NODE_ARP_DEV, NODE_EXT_DEV, PHYSNET, UNDERLAY, VM, Topology,
                       TopologyError)

HERE = pathlib.Path(__file__).resolve().parent
UDHCPC_SCRIPT = HERE.parent / "udhcpc-script"
DEFAULT_BIN = HERE.parent.parent.parent / "build"   # src/lab/leptonlab -> build/
STATE_ROOT = "/run/lepton-lab"
# IPv6 (documentation space), on the first upstream's first flat segment of
# a lab without BGP: the external subnet (the upstream has ::1), the
# tenants' global prefixes (on-link on that segment for the upstream: the
# node hosting a VM answers for its address, no NAT), the internet host's
# network (the upstream ::1, the host ::10).
EXT6 = "2001:db8:e0::/64"


class LabError(RuntimeError):
    """A lab operation that could not be done; the message says why."""


def unique_name(prefix):
    """A lab name unique to this process and moment (for tests and benches)."""
    return f"{prefix}{os.getpid() % 100000}{int(time.time() * 1000) % 1000}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def netns_list():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _proc_identity(pid):
    """(state, start time) of a process from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[19])


def _wait_for(seconds, ok, interval=0.2):
    end = time.monotonic() + seconds
    while True:
        try:
            if ok():
                return True
        except (OSError, LabError, ValueError, KeyError, IndexError):
            pass
        if time.monotonic() >= end:
            return False
        time.sleep(interval)


def _tail(path, lines=5):
    try:
        return "\n".join(pathlib.Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Lab:
    """One lab. Lab(name, topology) describes it; up() builds it, down()
    removes all of it (also after a failed up). Lab.load(name) gives the
    lab another process brought up. With no topology, Lab(name, computes=N,
    network_node=..., public=...) is Topology.standard's."""

    def __init__(self, name, topology=None, *, computes=3, network_node=False, public=False,
                 bin_dir=None, state_root=None, server_config=None, agent_args=(),
                 servers=1, store="sqlite"):
        if not LAB_NAME.match(name or ""):
            raise LabError("lab names are 1-16 of [a-z0-9-]")
        if store not in ("sqlite", "etcd"):
            raise LabError("--store takes sqlite or etcd")
        if not 1 <= servers <= 9:
            raise LabError("--servers takes 1 to 9")
        if servers > 1 and store != "etcd":
            raise LabError("several servers share one store: --store etcd")
        # With store etcd: a 3-member etcd cluster on loopback and `servers`
        # lepton-servers over it; agents know every server.
        self.n_servers = servers
        self.store = store
        self.etcd = None        # {"client_ports", "peer_ports", "token"}
        self.urls = []
        self.name = name
        try:
            self.topology = topology or Topology.standard(computes, network_node, public)
        except TopologyError as e:
            raise LabError(str(e)) from None
        self.bin = pathlib.Path(bin_dir or os.environ.get("LEPTON_BIN") or DEFAULT_BIN)
        root = state_root or os.environ.get("LEPTON_LAB_DIR") or STATE_ROOT
        self.state_dir = pathlib.Path(root) / name
        self.url = None
        self.token = None
        self.skipped = []       # segments this kernel cannot carry (no VLAN devices)
        self.bound_at = None    # vm_move: wall-clock time of the port's rebinding
        self.warnings = []
        self._procs = {}        # key -> {"pid", "start", "argv"}
        self._popen = {}        # key -> Popen, for the processes this object started
        self._known = topology is not None
        # More server.conf lines ({key: value}) and agent options, e.g. a
        # short agent_down_time with --heartbeat-interval for failovers.
        self.server_config = dict(server_config or {})
        self.agent_args = list(agent_args)

    # -- names -----------------------------------------------------------------
    def ns(self, host):
        return f"lp-{self.name}-{host}"

    def agent_log(self, node):
        return self.state_dir / f"agent-{node}.log"

    # -- persistent state ------------------------------------------------------
    @property
    def _state_file(self):
        return self.state_dir / "lab.json"

    def _save(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"topology": self.topology.to_dict(), "url": self.url,
                                   "token": self.token, "skipped": self.skipped,
                                   "agent_args": self.agent_args,
                                   "servers": self.n_servers, "store": self.store,
                                   "urls": self.urls, "etcd": self.etcd,
                                   "processes": self._procs}, indent=1))
        os.replace(tmp, self._state_file)

    def _read_state(self):
        try:
            d = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return False
        self.topology = Topology.from_dict(d["topology"])
        self.url, self.token = d["url"], d["token"]
        self.skipped = d.get("skipped", [])
        self.agent_args = d.get("agent_args", [])
        self.n_servers, self.store = d.get("servers", 1), d.get("store", "sqlite")
        self.urls, self.etcd = d.get("urls", []), d.get("etcd")
        self._procs = d.get("processes", {})
        self._known = True
        return True

    @classmethod
    def load(cls, name, bin_dir=None, state_root=None):
        lab = cls(name, bin_dir=bin_dir, state_root=state_root)
        if not lab._read_state():
            raise LabError(f"no lab named {name} (lepton-lab up --lab {name})")
        return lab

    # -- clients ---------------------------------------------------------------
    def admin(self):
        return Client(self.url, "admin", "admin")

    def client(self, project):
        return Client(self.url, project)

    def _api(self, method, path, body=None):
        r = self.admin().request(method, path, body)
        if r.status >= 300:
            raise LabError(f"{method} {path}: {r.status} {r.text[:300]}")
        return r.json

    # -- commands in namespaces ------------------------------------------------
    @staticmethod
    def _run(argv, check=True, timeout=60):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise LabError(f"{' '.join(argv)}: {p.stderr.strip() or p.stdout.strip()}")
        return p

    def _ip(self, host, *args, check=True):
        return self._run(["ip", "-n", self.ns(host), *args], check=check)

    def ip_json(self, host, *args):
        """ip's JSON output (ip -j) for a host's namespace."""
        return json.loads(self._ip(host, "-j", *args).stdout or "[]")

    def exec(self, host, argv, check=False, timeout=60, **kw):
        """Runs argv in a host's namespace; returns the CompletedProcess."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        p = subprocess.run(["ip", "netns", "exec", self.ns(host), *argv], timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise LabError(f"{host}: {' '.join(argv)}: {p.stdout}{p.stderr}")
        return p

    def sh(self, host, script, check=True, timeout=60):
        p = self.exec(host, ["sh", "-c", script], timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{host}: {script}: {p.stdout}{p.stderr}")
        return p

    def popen(self, host, args, **kw):
        """A process in a host's namespace, in its own process group, so
        that stop() ends it with all its children (a shell's pipeline)."""
        return subprocess.Popen(["ip", "netns", "exec", self.ns(host), *args],
                                start_new_session=True, **kw)

    @staticmethod
    def stop(proc):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def capture(self, bpf="udp port 4789", host="ul", dev="ul"):
        """tcpdump on a switch (the underlay's by default) into a file, once
        it is listening. Returns a function that stops it and gives the
        decoded text."""
        path = f"/tmp/lepton-cap-{self.name}-{time.monotonic_ns()}.pcap"
        cap = subprocess.Popen(["ip", "netns", "exec", self.ns(host), "tcpdump", "-U", "-n",
                                "-i", dev, "-w", path, bpf], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        ready, _, _ = select.select([cap.stderr], [], [], 15)
        if not (ready and b"listening" in cap.stderr.readline()):
            cap.kill()
            cap.wait()
            raise LabError("tcpdump did not start")

        def stop():
            time.sleep(0.5)
            cap.terminate()
            cap.wait(timeout=10)
            text = subprocess.run(["tcpdump", "-n", "-r", path], capture_output=True,
                                  text=True, errors="replace").stdout
            os.unlink(path)
            return text
        return stop

    def namespaces(self):
        """The namespaces of this lab that exist now."""
        return [n for n in netns_list() if self._ours(n)]

    def _ours(self, ns):
        if not self._known:
            return ns.startswith(f"lp-{self.name}-")
        if ns in {self.ns(h) for h in self.topology.hosts()}:
            return True
        return any(ns.startswith(self.ns(n.name) + "-") for n in self.topology.nodes)

    # -- processes ---------------------------------------------------------------
    def _start(self, key, argv, log):
        with open(log, "ab") as f:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        ident = _proc_identity(p.pid)
        self._procs[key] = {"pid": p.pid, "start": ident[1] if ident else 0, "argv": argv[0]}
        self._popen[key] = p
        self._save()
        return p

    def _alive(self, key):
        rec = self._procs.get(key)
        if rec is None:
            return False
        p = self._popen.get(key)
        if p is not None and p.pid == rec["pid"]:
            return p.poll() is None
        ident = _proc_identity(rec["pid"])
        return ident is not None and ident[0] != "Z" and ident[1] == rec["start"]

    def _signal(self, key, sig):
        if self._alive(key):
            try:
                os.kill(self._procs[key]["pid"], sig)
            except ProcessLookupError:
                pass

    def _stop_procs(self, keys):
        """SIGTERM (and SIGCONT, for a stopped one), 5 s, then SIGKILL; only
        processes still the ones the lab started."""
        for k in keys:
            self._signal(k, signal.SIGTERM)
            self._signal(k, signal.SIGCONT)
        for k in keys:
            if not _wait_for(5, lambda: not self._alive(k), 0.05):
                self._signal(k, signal.SIGKILL)
                _wait_for(5, lambda: not self._alive(k), 0.05)
            p = self._popen.pop(k, None)
            if p is not None:
                p.poll()
            self._procs.pop(k, None)
        if self._state_file.exists():
            self._save()

    def pid(self, key):
        """The PID of a process the lab started and that still runs, or None."""
        return self._procs[key]["pid"] if self._alive(key) else None

    def alive(self, key):
        """Whether a process the lab started ("server", "agent-<node>",
        "dhcp-<vm>") still runs."""
        return self._alive(key)

    # -- up ------------------------------------------------------------------------
    def up(self):
        """Builds the whole topology; returns info() on success. On any
        failure everything made so far is removed and LabError raised."""
        try:
            self.topology.validate()
        except TopologyError as e:
            raise LabError(str(e)) from None
        if self.topology.vms:
            raise LabError("VMs are plugged once the lab is up (Lab.vm, lepton-lab vm)")
        if self.ns("ul") in netns_list():
            raise LabError(f"lab {self.name} is already up (lepton-lab down --lab {self.name})")
        for prog in ("lepton-server", "lepton-agent"):
            if not os.access(self.bin / prog, os.X_OK):
                raise LabError(f"lepton-server and lepton-agent must be in {self.bin} (make)")
        self._known = True
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        return self.info()

    def _up(self):
        t = self.topology
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.token = os.urandom(16).hex()
        self.urls = [f"http://127.0.0.1:{free_port()}" for _ in range(self.n_servers)]
        self.url = self.urls[0]
        conf = {"agent_token": self.token, "agent_down_time": 15, **self.server_config}
        if self.store == "etcd":
            self._etcd_up()
            conf["store"] = self._etcd_cluster().url(f"lab-{self.name}")
        (self.state_dir / "server.conf").write_text(
            "".join(f"{k} = {v}\n" for k, v in conf.items()))
        self._save()
        for i in range(self.n_servers):
            self.start_server(i)
        self._underlay()
        if t.bgp:
            self._outside_bgp()
            self._birds()
        else:
            self._outside()
        for n in t.nodes:
            self._start_agent(n.name)
        for n in t.nodes:
            if not _wait_for(20, lambda: self._agent_alive(n.name)):
                raise LabError(f"agent {n.name} did not register: "
                               f"{_tail(self.agent_log(n.name))}")
        if t.public:
            self._public_bgp() if t.bgp else self._public()
        if t.bgp:
            self._wait_sessions()
        self._save()

    @staticmethod
    def server_key(i):
        return "server" if i == 0 else f"server-{i}"

    def _server_sock(self, i):
        return self.state_dir / ("server.sock" if i == 0 else f"server-{i}.sock")

    def _start_server(self):
        self.start_server(0)

    def start_server(self, i):
        """Starts server i (0: "server", else "server-i") on its port and
        socket; returns once it answers."""
        url = (self.urls or [self.url])[i]
        key, log = self.server_key(i), self.state_dir / f"{self.server_key(i)}.log"
        self._start(key, [str(self.bin / "lepton-server"), "--listen",
                          f"127.0.0.1:{url.rsplit(':', 1)[1]}",
                          "--data-dir", str(self.state_dir / ("data" if i == 0 else f"data-{i}")),
                          "--unix", str(self._server_sock(i)),
                          "--config", str(self.state_dir / "server.conf")], log)
        if not _wait_for(20, lambda: Client(url, "admin", "admin").get(
                "/v2.0/networks").status == 200):
            raise LabError(f"server {i} did not start: {_tail(log)}")

    def _kill(self, key, sig):
        """Signals one process by its PID and waits until it is gone."""
        self._signal(key, sig)
        if not _wait_for(10, lambda: not self._alive(key), 0.05):
            raise LabError(f"{key} did not stop")
        p = self._popen.pop(key, None)
        if p is not None:
            p.poll()
        self._procs.pop(key, None)
        self._save()

    def kill_server(self, i, sig=signal.SIGKILL):
        """Signals server i by its PID (default SIGKILL); returns once it is gone."""
        self._kill(self.server_key(i), sig)

    # -- etcd (store etcd) -----------------------------------------------------------
    def _etcd_cluster(self):
        from .etcd import EtcdCluster
        c = EtcdCluster(self.state_dir / "etcd", members=3, token=(self.etcd or {}).get("token"))
        if self.etcd:
            c.client_ports, c.peer_ports = self.etcd["client_ports"], self.etcd["peer_ports"]
        return c

    def _etcd_up(self):
        from .etcd import etcd_binary
        if etcd_binary() is None:
            raise LabError("--store etcd needs etcd (apt-get install etcd-server etcd-client)")
        c = self._etcd_cluster()
        self.etcd = {"client_ports": c.client_ports, "peer_ports": c.peer_ports,
                     "token": c.token}
        self._save()
        for i in range(c.n):
            self.etcd_start(i)
        if not _wait_for(30, c.writable, 0.1):
            raise LabError(f"the etcd cluster did not elect a leader: {c.log_tail(0)}")

    def etcd_start(self, i):
        """Starts etcd member i (again: it rejoins with its data)."""
        c = self._etcd_cluster()
        (self.state_dir / "etcd").mkdir(parents=True, exist_ok=True)
        self._start(f"etcd-{i}", c.argv(i), self.state_dir / "etcd" / f"m{i}.log")

    def etcd_kill(self, i, sig=signal.SIGKILL):
        """Kills etcd member i by its PID."""
        self._kill(f"etcd-{i}", sig)

    def etcd_writable(self):
        return self._etcd_cluster().writable()

    def _start_agent(self, node):
        t = self.topology
        # nsenter keeps the host's mount namespace (ip netns exec would give
        # the agent its own), so the router namespaces the agent mounts
        # under /run/netns are visible to all and outlive it.
        self._start(f"agent-{node}", [
            "nsenter", f"--net=/run/netns/{self.ns(node)}", str(self.bin / "lepton-agent"),
            "--host", node, "--server",
            ",".join(f"unix:{self._server_sock(i)}" for i in range(max(self.n_servers, 1))),
            "--token", self.token, "--tunnel-ip", t.tunnel_ip(node), "--tunnel-dev", "ul0",
            "--physnet", f"{t.segment_of(node).physnet if t.bgp else PHYSNET}:{NODE_EXT_DEV}",
            "--netns-prefix", f"{self.ns(node)}-", "--mode", t.node(node).role]
            + (["--bgp-dev", BGP_DEV, "--bgp-nexthop", t.bgp_address(node),
                "--bgp-nexthop6", t.bgp_address6(node),
                "--bgp-table", str(BGP_TABLE)] if t.bgp else [])
            # BGP on the rack's segment only; public-arp keeps ARP.
            + (["--physnet", f"{ARP_PHYSNET}:{NODE_ARP_DEV}",
                "--bgp-physnet", t.segment_of(node).physnet] if t.arp_network else [])
            + list(self.agent_args)
            + (["--debug"] if os.environ.get("LEPTON_AGENT_DEBUG") else []),
            self.agent_log(node))

    def _agent_alive(self, node):
        r = self.admin().get(f"/v2.0/agents?host={node}")
        return r.status == 200 and r.json["agents"] and r.json["agents"][0]["alive"] is True

    def _netns_add(self, host):
        self._run(["ip", "netns", "add", self.ns(host)])

    def _underlay(self):
        """One switch per rack; with several racks the underlay namespace
        routes between them."""
        t = self.topology
        racks = t.racks()
        self._netns_add("ul")
        for rack in racks:
            br = t.rack_switch(rack)
            self._ip("ul", "link", "add", br, "type", "bridge")
            self._ip("ul", "link", "set", br, "up")
            if len(racks) > 1:
                net = t.rack_net(rack)
                self._ip("ul", "addr", "add", f"{t.rack_gateway(rack)}/{net.prefixlen}",
                         "dev", br)
        if len(racks) > 1:
            self.exec("ul", ["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        for n in t.nodes:
            i = t.index(n.name)
            self._netns_add(n.name)
            self._ip(n.name, "link", "set", "lo", "up")
            self._ip("ul", "link", "add", f"n{i}", "type", "veth", "peer", "name", "ul0",
                     "netns", self.ns(n.name))
            self._ip("ul", "link", "set", f"n{i}", "master", t.rack_switch(n.rack), "up")
            prefix = t.rack_net(n.rack).prefixlen
            self._ip(n.name, "addr", "add", f"{t.tunnel_ip(n.name)}/{prefix}", "dev", "ul0")
            self._ip(n.name, "link", "set", "ul0", "up")
            if len(racks) > 1:
                self._ip(n.name, "route", "add", UNDERLAY, "via", t.rack_gateway(n.rack))
            self.exec(n.name, ["sysctl", "-qw", "net.ipv4.ip_forward=0"], check=True)
            # As README recommends: bridges skip netfilter unless the agent
            # turns it on for theirs (bridges with ports that have port
            # security).
            self.exec(n.name, ["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0",
                               "net.bridge.bridge-nf-call-ip6tables=0"], check=True)

    def _outside(self):
        """The external switch, every node's ext0 on it, the upstream routers
        with their segments and the internet hosts behind them."""
        t = self.topology
        self._netns_add("ext")
        self._ip("ext", "link", "add", "ext", "type", "bridge")
        self._ip("ext", "link", "set", "ext", "up")
        for k, u in enumerate(t.upstreams):
            leg = "upl" if k == 0 else f"upl{k}"
            self._netns_add(u.name)
            self._netns_add(u.internet)
            self._ip("ext", "link", "add", leg, "type", "veth", "peer", "name", "up0",
                     "netns", self.ns(u.name))
            self._ip("ext", "link", "set", leg, "master", "ext", "up")
            self._ip(u.name, "link", "add", "up1", "type", "veth", "peer", "name", "eth0",
                     "netns", self.ns(u.internet))
            self.exec(u.name, ["sysctl", "-qw", "net.ipv4.ip_forward=1",
                               "net.ipv4.conf.all.rp_filter=0",
                               "net.ipv4.conf.default.rp_filter=0"], check=True)
            self._ip(u.name, "link", "set", "lo", "up")
            self._ip(u.name, "link", "set", "up0", "up")
            for name in u.segments:
                self._segment(u, t.segment(name))
            inet = ipaddress.IPv4Network(u.internet_cidr)
            self._ip(u.name, "addr", "add", f"{inet.network_address + 1}/{inet.prefixlen}",
                     "dev", "up1")
            self._ip(u.name, "link", "set", "up1", "up")
            self._ip(u.internet, "link", "set", "lo", "up")
            self._ip(u.internet, "addr", "add", f"{inet.network_address + 10}/{inet.prefixlen}",
                     "dev", "eth0")
            self._ip(u.internet, "link", "set", "eth0", "up")
            self._ip(u.internet, "route", "add", "default", "via", str(inet.network_address + 1))
            if k == 0 and self._v6_segment():
                inet6 = ipaddress.IPv6Network(INTERNET6)
                self._ip(u.name, "-6", "addr", "add",
                         f"{inet6.network_address + 1}/{inet6.prefixlen}", "dev", "up1", "nodad")
                self._ip(u.internet, "-6", "addr", "add",
                         f"{inet6.network_address + 10}/{inet6.prefixlen}", "dev", "eth0",
                         "nodad")
                self._ip(u.internet, "-6", "route", "add", "default", "via",
                         str(inet6.network_address + 1))
        for n in t.nodes:
            i = t.index(n.name)
            self._ip("ext", "link", "add", f"x{i}", "type", "veth", "peer", "name",
                     NODE_EXT_DEV, "netns", self.ns(n.name))
            self._ip("ext", "link", "set", f"x{i}", "master", "ext", "up")
            self._ip(n.name, "link", "set", NODE_EXT_DEV, "up")

    def _sysctl(self, host, *settings):
        self.exec(host, ["sysctl", "-qw", *settings], check=True)

    def _veth(self, a, a_dev, b, b_dev, master=None):
        """A veth from host a (a_dev, in bridge master there) to host b."""
        self._ip(a, "link", "add", a_dev, "type", "veth", "peer", "name", b_dev,
                 "netns", self.ns(b))
        if master:
            self._ip(a, "link", "set", a_dev, "master", master)
        self._ip(a, "link", "set", a_dev, "up")

    def _outside_bgp(self):
        """Seed case 2 (topology.py): per rack a segment switch in the
        external namespace with the rack's upstream router and nodes on it
        (each node twice: ext0 for the agent's external bridge, bgp0 with
        its own address, BIRD's session and next hop); the core router
        joining the upstreams, the internet host behind it."""
        t = self.topology
        routed = ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                  "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.all.send_redirects=0",
                  "net.ipv4.conf.default.send_redirects=0", "net.ipv6.conf.all.forwarding=1"]
        self._netns_add("ext")
        for h in (CORE, INTERNET):
            self._netns_add(h)
            self._ip(h, "link", "set", "lo", "up")
        self._sysctl(CORE, *routed)
        inet = ipaddress.IPv4Network(INTERNET_CIDR)
        self._veth(CORE, "eth1", INTERNET, "eth0")
        self._ip(CORE, "addr", "add", f"{inet.network_address + 1}/{inet.prefixlen}", "dev",
                 "eth1")
        self._ip(INTERNET, "addr", "add", f"{inet.network_address + 10}/{inet.prefixlen}",
                 "dev", "eth0")
        self._ip(INTERNET, "link", "set", "eth0", "up")
        self._ip(INTERNET, "route", "add", "default", "via", str(inet.network_address + 1))
        inet6 = ipaddress.IPv6Network(INTERNET6)
        self._ip6(CORE, f"{inet6.network_address + 1}/{inet6.prefixlen}", "eth1")
        self._ip6(INTERNET, f"{inet6.network_address + 10}/{inet6.prefixlen}", "eth0")
        self._ip(INTERNET, "-6", "route", "add", "default", "via", str(inet6.network_address + 1))
        for k, (seg, u) in enumerate(zip(t.segments, t.upstreams)):
            gw = ipaddress.IPv4Network(seg.gateways)
            self._ip("ext", "link", "add", seg.name, "type", "bridge")
            self._ip("ext", "link", "set", seg.name, "up")
            self._netns_add(u.name)
            self._ip(u.name, "link", "set", "lo", "up")
            self._sysctl(u.name, *routed)
            self._veth("ext", f"u{k}", u.name, "up0", master=seg.name)
            self._ip(u.name, "addr", "add", f"{t.upstream_address(seg.name)}/{gw.prefixlen}",
                     "dev", "up0")
            self._ip(u.name, "link", "set", "up0", "up")
            core_ip, up_ip = t.core_link(u.name)
            self._veth(CORE, f"r{k}", u.name, "core0")
            self._ip(CORE, "addr", "add", f"{core_ip}/30", "dev", f"r{k}")
            self._ip(u.name, "addr", "add", f"{up_ip}/30", "dev", "core0")
            self._ip(u.name, "link", "set", "core0", "up")
            self._ip(u.name, "route", "add", "default", "via", core_ip)
            self._ip6(u.name, f"{t.upstream_address6(seg.name)}/64", "up0")
            core6, up6 = t.core_link6(u.name)
            self._ip6(CORE, f"{core6}/64", f"r{k}")
            self._ip6(u.name, f"{up6}/64", "core0")
            self._ip(u.name, "-6", "route", "add", "default", "via", core6)
        for n in t.nodes:
            i = t.index(n.name)
            seg = t.segment_of(n.name)
            self._veth("ext", f"x{i}", n.name, NODE_EXT_DEV, master=seg.name)
            self._ip(n.name, "link", "set", NODE_EXT_DEV, "up")
            self._veth("ext", f"b{i}", n.name, BGP_DEV, master=seg.name)
            self._sysctl(n.name, *routed)
            self._sysctl(n.name, f"net.ipv4.conf.{BGP_DEV}.send_redirects=0")
            prefix = ipaddress.IPv4Network(seg.gateways).prefixlen
            self._ip(n.name, "addr", "add", f"{t.bgp_address(n.name)}/{prefix}", "dev", BGP_DEV)
            self._ip(n.name, "link", "set", BGP_DEV, "up")
            self._ip(n.name, "route", "add", "default", "via", t.upstream_address(seg.name))
            self._ip6(n.name, f"{t.bgp_address6(n.name)}/64", BGP_DEV)
            self._ip(n.name, "-6", "route", "add", "default", "via",
                     t.upstream_address6(seg.name))
        if t.arp_network:
            self._arp_network()

    def _ip6(self, host, cidr, dev):
        """An IPv6 address without duplicate address detection (usable at once)."""
        self._ip(host, "-6", "addr", "add", cidr, "dev", dev, "nodad")

    def _arp_network(self):
        """public-arp's one segment (topology.py): a switch across the
        racks, the core on it (the gateways' first address, the pool
        on-link), every node's arp0."""
        t = self.topology
        gw = ipaddress.IPv4Network(ARP_GATEWAYS)
        self._ip("ext", "link", "add", ARP_SWITCH, "type", "bridge")
        self._ip("ext", "link", "set", ARP_SWITCH, "up")
        self._veth("ext", "ac", CORE, "arp0", master=ARP_SWITCH)
        self._ip(CORE, "addr", "add", f"{gw.network_address + 1}/{gw.prefixlen}", "dev", "arp0")
        self._ip(CORE, "link", "set", "arp0", "up")
        self._ip(CORE, "route", "add", ARP_POOL, "dev", "arp0")
        for n in t.nodes:
            i = t.index(n.name)
            self._veth("ext", f"a{i}", n.name, NODE_ARP_DEV, master=ARP_SWITCH)
            self._ip(n.name, "link", "set", NODE_ARP_DEV, "up")

    def bird_socket(self, host):
        return self.state_dir / f"bird-{host}.ctl"

    def _birds(self):
        """BIRD in every node, upstream and the core (bird.py), each with its
        own configuration, control socket, PID file and log in the state
        directory, started and ended by the lab."""
        t = self.topology
        confs = [(n.name, lambda h, log: bird.node_config(t, h, log)) for n in t.nodes]
        confs += [(u.name, lambda h, log: bird.upstream_config(t, h, log)) for u in t.upstreams]
        confs += [(CORE, lambda h, log: bird.core_config(t, log))]
        for host, make in confs:
            conf = self.state_dir / f"bird-{host}.conf"
            conf.write_text(make(host, str(self.state_dir / f"bird-{host}.log")))
            self._start(f"bird-{host}", [
                "ip", "netns", "exec", self.ns(host), "bird", "-f", "-c", str(conf),
                "-s", str(self.bird_socket(host)), "-P", str(self.state_dir / f"bird-{host}.pid")],
                self.state_dir / f"bird-{host}.out")
        for host, _ in confs:
            if not _wait_for(10, lambda: self.birdc(host, "show", "status").returncode == 0):
                raise LabError(f"bird in {host} did not start: "
                               f"{_tail(self.state_dir / f'bird-{host}.out')}")

    def birdc(self, host, *args):
        """birdc on a host's BIRD (its control socket); the CompletedProcess."""
        return subprocess.run(["birdc", "-s", str(self.bird_socket(host)), *args],
                              capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL)

    def bgp_routes(self, host):
        """{prefix: [protocol, ...]} of a host's BIRD (`show route`)."""
        p = self.birdc(host, "show", "route")
        if p.returncode != 0:
            raise LabError(f"birdc {host}: {p.stdout}{p.stderr}")
        return bird.parse_routes(p.stdout)

    def bgp_sessions(self, host):
        """{protocol: state} of a host's BGP sessions ("Established", ...)."""
        out = {}
        for line in self.birdc(host, "show", "protocols").stdout.splitlines():
            f = line.split()
            if len(f) >= 6 and f[1] == "BGP":
                out[f[0]] = f[5]
        return out

    def _wait_sessions(self, seconds=30):
        t = self.topology
        hosts = [n.name for n in t.nodes] + [u.name for u in t.upstreams] + [CORE]
        for h in hosts:
            if not _wait_for(seconds, lambda: self.bgp_sessions(h) and all(
                    st == "Established" for st in self.bgp_sessions(h).values())):
                raise LabError(f"BGP sessions of {h} did not come up: {self.bgp_sessions(h)}")

    def _public_bgp(self):
        """One external network `public` over the segments (seed case 2):
        its primary segment is the first, one more per rack; a gateway
        subnet (network:router_gateway) on each segment, the Floating IP
        pool (network:floatingip) on none."""
        t = self.topology
        first = t.segments[0]
        net = self._api("POST", "/v2.0/networks", {"network": {
            "name": "public", "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": first.physnet}})["network"]["id"]
        seg_ids = {first.name: self._api("GET", f"/v2.0/segments?network_id={net}")
                   ["segments"][0]["id"]}
        for seg in t.segments[1:]:
            seg_ids[seg.name] = self._api("POST", "/v2.0/segments", {"segment": {
                "network_id": net, "name": seg.name, "network_type": "flat",
                "physical_network": seg.physnet}})["segment"]["id"]
        for seg in t.segments:
            gw = ipaddress.IPv4Network(seg.gateways)
            self._api("POST", "/v2.0/subnets", {"subnet": {
                "name": f"{seg.name}-gateways", "network_id": net, "cidr": seg.gateways,
                "ip_version": 4, "gateway_ip": str(gw.network_address + 1),
                "segment_id": seg_ids[seg.name], "enable_dhcp": False,
                "service_types": ["network:router_gateway"],
                "allocation_pools": [{"start": str(gw.network_address + 10),
                                      "end": str(gw.broadcast_address - 5)}]}})
        self._api("POST", "/v2.0/subnets", {"subnet": {
            "name": "public-pool", "network_id": net, "cidr": first.pool, "ip_version": 4,
            "gateway_ip": None, "enable_dhcp": False, "service_types": ["network:floatingip"]}})
        # IPv6 (issue 14): the network carries it; no gateway (each rack's
        # upstream is its own: the routers send through their node).
        self._api("POST", "/v2.0/subnets", {"subnet": {
            "name": "public-v6", "network_id": net, "cidr": BGP_EXT6, "ip_version": 6,
            "gateway_ip": None, "enable_dhcp": False,
            "service_types": ["network:router_gateway"]}})
        if t.arp_network:
            gw = ipaddress.IPv4Network(ARP_GATEWAYS)
            arp = self._api("POST", "/v2.0/networks", {"network": {
                "name": ARP_NETWORK, "router:external": True, "provider:network_type": "flat",
                "provider:physical_network": ARP_PHYSNET}})["network"]["id"]
            self._api("POST", "/v2.0/subnets", {"subnet": {
                "name": f"{ARP_NETWORK}-gateways", "network_id": arp, "cidr": ARP_GATEWAYS,
                "ip_version": 4, "gateway_ip": str(gw.network_address + 1),
                "enable_dhcp": False, "service_types": ["network:router_gateway"],
                "allocation_pools": [{"start": str(gw.network_address + 10),
                                      "end": str(gw.broadcast_address - 5)}]}})
            self._api("POST", "/v2.0/subnets", {"subnet": {
                "name": f"{ARP_NETWORK}-pool", "network_id": arp, "cidr": ARP_POOL,
                "ip_version": 4, "gateway_ip": None, "enable_dhcp": False,
                "service_types": ["network:floatingip"]}})

    def _segment(self, upstream, seg):
        """The upstream's side of a segment: its gateway address, and the
        pool on-link. A VLAN segment needs VLAN devices (8021q): without
        them it is skipped, with a warning."""
        dev = "up0"
        if seg.vlan is not None:
            dev = f"up0.{seg.vlan}"
            if self._ip(upstream.name, "link", "add", "link", "up0", "name", dev, "type", "vlan",
                        "id", str(seg.vlan), check=False).returncode != 0:
                self.skipped.append(seg.name)
                self.warnings.append(f"this kernel has no VLAN devices (8021q): no {seg.name}")
                return
        gw = ipaddress.IPv4Network(seg.gateways)
        self._ip(upstream.name, "addr", "add", f"{gw.network_address + 1}/{gw.prefixlen}",
                 "dev", dev)
        self._ip(upstream.name, "link", "set", dev, "up")
        self._ip(upstream.name, "route", "add", seg.pool, "dev", dev)
        if self._v6_segment() == seg.name:
            self.exec(upstream.name, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
                      check=True)
            ext6 = ipaddress.IPv6Network(EXT6)
            self._ip(upstream.name, "-6", "addr", "add",
                     f"{ext6.network_address + 1}/{ext6.prefixlen}", "dev", dev, "nodad")
            self._ip(upstream.name, "-6", "route", "add", TENANT6, "dev", dev)

    def _v6_segment(self):
        """The segment that carries IPv6 (EXT6), or None (BGP labs)."""
        t = self.topology
        if t.bgp or not t.upstreams:
            return None
        for name in t.upstreams[0].segments:
            seg = t.segment(name)
            if seg and seg.vlan is None:
                return seg.name
        return None

    def _public(self):
        """The external networks: for each segment a network with a gateway
        subnet (network:router_gateway) and its pool (network:floatingip)."""
        for seg in self.topology.segments:
            if seg.name in self.skipped:
                continue
            body = {"name": seg.name, "router:external": True,
                    "provider:physical_network": PHYSNET,
                    "provider:network_type": "flat" if seg.vlan is None else "vlan"}
            if seg.vlan is not None:
                body["provider:segmentation_id"] = seg.vlan
            net = self._api("POST", "/v2.0/networks", {"network": body})["network"]["id"]
            gw = ipaddress.IPv4Network(seg.gateways)
            self._api("POST", "/v2.0/subnets", {"subnet": {
                "name": f"{seg.name}-gateways", "network_id": net, "cidr": seg.gateways,
                "ip_version": 4, "gateway_ip": str(gw.network_address + 1),
                "enable_dhcp": False, "service_types": ["network:router_gateway"],
                "allocation_pools": [{"start": str(gw.network_address + 10),
                                      "end": str(gw.broadcast_address - 5)}]}})
            self._api("POST", "/v2.0/subnets", {"subnet": {
                "name": f"{seg.name}-pool", "network_id": net, "cidr": seg.pool,
                "ip_version": 4, "gateway_ip": None, "enable_dhcp": False,
                "service_types": ["network:floatingip"]}})
            if self._v6_segment() == seg.name:
                ext6 = ipaddress.IPv6Network(EXT6)
                self._api("POST", "/v2.0/subnets", {"subnet": {
                    "name": f"{seg.name}-v6", "network_id": net, "cidr": EXT6,
                    "ip_version": 6, "gateway_ip": str(ext6.network_address + 1),
                    "enable_dhcp": False, "service_types": ["network:router_gateway"]}})

    def info(self):
        return {"lab": self.name, "url": self.url, "urls": self.urls or [self.url],
                "store": self.store,
                "nodes": [n.name for n in self.topology.nodes],
                "racks": {r: self.topology.rack_nodes(r) for r in self.topology.racks()},
                "segments": [s.name for s in self.topology.segments
                             if s.name not in self.skipped],
                "skipped_segments": list(self.skipped)}

    # -- VMs -----------------------------------------------------------------------
    def _need_node(self, node):
        if self.topology.node(node) is None or self.ns(node) not in netns_list():
            raise LabError(f"no node {node} in lab {self.name}")

    def vm(self, node, port, name=None):
        """Plugs a VM on node for the port (its id), as Nova does: the port is
        bound to the node, a veth tap<port[:11]> is made there, and udhcpc
        runs in the VM. Returns the VM once DHCP gave it its address."""
        self._need_node(node)
        r = self.admin().get(f"/v2.0/ports/{port}")
        if r.status != 200:
            raise LabError(f"no port {port} (give its id)")
        p = r.json["port"]
        name = name or f"vm-{p['id'][:8]}"
        if not HOST_NAME.match(name):
            raise LabError("VM names are 1-31 of [a-z0-9-]")
        if name in self.topology.hosts() or self.ns(name) in netns_list():
            raise LabError(f"VM {name} exists")
        vm = VM(name=name, node=node, port=p["id"], network=p["network_id"],
                mac=p["mac_address"])
        self.topology.vms.append(vm)
        self._save()
        self._api("PUT", f"/v2.0/ports/{vm.port}", {"port": {
            "binding:host_id": node, "device_owner": "compute:lab",
            "device_id": str(uuid.uuid4())}})
        self._netns_add(name)
        self._ip(name, "link", "set", "lo", "up")
        self._ip(node, "link", "add", vm.tap, "type", "veth", "peer", "name", "eth0",
                 "netns", self.ns(name))
        self._ip(name, "link", "set", "eth0", "address", vm.mac)
        self._ip(name, "link", "set", "eth0", "up")
        self._ip(node, "link", "set", vm.tap, "up")
        # A real DHCP client whose script only applies address, routes and
        # MTU: the VM never touches the host's files (no resolv.conf).
        log = self.state_dir / f"dhcp-{name}.log"
        self._start(f"dhcp-{name}", [
            "ip", "netns", "exec", self.ns(name), "busybox", "udhcpc", "-f", "-i", "eth0",
            "-s", str(UDHCPC_SCRIPT), "-O", "mtu", "-O", "staticroutes", "-t", "30", "-T", "1",
            "-A", "1", "-x", f"hostname:{name}"], log)
        if not _wait_for(30, lambda: self.address(name)):
            raise LabError(f"VM {name} got no address by DHCP: {_tail(log)}\n"
                           f"the last lines of {node}'s agent log:\n"
                           f"{_tail(self.agent_log(node), 30)}")
        vm.address = self.address(name)
        self._save()
        return vm

    def address(self, host, dev="eth0"):
        for link in self.ip_json(host, "-4", "addr", "show", "dev", dev):
            for a in link.get("addr_info", []):
                return f"{a['local']}/{a['prefixlen']}"
        return ""

    def vm_move(self, name, node):
        """A live migration: the VM keeps its address, MAC, MTU and default
        route (as a guest does); its port is plugged on the new node, then
        bound there, as Nova does. Returns the VM."""
        vm = self.topology.vm(name)
        if vm is None:
            raise LabError(f"no VM {name} in lab {self.name}")
        self._need_node(node)
        addr = self.address(name)
        gws = [r["gateway"] for r in self.ip_json(name, "-4", "route", "show", "default")
               if "gateway" in r]
        link = self.ip_json(name, "link", "show", "dev", "eth0")[0]
        self._stop_procs([f"dhcp-{name}"])
        self._ip(vm.node, "link", "del", vm.tap)
        self._ip(node, "link", "add", vm.tap, "type", "veth", "peer", "name", "eth0",
                 "netns", self.ns(name))
        self._ip(name, "link", "set", "eth0", "address", link["address"],
                 "mtu", str(link["mtu"]), "up")
        if addr:
            self._ip(name, "addr", "add", addr, "dev", "eth0")
        if gws:
            self._ip(name, "route", "add", "default", "via", gws[0])
        self._ip(node, "link", "set", vm.tap, "up")
        self.bound_at = time.time()   # wall clock: when the port was rebound
        self._api("PUT", f"/v2.0/ports/{vm.port}", {"port": {"binding:host_id": node}})
        vm.node, vm.address = node, addr
        self._save()
        return vm

    # -- restarts ------------------------------------------------------------------
    def stop_agent(self, node):
        """Ends a node's agent (agent_restart starts it again)."""
        if self.topology.node(node) is None:
            raise LabError(f"no node {node} in lab {self.name}")
        self._stop_procs([f"agent-{node}"])

    def agent_restart(self, node):
        """Ends the node's agent (if it runs) and starts a new one; does not
        wait for it to register."""
        self.stop_agent(node)
        self._start_agent(node)

    def server_restart(self):
        """Ends the server and starts it again on the same port, data and
        socket; returns once it answers."""
        self._stop_procs(["server"])
        self._start_server()

    # -- status and down -----------------------------------------------------------
    def status(self):
        """{"lab", "url", "processes": {key: running}, "agents": [{"host",
        "alive"}], "namespaces": [...]}; agents is empty if the server does
        not answer."""
        agents = []
        try:
            r = self.admin().get("/v2.0/agents")
            if r.status == 200:
                agents = [{"host": a["host"], "alive": a["alive"]} for a in r.json["agents"]]
        except OSError:
            pass
        return {"lab": self.name, "url": self.url,
                "processes": {k: self._alive(k) for k in sorted(self._procs)},
                "agents": agents, "namespaces": self.namespaces()}

    def down(self):
        """Removes the lab: the processes it started (by PID), then its
        namespaces, then its state. Safe to call on a lab partly up, or
        already down."""
        if self._state_file.exists():
            mine = (dict(self._procs), list(self.topology.vms))
            self._read_state()
            self._procs.update(mine[0])
            for v in mine[1]:
                if self.topology.vm(v.name) is None:
                    self.topology.vms.append(v)
        # Agents and servers before the etcd members they talk to.
        procs = list(self._procs)
        self._stop_procs([k for k in procs if not k.startswith("etcd-")])
        self._stop_procs([k for k in procs if k.startswith("etcd-")])
        for ns in self.namespaces():
            # What still runs in it was started there by the lab or a test
            # (a DHCP client that outlived its exchange, a server a failed
            # test left behind): ended by PID before the namespace goes.
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.down()
