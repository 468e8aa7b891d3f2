#!/usr/bin/python3
"""bench/feed: the per-node change feed (watch?host=NODE) against the whole feed.

Builds, through the API of a real lepton-server on SQLite (own data dir, a
free port on loopback), a cloud of N nodes (registered agents) and T tenants:
each tenant has a network, a subnet, a distributed router with that
interface and a gateway on the external network, P ports spread over 5 nodes
(so every node hosts NODES*PORTS_PER_NODE/N ports of 5 tenants) and one
Floating IP. Then prints, for one node:
  - the snapshot with ?host= and without: documents, bytes, time to receive
    it whole (follow=false, median of --runs), and the ratios;
  - the cost of the per-node feed's recompute-and-diff: the latency of a
    port update (the API call) with no watcher and with one live ?host=
    watcher per node, and the time until the node's own stream carries it.

Usage: python3 bench/feed.py [--nodes 100] [--ports-per-node 50] [--runs 5]
       [--updates 200]
"""
import argparse
import http.client
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "lab"))  # the lab library
from leptonlab.lab import free_port  # noqa: E402

ADMIN = {"X-Project-Id": "admin-project", "X-Roles": "admin",
         "Content-Type": "application/json"}


class Api:
    """One keep-alive connection per thread."""

    def __init__(self, port):
        self.port = port
        self.local = threading.local()

    def call(self, method, path, body=None, project=None):
        if not hasattr(self.local, "conn"):
            self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(ADMIN)
        if project:
            h["X-Project-Id"] = project
            h["X-Roles"] = ""
        self.local.conn.request(method, path, json.dumps(body) if body is not None else None, h)
        r = self.local.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else None

    def create(self, kind, body, project=None):
        return self.call("POST", f"/v2.0/{kind}s", {kind: body}, project)[kind]


def snapshot(port, host):
    """(documents, bytes, seconds) of a follow=false snapshot."""
    q = "since=0&follow=false" + (f"&host={host}" if host else "")
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("GET", f"/v2.0/lepton/watch?{q}", headers=ADMIN)
    r = c.getresponse()
    data = r.read()
    dt = time.perf_counter() - t0
    c.close()
    assert r.status == 200, data[:200]
    lines = [json.loads(x) for x in data.splitlines() if x.strip()]
    docs = [ln for ln in lines if ln["op"] == "snapshot"]
    return docs, len(data), dt


