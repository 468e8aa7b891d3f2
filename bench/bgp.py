#!/usr/bin/python3
"""bench/bgp: Floating IPs announced over BGP (issue 12), in labs, with real
packets and real BIRD. Prints, each measured in the same run:

  - Floating IP move to reachable: a VM with a Floating IP moves (its port
    rebound, as a live migration does) between compute-1 (rack 1) and
    compute-2 (rack 2) of a BGP lab (`lepton-lab up --racks 2`), N times;
    per move, the time from the rebinding to the first ping reply at the
    internet host (ping every 10 ms); median, min, max. Baseline: the same
    moves in an ARP lab (two computes on one external network, case 1).
  - routes converged after creating F Floating IPs, half on a port bound in
    each rack (ports without a VM: what is measured is the control plane):
    the time from the first create to both nodes' announcement tables
    holding all of them (the agents' part; the baseline) and to both
    upstream routers' BIRD holding all of them (what BGP adds), with the
    ratio. The pool is 100.96.0.0/20 (lab space) since the usual one has 253
    addresses.

Run as root: bench/bgp.py [--moves 20] [--fips 2000] [--only moves|fips]
[--modes bgp,arp] (Debian's
/usr/bin/python3, standard library only).
"""
import argparse
import ipaddress
import pathlib
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "lab"))  # the lab library
from leptonlab import Lab, Topology, allow_ingress, unique_name  # noqa: E402
from leptonlab.snat import mk, wait  # noqa: E402

BIG_POOL = "100.96.0.0/20"


def tenant(lab, proj, node):
    """A distributed router, a network, one VM on node with a Floating IP;
    returns (vm name, Floating IP)."""
    ext = lab.admin().get("/v2.0/networks?name=public").json["networks"][0]
    api = lab.client(proj)
    net = mk(api, "network", {"name": f"{proj}-net"})
    sub = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.1.0.0/24", "ip_version": 4})
    router = mk(api, "router", {"name": f"{proj}-r"})
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    allow_ingress(api, net["id"])
    port = mk(api, "port", {"network_id": net["id"]})
    lab.vm(node, port["id"], f"{proj}-vm")
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert r.status == 200, r
    fip = mk(api, "floatingip", {"floating_network_id": ext["id"], "port_id": port["id"]})
    return f"{proj}-vm", fip["floating_ip_address"]


def reachable(lab, ip):
    return lab.exec("internet", ["ping", "-c1", "-W1", ip]).returncode == 0


