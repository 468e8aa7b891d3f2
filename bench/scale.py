#!/usr/bin/python3
"""bench/scale: lepton-servers under many agents' watch streams.

Builds, through the API of real lepton-servers (own data dirs, free ports on
loopback), a cloud of N nodes (registered agents), each with P ports (bulk
creates of P ports bound to the node); the nodes come in groups of K that
share a network (a VXLAN network's ports go to every node with a port on it,
so a change to a port interests K agents). One process then holds one
per-node watch (?host=node-N) for every node, read with epoll, and the bench
prints a table with one column per store (--stores sqlite,etcd):
  - sqlite: one lepton-server on SQLite;
  - etcd: --etcd-servers (default 3) lepton-servers over a 3-member etcd
    cluster of their own on loopback (as the lab's, leptonlab.etcd). The
    cloud is built through the first server; the agents' watches go
    round-robin over the servers, and so do the changes, so a change taken
    by server A reaches agents on B and C through etcd's watch.
Rows:
  - setup: ports created and their rate; the largest server RSS meanwhile;
  - a server restarted over the loaded store (the last one): seconds until
    its API answers (with etcd it reads every key, in pages);
  - all N agents connecting at once: time until every snapshot is complete;
  - a port update (the API call) until every interested agent has the line
    (p50/p99 over --changes updates, one at a time); with several servers
    also one agent's arrival on the server that took the call and on another;
  - a reconnecting agent's snapshot (since=its revision, on the next server;
    p50/p99);
  - API latency of port create/get/list(one network's ports) on the first
    server with no watch open (the baseline, same run) and with every watch
    open, and the ratio;
  - the server RSS (the largest of the servers: now and peak), threads, and
    etcd's database size.
Targets (issue 13): change -> every interested agent p99 < 200 ms, server
RSS < 1 GiB, at 1,000 nodes x 100 ports. A full run (both columns) takes
about 15 minutes on 2 cores; the etcd column's setup dominates (every server
applies every create).

Usage: python3 bench/scale.py [--nodes 1000] [--ports-per-node 100]
       [--nodes-per-network 4] [--changes 200] [--samples 200]
       [--stores sqlite,etcd] [--etcd-servers 3]
   or: make bench-scale BENCH_ARGS="--stores sqlite,etcd"
"""
import argparse
import http.client
import json
import os
import pathlib
import queue
import random
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("LEPTON_BUILD", ROOT / "build"))
ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin",
         "Content-Type": "application/json"}
STORES = ("sqlite", "etcd")
sys.path.insert(0, str(ROOT / "src" / "lab"))  # the lab library (its etcd cluster)
from leptonlab.etcd import EtcdCluster  # noqa: E402
from leptonlab.lab import free_port  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Api:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def call(self, method, path, body=None):
        self.conn.request(method, path, json.dumps(body) if body is not None else None, ADMIN)
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else None