class Follower(threading.Thread):
    """A live ?host= stream; records when each port update arrives."""

    def __init__(self, port, host):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.conn.request("GET", f"/v2.0/lepton/watch?since=0&host={host}", headers=ADMIN)
        self.resp = self.conn.getresponse()
        self.seen = {}
        self.synced = threading.Event()
        self.cv = threading.Condition()

    def run(self):
        try:
            while line := self.resp.readline():
                ev = json.loads(line)
                if ev["op"] == "snapshot_end":
                    self.synced.set()
                elif ev["op"] == "update" and ev["type"] == "port":
                    with self.cv:
                        self.seen[ev["object"]["name"]] = time.perf_counter()
                        self.cv.notify_all()
        except (OSError, ValueError, AttributeError):  # closed at the end
            pass

    def wait(self, name, timeout=30):
        with self.cv:
            self.cv.wait_for(lambda: name in self.seen, timeout)
            return self.seen.get(name)

    def stop(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def build_cloud(api, nodes, ports_per_node):
    hosts = [f"compute-{i:03d}" for i in range(nodes)]
    for i, h in enumerate(hosts):
        api.call("POST", "/v2.0/lepton/agents/register", {"agent": {
            "host": h, "mode": "compute", "tunnel_address": f"10.200.{i // 250}.{i % 250 + 1}",
            "physical_networks": {"public": "ext0"}}})
    public = api.create("network", {"name": "public", "router:external": True,
                                     "provider:network_type": "flat",
                                     "provider:physical_network": "public"})
    api.create("subnet", {"network_id": public["id"], "cidr": "100.64.0.0/16",
                          "ip_version": 4, "service_types": ["network:router_gateway"]})
    api.create("subnet", {"network_id": public["id"], "cidr": "203.0.0.0/16",
                          "ip_version": 4, "service_types": ["network:floatingip"]})
    # Each tenant on 5 nodes; each node hosts 5 tenants.
    spread = 5
    tenants = nodes
    per_pair = ports_per_node // spread  # ports of one tenant on one node
    jobs = []
    for t in range(tenants):
        proj = f"tenant-{t:03d}"
        net = api.create("network", {"name": f"net-{t}"}, proj)
        sub = api.create("subnet", {"network_id": net["id"], "cidr": f"10.{t // 250}.{t % 250}.0/24",
                                    "ip_version": 4}, proj)
        router = api.create("router", {"name": f"r-{t}", "external_gateway_info": {
            "network_id": public["id"]}}, proj)
        api.call("PUT", f"/v2.0/routers/{router['id']}/add_router_interface",
                 {"subnet_id": sub["id"]}, proj)
        for k in range(spread):
            host = hosts[(t + k * (nodes // spread)) % nodes]
            jobs += [(proj, net["id"], host)] * per_pair
    made = []
    lock = threading.Lock()

    def worker(chunk):
        for proj, net_id, host in chunk:
            p = api.create("port", {"network_id": net_id, "binding:host_id": host,
                                    "project_id": proj, "name": "vm"})
            with lock:
                made.append(p)

    threads = [threading.Thread(target=worker, args=(jobs[i::4],)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # One Floating IP per tenant, on one of its ports.
    first = {}
    for p in made:
        first.setdefault(p["project_id"], p)
    for proj, p in first.items():
        api.create("floatingip", {"floating_network_id": public["id"], "port_id": p["id"]},
                   proj)
    return hosts, made


def update_latencies(api, ports, tag, follower=None):
    """Seconds per port update (the API call), and until follower saw it."""
    call, seen = [], []
    for i, p in enumerate(ports):
        name = f"{tag}-{i}"
        t0 = time.perf_counter()
        api.call("PUT", f"/v2.0/ports/{p['id']}", {"port": {"name": name}})
        t1 = time.perf_counter()
        call.append(t1 - t0)
        if follower:
            t2 = follower.wait(name)
            assert t2, f"update {name} not seen on the node's stream"
            seen.append(t2 - t0)
    return call, seen


def ms(xs):
    return statistics.median(xs) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--ports-per-node", type=int, default=50)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--updates", type=int, default=200)
    args = ap.parse_args()
    build = pathlib.Path(os.environ.get("LEPTON_BUILD", ROOT / "build"))
    subprocess.run(["make", "-s", "-C", str(ROOT), "build/lepton-server"], check=True)
    d = tempfile.mkdtemp(prefix="lepton-bench-feed-")
    port = free_port()
    conf = pathlib.Path(d, "bench.conf")
    conf.write_text("".join(f"quota_{q} = -1\n" for q in (
        "network", "subnet", "port", "router", "floatingip", "security_group")))
    log = open(pathlib.Path(d, "server.log"), "w")
    srv = subprocess.Popen([str(build / "lepton-server"), "--listen", f"127.0.0.1:{port}",
                            "--data-dir", d, "--config", str(conf)], stdout=log, stderr=log)
    followers = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        api = Api(port)
        t0 = time.perf_counter()
        hosts, ports = build_cloud(api, args.nodes, args.ports_per_node)
        node = hosts[0]
        print(f"cloud: {args.nodes} nodes x {args.ports_per_node} ports ({len(ports)} VM ports,"
              f" {args.nodes} tenants, each a network, a subnet, a distributed router and a"
              f" Floating IP), built through the API in {time.perf_counter() - t0:.1f} s")
        full = [snapshot(port, None) for _ in range(args.runs)]
        mine = [snapshot(port, node) for _ in range(args.runs)]
        fdocs, fbytes = full[0][0], full[0][1]
        ndocs, nbytes = mine[0][0], mine[0][1]
        everything = {(e["type"], e["id"]): e["object"] for e in fdocs}
        for e in ndocs:  # the node's share is made of the same documents
            assert everything[(e["type"], e["id"])] == e["object"], e["id"]
        local = [p for p in ports if p["binding:host_id"] == node]
        kinds = {}
        for e in ndocs:
            kinds[e["type"]] = kinds.get(e["type"], 0) + 1
        ft = statistics.median(x[2] for x in full)
        nt = statistics.median(x[2] for x in mine)
        print(f"snapshot for {node} ({len(local)} local ports), median of {args.runs}:")
        print(f"  unfiltered      : {len(fdocs):6d} documents {fbytes:10d} bytes {ft * 1000:8.1f} ms")
        print(f"  ?host={node}: {len(ndocs):6d} documents {nbytes:10d} bytes {nt * 1000:8.1f} ms")
        print(f"  ratio           : {len(ndocs) / len(fdocs):6.3f} of the documents,"
              f" {nbytes / fbytes:.3f} of the bytes, {nt / ft:.3f} of the time")
        print("  node's share by type: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
        # The cost of recomputing each node's view on every change.
        targets = [local[i % len(local)] for i in range(args.updates)]
        t0 = time.perf_counter()
        base, _ = update_latencies(api, targets, "idle")
        base_total = time.perf_counter() - t0
        t0 = time.perf_counter()
        followers = [Follower(port, h) for h in hosts]
        for f in followers:
            f.start()
        for f in followers:
            assert f.synced.wait(120), "a node's snapshot did not arrive"
        connect = time.perf_counter() - t0
        t0 = time.perf_counter()
        call, seen = update_latencies(api, targets, "live", followers[0])
        live_total = time.perf_counter() - t0
        print(f"{len(hosts)} live ?host= watchers (one per node) connected with their snapshots"
              f" in {connect:.2f} s")
        print(f"port update, median of {len(targets)}: API call {ms(base):.2f} ms with no"
              f" watcher, {ms(call):.2f} ms with {len(hosts)} node watchers (+{ms(call) - ms(base):.2f}"
              f" ms: {(ms(call) - ms(base)) / len(hosts) * 1000:.0f} us per watcher);"
              f" on {node}'s stream after {ms(seen):.2f} ms")
        print(f"  {len(targets)} updates one after the other: {base_total:.2f} s with no watcher,"
              f" {live_total:.2f} s with {len(hosts)} node watchers")
    finally:
        for f in followers:
            f.stop()
        srv.terminate()
        srv.wait(10)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