def first_reply(pinger, bound, limit):
    """The first reply's wall-clock time after bound from `ping -D`, read
    as it comes (None after limit seconds)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        line = pinger.stdout.readline()
        if not line:
            return None
        m = re.match(r"^\[(\d+\.\d+)\] 64 bytes", line)
        if m and float(m.group(1)) > bound:
            return float(m.group(1))
    return None


def moves(lab, vm, fip, nodes, n, limit=30):
    """Seconds from each rebinding to the first reply from the Floating IP
    (ping every 10 ms; inf when none came within limit seconds)."""
    out = []
    assert wait(30, lambda: reachable(lab, fip)), f"{fip} not reachable"
    for k in range(n):
        pinger = lab.popen("internet", ["ping", "-D", "-n", "-i", "0.01", "-W", "1", fip],
                           stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.3)
            lab.vm_move(vm, nodes[(k + 1) % 2])
            bound = lab.bound_at
            t = first_reply(pinger, bound, limit)
        finally:
            lab.stop(pinger)
        out.append(t - bound if t else float("inf"))
        time.sleep(0.5)
    return out


def summary(xs):
    return (f"median {statistics.median(xs) * 1000:.0f} ms, min {min(xs) * 1000:.0f}, "
            f"max {max(xs) * 1000:.0f}; over 1 s: {sum(x > 1 for x in xs)} of {len(xs)}")


def bench_moves(n, modes=("bgp", "arp")):
    got = {}
    topos = {"bgp": Topology.bgp_racks(2, 1), "arp": Topology.standard(2, public=True)}
    for kind in modes:
        lab = Lab(unique_name("b" + kind[0]), topos[kind])
        try:
            lab.up()
            vm, fip = tenant(lab, "pm", "compute-1")
            got[kind] = moves(lab, vm, fip, ["compute-1", "compute-2"], n)
        finally:
            lab.down()
    print(f"Floating IP move to reachable ({n} moves, rebinding -> first reply at the "
          "internet host):")
    if "bgp" in got:
        print(f"  BGP, across racks (withdraw in one, announce in the other): "
              f"{summary(got['bgp'])}")
    if "arp" in got:
        print(f"  baseline, ARP on one external network (gratuitous ARP):      "
              f"{summary(got['arp'])}")
    if len(got) == 2:
        print(f"  ratio BGP / ARP (medians): "
              f"{statistics.median(got['bgp']) / statistics.median(got['arp']):.2f}")


def table_count(lab, node, pool):
    return sum(1 for r in lab.ip_json(node, "route", "show", "table", "76")
               if ipaddress.ip_address(r["dst"].split("/")[0]) in pool)


def upstream_count(lab, host, pool):
    return sum(1 for p in lab.bgp_routes(host) if ipaddress.ip_network(p).subnet_of(pool))


def bench_fips(n):
    pool = ipaddress.ip_network(BIG_POOL)
    lab = Lab(unique_name("bf"), Topology.bgp_racks(2, 1, pool=BIG_POOL))
    try:
        lab.up()
        admin = lab.admin()
        r = admin.put("/v2.0/quotas/pf", {"quota": {"port": -1, "floatingip": -1}})
        assert r.status == 200, r
        ext = admin.get("/v2.0/networks?name=public").json["networks"][0]
        api = lab.client("pf")
        net = mk(api, "network", {"name": "pf-net"})
        sub = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.8.0.0/20",
                                 "ip_version": 4})
        router = mk(api, "router", {"name": "pf-r"})
        api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
        ports = []
        for k in range(0, n, 100):
            r = admin.as_("pf", "admin").post("/v2.0/ports", {"ports": [
                {"network_id": net["id"], "binding:host_id": f"compute-{1 + (i % 2)}",
                 "device_owner": "compute:bench", "device_id": f"dev-{i}"}
                for i in range(k, min(n, k + 100))]})
            assert r.status == 201, r
            ports += r.json["ports"]
        r = api.put(f"/v2.0/routers/{router['id']}", {"router": {
            "external_gateway_info": {"network_id": ext["id"]}}})
        assert r.status == 200, r
        t0 = time.monotonic()
        for k in range(0, n, 200):  # a burst: bulk creates of 200
            r = api.post("/v2.0/floatingips", {"floatingips": [
                {"floating_network_id": ext["id"], "port_id": p["id"]} for p in ports[k:k + 200]]})
            assert r.status == 201, r
        t_api = time.monotonic() - t0
        half = n // 2
        ok_tables = wait(600, lambda: table_count(lab, "compute-1", pool) == n - half
                         and table_count(lab, "compute-2", pool) == half, 0.1)
        t_tables = time.monotonic() - t0
        ok_up = wait(600, lambda: upstream_count(lab, "upstream-1", pool) == n - half
                     and upstream_count(lab, "upstream-2", pool) == half, 0.1)
        t_up = time.monotonic() - t0
    finally:
        lab.down()
    print(f"{n} Floating IPs across 2 racks (created through the API in bulk requests of 200, "
          f"{t_api:.1f} s):")
    print(f"  in both nodes' announcement tables (baseline): {t_tables:.1f} s after the first "
          f"create, {t_tables - t_api:.1f} s after the last{'' if ok_tables else ' (NOT REACHED)'}")
    print(f"  in both upstreams' BIRD:                       {t_up:.1f} s after the first "
          f"create, {t_up - t_api:.1f} s after the last{'' if ok_up else ' (NOT REACHED)'}; "
          f"{t_up - t_tables:.2f} s after the tables")
    print(f"  ratio upstreams / tables (from the first create): {t_up / t_tables:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--fips", type=int, default=2000)
    ap.add_argument("--only", choices=("moves", "fips"))
    ap.add_argument("--modes", default="bgp,arp",
                    help="the moves to measure: bgp, arp or both (bgp,arp)")
    args = ap.parse_args()
    modes = tuple(args.modes.split(","))
    if not 1 <= args.moves <= 200 or not 2 <= args.fips <= 4000:
        ap.error("--moves takes 1..200, --fips 2..4000")
    if not modes or not set(modes) <= {"bgp", "arp"} or len(set(modes)) != len(modes):
        ap.error("--modes takes bgp, arp or bgp,arp")
    t = time.monotonic()
    if args.only != "fips":
        bench_moves(args.moves, modes)
        print()
    if args.only != "moves":
        bench_fips(args.fips)
    print(f"\n(bench took {time.monotonic() - t:.0f} s)")


if __name__ == "__main__":
    main()