class Server:
    """One lepton-server process in its own data dir (a free port on
    loopback, kept across restarts); extra: more arguments (--store)."""

    def __init__(self, top, name, extra):
        self.dir = pathlib.Path(top, name)
        self.dir.mkdir()
        self.extra = extra
        self.port = free_port()
        self.cfg = pathlib.Path(self.dir, "lepton.conf")
        self.cfg.write_text("request_log = false\nquota_network = -1\nquota_subnet = -1\n"
                            "quota_port = -1\nmax_body_size = 16777216\n")
        self.proc = None
        self.start()

    def start(self):
        """Starts the process; seconds until its API answered."""
        t0 = time.perf_counter()
        with open(pathlib.Path(self.dir, "server.log"), "ab") as log:
            self.proc = subprocess.Popen(
                [str(BUILD / "lepton-server"), "--listen", f"127.0.0.1:{self.port}",
                 "--data-dir", str(self.dir), "--config", str(self.cfg), *self.extra],
                stdout=log, stderr=log)
        deadline = time.time() + 600
        while True:
            try:
                Api(self.port).call("GET", "/v2.0/networks?limit=1")
                return time.perf_counter() - t0
            except (OSError, RuntimeError):
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the server in {self.dir} did not start")
                time.sleep(0.02)

    def status(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Cloud:
    """The servers of one column: one lepton-server on SQLite, or
    `servers` lepton-servers over a 3-member etcd cluster of their own."""

    def __init__(self, store, servers):
        if store not in STORES:
            raise SystemExit(f"store {store}: one of {', '.join(STORES)}")
        self.dir = tempfile.mkdtemp(prefix="lepton-scale-")
        self.etcd = None
        self.servers = []
        try:
            extra = []
            if store == "etcd":
                self.etcd = EtcdCluster(pathlib.Path(self.dir, "etcd")).start()
                extra = ["--store", self.etcd.url()]
            else:
                servers = 1
            for i in range(servers):
                self.servers.append(Server(self.dir, f"s{i}", extra))
        except BaseException:
            self.stop()
            raise

    def status(self, key):
        """The largest value of the key over the servers."""
        return max(s.status(key) for s in self.servers)

    def stop(self):
        for s in self.servers:
            s.stop()
        if self.etcd:
            self.etcd.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Stream:
    """One agent's watch stream on a non-blocking socket (chunked decoding,
    lines looked at as bytes: the bench must keep up with 1,000 of them)."""

    def __init__(self, port, node, since=0):
        self.node = node
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"GET /v2.0/lepton/watch?since={since}&host={node} HTTP/1.1\r\n"
                          "Host: bench\r\nX-Project-Id: admin-project\r\n"
                          "X-Roles: admin\r\n\r\n".encode())
        self.sock.setblocking(False)
        self.raw = bytearray()
        self.body = bytearray()
        self.headers_done = False
        self.left = 0  # bytes of the current chunk still to come
        self.synced_at = None
        self.revision = 0
        self.closed = False

    def feed(self, data):
        """Complete lines of the data."""
        self.raw += data
        raw = self.raw
        i = 0
        if not self.headers_done:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                return []
            if not raw.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"{self.node}: {bytes(raw[:200])!r}")
            self.headers_done = True
            i = end + 4
        while i < len(raw):
            if self.left:
                n = min(self.left, len(raw) - i)
                self.body += raw[i:i + n]
                i += n
                self.left -= n
                if not self.left:
                    i += 2  # the chunk's CRLF (may be in the next read)
                continue
            nl = raw.find(b"\r\n", i)
            if nl < 0:
                break
            if nl == i:  # a CRLF left from the previous chunk
                i += 2
                continue
            self.left = int(raw[i:nl], 16)
            i = nl + 2
            if self.left == 0:
                self.closed = True
                break
        # A chunk's CRLF not here yet is skipped when it comes (above).
        del raw[:min(i, len(raw))]
        cut = self.body.rfind(b"\n")
        if cut < 0:
            return []
        lines = bytes(self.body[:cut]).split(b"\n")
        del self.body[:cut + 1]
        return lines


class Watchers(threading.Thread):
    """Reads every stream; records when snapshots complete and when the
    awaited token (a port's new name) reaches each node."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sel = selectors.DefaultSelector()
        self.streams = {}
        self.ops = queue.Queue()
        self.token = None
        self.arrived = {}
        self.stop_flag = False
        self.bytes = 0
        self.wake_r, self.wake_w = socket.socketpair()
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)

    def add(self, st):
        self.ops.put(("add", st))
        self.wake_w.send(b"x")

    def drop(self, st):
        self.ops.put(("drop", st))
        self.wake_w.send(b"x")

    def run(self):
        while not self.stop_flag:
            while not self.ops.empty():
                op, st = self.ops.get()
                if op == "add":
                    self.streams[st.node] = st
                    self.sel.register(st.sock, selectors.EVENT_READ, st)
                else:
                    self.sel.unregister(st.sock)
                    st.sock.close()
                    if self.streams.get(st.node) is st:
                        del self.streams[st.node]
            for key, _ in self.sel.select(0.1):
                st = key.data
                if st is None:
                    self.wake_r.recv(4096)
                    continue
                try:
                    data = st.sock.recv(1 << 18)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(st.sock)
                    st.closed = True
                    continue
                self.bytes += len(data)
                now = time.perf_counter()
                token = self.token
                for line in st.feed(data):
                    if token and token in line:
                        self.arrived.setdefault(st.node, now)
                    if b'"op":"snapshot_end"' in line:
                        st.synced_at = now
                        st.revision = json.loads(line)["revision"]


def ensure_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(n, hard), max(n, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def build(api, args):
    """Agents, networks and ports; {node: [port ids]}, {node: network id},
    {network id: [nodes]}, {node: project}, seconds."""
    nodes = [f"node-{i}" for i in range(args.nodes)]
    for i, h in enumerate(nodes):
        api.call("POST", "/v2.0/lepton/agents/register", {"agent": {
            "host": h, "mode": "compute",
            "tunnel_address": f"10.200.{i // 250}.{i % 250 + 1}"}})
    per_net = args.nodes_per_network * args.ports_per_node + 16
    prefix = 32
    while (1 << (32 - prefix)) - 3 < per_net:
        prefix -= 1
    size = 1 << (32 - prefix)
    ports, net_of, nodes_of, proj_of = {}, {}, {}, {}
    t0 = time.perf_counter()
    for g in range(0, args.nodes, args.nodes_per_network):
        base = (10 << 24) + (g // args.nodes_per_network) * size
        cidr = f"{base >> 24}.{(base >> 16) & 255}.{(base >> 8) & 255}.{base & 255}/{prefix}"
        # One tenant per network: its ports share the tenant's default
        # security group (whose members every node with one of them needs).
        proj = f"tenant-{g // args.nodes_per_network}"
        net = api.call("POST", "/v2.0/networks", {"network": {
            "name": f"net-{g}", "project_id": proj}})["network"]
        api.call("POST", "/v2.0/subnets", {"subnet": {
            "network_id": net["id"], "cidr": cidr, "ip_version": 4, "project_id": proj}})
        group = nodes[g:g + args.nodes_per_network]
        nodes_of[net["id"]] = group
        for h in group:
            net_of[h] = net["id"]
            proj_of[h] = proj
            made = api.call("POST", "/v2.0/ports", {"ports": [
                {"network_id": net["id"], "binding:host_id": h, "device_owner": "compute:nova",
                 "project_id": proj,
                 "device_id": f"vm-{h}-{k}", "name": "vm"}
                for k in range(args.ports_per_node)]})["ports"]
            ports[h] = [p["id"] for p in made]
    return nodes, ports, net_of, nodes_of, proj_of, time.perf_counter() - t0


def api_latencies(api, args, nodes, net_of, proj_of, ports, rng):
    """Seconds per port create, get and list (one network's ports)."""
    out = {"create": [], "get": [], "list": []}
    for _ in range(args.samples):
        h = rng.choice(nodes)
        t0 = time.perf_counter()
        api.call("POST", "/v2.0/ports", {"port": {"network_id": net_of[h], "project_id": proj_of[h],
                                                  "binding:host_id": h, "name": "extra"}})
        out["create"].append(time.perf_counter() - t0)
    for _ in range(args.samples):
        p = rng.choice(ports[rng.choice(nodes)])
        t0 = time.perf_counter()
        api.call("GET", f"/v2.0/ports/{p}")
        out["get"].append(time.perf_counter() - t0)
    for _ in range(max(10, args.samples // 4)):
        t0 = time.perf_counter()
        api.call("GET", f"/v2.0/ports?network_id={net_of[rng.choice(nodes)]}")
        out["list"].append(time.perf_counter() - t0)
    return out


def wait_all(pred, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.002)
    return False


def run(store, args):
    rng = random.Random(7)
    cloud = Cloud(store, args.etcd_servers)
    servers = cloud.servers
    n_srv = len(servers)
    res = {}
    try:
        res["lepton-servers"] = f"{n_srv}" + (" over 3 etcd members" if cloud.etcd else "")
        apis = [Api(s.port) for s in servers]
        api = apis[0]  # builds the cloud; its latency is the one measured
        nodes, ports, net_of, nodes_of, proj_of, setup_s = build(api, args)
        n_ports = sum(len(v) for v in ports.values())
        res["ports / nodes"] = f"{n_ports} / {len(nodes)}"
        res["setup: create time s (ports/s)"] = f"{setup_s:.1f} ({n_ports / setup_s:.0f})"
        res["server RSS MiB (the largest): peak while creating"] = f"{cloud.status('VmHWM') / 1024:.0f}"
        # A server restarting over the loaded store (the last one: with
        # etcd it reads every key; the others keep serving).
        servers[-1].stop()
        res["server restart over the store: API up s"] = f"{servers[-1].start():.2f}"
        apis[-1] = Api(servers[-1].port)
        api = apis[0]
        if n_srv > 1:  # the restarted server holds the whole store
            c = apis[-1].call("GET", f"/v2.0/ports?network_id={net_of[nodes[-1]]}")
            if len(c["ports"]) != len(nodes_of[net_of[nodes[-1]]]) * args.ports_per_node:
                raise RuntimeError("the restarted server lacks ports")
        base = api_latencies(api, args, nodes, net_of, proj_of, ports, rng)
        rss_idle = cloud.status("VmRSS") / 1024

        # The agents' watches, round-robin over the servers.
        w = Watchers()
        w.start()
        t0 = time.perf_counter()
        streams, srv_of = {}, {}
        for i, h in enumerate(nodes):
            srv_of[h] = i % n_srv
            streams[h] = Stream(servers[srv_of[h]].port, h)
            w.add(streams[h])
        ok = wait_all(lambda: all(st.synced_at for st in streams.values()), 600)
        if not ok:
            raise RuntimeError("not every agent got its snapshot in 600 s")
        connect_s = max(st.synced_at for st in streams.values()) - t0
        res[f"{len(nodes)} agents connect: all snapshots s"] = f"{connect_s:.2f}"
        res["snapshot bytes received MiB"] = f"{w.bytes / 2**20:.0f}"

        # A change (round-robin over the servers) until every interested
        # agent, whichever server it watches, has it.
        fan, calls, local, remote, missed = [], [], [], [], 0
        for c in range(args.changes):
            h = rng.choice(nodes)
            pid = rng.choice(ports[h])
            token = f"chg-{c}-{rng.randrange(1 << 30)}"
            interested = nodes_of[net_of[h]]
            at = c % n_srv
            w.arrived = {}
            w.token = token.encode()
            t0 = time.perf_counter()
            apis[at].call("PUT", f"/v2.0/ports/{pid}", {"port": {"name": token}})
            calls.append(time.perf_counter() - t0)
            if not wait_all(lambda: all(n in w.arrived for n in interested), 10):
                missed += 1
                continue
            fan.append(max(w.arrived[n] for n in interested) - t0)
            for n in interested:
                (local if srv_of[n] == at else remote).append(w.arrived[n] - t0)
        w.token = None
        res["interested agents per change"] = f"{args.nodes_per_network}"
        res["change -> every interested agent p50 ms"] = f"{pct(fan, 50) * 1000:.1f}"
        res["change -> every interested agent p99 ms"] = f"{pct(fan, 99) * 1000:.1f}"
        res["  (the API call itself p50 ms)"] = f"{pct(calls, 50) * 1000:.1f}"
        if n_srv > 1:
            res["  one agent, same server as the call p50/p99 ms"] = \
                f"{pct(local, 50) * 1000:.1f} / {pct(local, 99) * 1000:.1f}"
            res["  one agent, another server (etcd watch) p50/p99 ms"] = \
                f"{pct(remote, 50) * 1000:.1f} / {pct(remote, 99) * 1000:.1f}"
        res["changes not seen by all in 10 s"] = f"{missed}"

        # Reconnecting agents (to the next server: a revision is good on any).
        snaps = []
        for _ in range(min(args.changes, 50)):
            h = rng.choice(nodes)
            old = streams[h]
            w.drop(old)
            srv_of[h] = (srv_of[h] + 1) % n_srv
            t0 = time.perf_counter()
            st = Stream(servers[srv_of[h]].port, h, since=old.revision or 1)
            w.add(st)
            streams[h] = st
            if wait_all(lambda: st.synced_at, 30):
                snaps.append(st.synced_at - t0)
        res["reconnecting agent snapshot p50 ms"] = f"{pct(snaps, 50) * 1000:.1f}"
        res["reconnecting agent snapshot p99 ms"] = f"{pct(snaps, 99) * 1000:.1f}"
        res["reconnects that got no snapshot in 30 s"] = f"{min(args.changes, 50) - len(snaps)}"

        loaded = api_latencies(api, args, nodes, net_of, proj_of, ports, rng)
        for op in ("create", "get", "list"):
            b50, l50 = pct(base[op], 50) * 1000, pct(loaded[op], 50) * 1000
            b99, l99 = pct(base[op], 99) * 1000, pct(loaded[op], 99) * 1000
            label = "list (one network)" if op == "list" else op
            res[f"port {label} p50 ms: no watch / {len(nodes)} watches"] = \
                f"{b50:.1f} / {l50:.1f} ({l50 / b50:.2f}x)"
            res[f"port {label} p99 ms: no watch / {len(nodes)} watches"] = \
                f"{b99:.1f} / {l99:.1f} ({l99 / b99:.2f}x)"
        res["server RSS MiB (the largest): no watch / watches / peak"] = \
            f"{rss_idle:.0f} / {cloud.status('VmRSS') / 1024:.0f} / " \
            f"{cloud.status('VmHWM') / 1024:.0f}"
        res["server threads"] = f"{cloud.status('Threads')}"
        if cloud.etcd:
            res["etcd database MiB (largest member)"] = f"{cloud.etcd.db_size() / 2**20:.0f}"
        w.stop_flag = True
        w.join(5)
        for st in streams.values():
            st.sock.close()
    finally:
        cloud.stop()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--ports-per-node", type=int, default=100)
    ap.add_argument("--nodes-per-network", type=int, default=4)
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--etcd-servers", type=int, default=3,
                    help="lepton-servers in the etcd column (the agents' watches and the "
                         "changes go round-robin over them)")
    ap.add_argument("--stores", default="sqlite",
                    help="comma-separated columns, of: " + ", ".join(STORES))
    args = ap.parse_args()
    if args.etcd_servers < 1:
        ap.error("--etcd-servers must be at least 1")
    if args.nodes % args.nodes_per_network:
        ap.error("--nodes must be a multiple of --nodes-per-network")
    ensure_nofile(args.nodes * 2 + 256)
    cols = {}
    for store in args.stores.split(","):
        cols[store] = run(store, args)
    keys = []  # every column's rows, in order (some are etcd's only)
    for col in cols.values():
        for i, k in enumerate(col):
            if k not in keys:
                keys.insert(keys.index(list(col)[i - 1]) + 1 if i else 0, k)
    width = max(len(k) for k in keys) + 2
    print(f"bench/scale: {args.nodes} nodes x {args.ports_per_node} ports, "
          f"{args.nodes_per_network} nodes per network, {args.changes} changes")
    print("".ljust(width) + "".join(s.ljust(28) for s in cols))
    for k in keys:
        print(k.ljust(width) + "".join(cols[s].get(k, "-").ljust(28) for s in cols))


if __name__ == "__main__":
    main()
