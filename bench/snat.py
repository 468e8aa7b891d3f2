#!/usr/bin/python3
"""bench/snat: distributed SNAT (issue 10) in a lab, with real packets.

One lab (compute-1..3 and network-1), three projects side by side, each one
network behind its own router with a gateway on `public` and a VM without a
Floating IP on every compute: distributed SNAT, DVR + centralized SNAT (on
network-1), legacy router (on network-1). Every node's external uplink (its
ext0 leg towards the external switch and the switch's leg towards it) is
shaped with tc tbf to RATE each way, the network node's too. Prints, each
measured in the same run:

  - aggregate SNAT TCP throughput (iperf3, one stream per VM, all at once)
    from the VMs of 1, 2 and 3 nodes to the internet host, per mode, with
    the ratio to the 1-node figure (distributed should scale with the nodes;
    the centralized modes are capped by network-1's one uplink); then the
    same with the internet host sending (downloads: in every mode the return
    traffic enters through one node's uplink, the owner's in distributed
    SNAT);
  - forwarded-return throughput: a download through SNAT to a VM on a node
    that is not the owner (the replies enter at the owner and are forwarded
    to it, stateless) against one to a VM on the owner, shaped and not
    shaped (not shaped: the cost of the forwarding itself, CPU-bound);
  - owner failover stall: the longest gap in TCP streams from VMs on the
    surviving nodes to the internet host (the server sends 100 bytes every
    10 ms) when the owner node dies (links cut, agent stopped), median, min
    and max over N failovers; the node comes back between runs.

The machine's CPU use (all cores, everyone's) during each measurement is
printed beside it: a figure taken with the CPU near 100 % is the machine's
limit, not the uplinks'.

Run as root: bench/snat.py [--rate 150] [--runs 10] [--secs 5] (Debian's
/usr/bin/python3, standard library only; or `make bench-snat BENCH_ARGS=...`)
"""
import argparse
import json
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src" / "lab"))  # the lab library
from leptonlab import Lab, unique_name  # noqa: E402
from leptonlab.snat import (INTERNET, READER, SERVERS, STREAM, blocks, mk,  # noqa: E402
                            owner_of, qrouter, upstream_mac, wait, who_am_i)

COMPUTES = 3
MODES = [("distributed", {"distributed": True, "snat_mode": "distributed"}),
         ("dvr+central", {"distributed": True, "snat_mode": "centralized"}),
         ("legacy", {"distributed": False})]

class Cpu:
    """The machine's CPU use (all cores) between start and busy()."""

    def __init__(self):
        self.t = self._read()

    @staticmethod
    def _read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait

    def busy(self):
        total, idle = self._read()
        dt, di = total - self.t[0], idle - self.t[1]
        return 100.0 * (dt - di) / dt if dt else 0.0


def agent_alive(admin, node):
    a = admin.get(f"/v2.0/agents?host={node}").json["agents"]
    return bool(a) and a[0]["alive"] is True


def fg(lab, node, rid):
    """(MAC, IPv4 addresses) of the node's fg- leg of the router."""
    links = [ln for ln in lab.ip_json(qrouter(node, rid), "addr", "show")
             if ln["ifname"].startswith("fg-")]
    assert len(links) == 1, links
    return links[0]["address"], [a["local"] for a in links[0]["addr_info"]
                                 if a["family"] == "inet"]


def forwarded_packets(lab, owner, rid):
    """Packets the owner's stateless forwarding rules counted so far."""
    out = lab.exec(qrouter(owner, rid), ["nft", "list", "table", "netdev", "lepton"],
                   check=True).stdout
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", out))


def project(lab, name, body, ext):
    """One network behind a router with a gateway, a VM on every compute;
    returns once every VM reaches the internet host through SNAT."""
    admin = lab.admin()
    api = lab.client(name)
    net = mk(api, "network", {"name": f"{name}-net"})
    sub = mk(api, "subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4})
    router = mk(admin.as_(name, "admin"), "router", {"name": f"{name}-r", **body})
    rid = router["id"]
    r = api.put(f"/v2.0/routers/{rid}/add_router_interface", {"subnet_id": sub["id"]})
    assert r.status == 200, r
    r = api.put(f"/v2.0/routers/{rid}", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})
    assert r.status == 200, r
    gw = r.json["router"]["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    vms = {}
    for i in range(1, COMPUTES + 1):
        node = f"compute-{i}"
        port = mk(api, "port", {"network_id": net["id"], "name": f"{name}-vm{i}"})
        vms[node] = f"{name}-vm{i}"
        lab.vm(node, port["id"], vms[node])
    if body.get("snat_mode") == "distributed":
        assert wait(30, lambda: {b["host"] for b in blocks(admin, rid)
                                 if b["status"] == "ACTIVE"} == set(vms)), blocks(admin, rid)
        assert wait(30, lambda: owner_of(admin, rid) in vms)
    for vm in vms.values():
        assert wait(60, lambda: who_am_i(lab, vm)[0] == gw, 1), (name, vm, "no SNAT to", gw)
    return {"router": rid, "gw": gw, "vms": vms}


# -- shaping ---------------------------------------------------------------------
def uplinks(lab):
    """(host, device) of both ends of every node's external uplink: the
    node's ext0 (its egress: to the outside) and the switch's x<i> (its
    egress: to the node)."""
    out = []
    for n in lab.topology.nodes:
        out += [(n.name, "ext0"), ("ext", f"x{lab.topology.index(n.name)}")]
    return out


def shape(lab, mbit):
    # tbf with a burst of 1 ms at the rate, at least 64 KiB (a GSO packet
    # of a veth is up to 64 KiB: tbf cuts bigger ones in segments).
    burst = max(65536, mbit * 1000 // 8)
    for host, dev in uplinks(lab):
        lab.exec(host, ["tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate",
                        f"{mbit}mbit", "burst", str(burst), "latency", "20ms"], check=True)


def unshape(lab):
    for host, dev in uplinks(lab):
        lab.exec(host, ["tc", "qdisc", "del", "dev", dev, "root"])


# -- iperf3 --------------------------------------------------------------------------
def iperf(lab, vms, secs, reverse=False, port0=5201):
    """One iperf3 stream per VM to (or, reverse, from) the internet host,
    all at once. Returns ([Mbit/s received per VM], CPU busy %)."""
    servers = [lab.popen("internet", ["iperf3", "-s", "-1", "-p", str(port0 + k)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for k in range(len(vms))]
    clients = []
    try:
        time.sleep(0.5)
        cpu = Cpu()
        clients = [lab.popen(vm, ["iperf3", "-c", INTERNET, "-p", str(port0 + k), "-t", str(secs),
                                  "-J"] + (["-R"] if reverse else []),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                   for k, vm in enumerate(vms)]
        rates = []
        for c in clients:
            out, _ = c.communicate(timeout=secs + 30)
            try:
                rates.append(json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6)
            except (ValueError, KeyError):
                rates.append(0.0)
        return rates, cpu.busy()
    finally:
        for p in servers + clients:
            lab.stop(p)


def scaling(lab, projects, secs, reverse):
    """{mode: [(Mbit/s, busy %) for 1..COMPUTES nodes]}"""
    out = {m: [] for m in projects}
    for n in range(1, COMPUTES + 1):
        for mode, p in projects.items():
            vms = [p["vms"][f"compute-{i}"] for i in range(1, n + 1)]
            rates, busy = iperf(lab, vms, secs, reverse)
            out[mode].append((sum(rates), busy))
    return out


def print_scaling(title, res):
    modes = list(res)
    print(title)
    print(f"{'nodes':>5}" + "".join(f"  {m:>24}" for m in modes))
    for k in range(COMPUTES):
        cells = []
        for m in modes:
            v, busy = res[m][k]
            base = res[m][0][0]
            ratio = f"{v / base:.2f}x" if base > 0 else "-"
            cells.append(f"{v:7.1f} {ratio:>6} cpu {busy:3.0f}%")
        print(f"{k + 1:>5}" + "".join(f"  {c:>24}" for c in cells))
    sys.stdout.flush()


# -- forwarded return ----------------------------------------------------------------
def forwarded_return(lab, admin, p, secs, runs):
    """Downloads to a VM on a node that is not the owner, against the VM
    on the owner, alternately; (median, median, cpu, cpu, packets the owner
    forwarded during the first)."""
    rid = p["router"]
    owner = owner_of(admin, rid)
    other = next(n for n in p["vms"] if n != owner)
    fwd, local, fcpu, lcpu, counted = [], [], [], [], []
    for _ in range(runs):
        before = forwarded_packets(lab, owner, rid)
        r, c = iperf(lab, [p["vms"][other]], secs, reverse=True)
        counted.append(forwarded_packets(lab, owner, rid) - before)
        fwd.append(r[0])
        fcpu.append(c)
        r, c = iperf(lab, [p["vms"][owner]], secs, reverse=True)
        local.append(r[0])
        lcpu.append(c)
    return (owner, other, statistics.median(fwd), statistics.median(local),
            statistics.median(fcpu), statistics.median(lcpu), min(counted))


def print_forwarded(what, res):
    owner, other, f, loc, fc, lc, counted = res
    ratio = f"{f / loc:.2f}" if loc else "-"
    print(f"  {what}: to a VM on {other} (forwarded by the owner {owner}) {f:.1f} Mbit/s "
          f"(cpu {fc:.0f}%), to a VM on the owner {loc:.1f} Mbit/s (cpu {lc:.0f}%): "
          f"ratio {ratio}; the owner's forwarding rules counted >= {counted} packets a run")
    sys.stdout.flush()


# -- failover --------------------------------------------------------------------------
def cut(lab, node, up=False):
    i = lab.topology.index(node)
    state = "up" if up else "down"
    lab.sh("ext", f"ip link set x{i} {state}")
    lab.sh("ul", f"ip link set n{i} {state}")


def bring_back(lab, admin, p, node):
    """The dead node again: its agent first (links still cut, so that its
    stale state never reaches the wire), links once it holds no gateway
    address any more, then its VM reaches the internet again."""
    rid, gw = p["router"], p["gw"]
    lab.agent_restart(node)
    assert wait(30, lambda: agent_alive(admin, node)), f"agent {node} did not come back"
    assert wait(30, lambda: all(b["status"] == "ACTIVE" for b in blocks(admin, rid)
                                if b["host"] == node)), blocks(admin, rid)
    stale = not wait(15, lambda: gw not in fg(lab, node, rid)[1])
    cut(lab, node, up=True)
    assert wait(30, lambda: who_am_i(lab, p["vms"][node])[0] == gw, 0.5), f"{node}: no SNAT"
    return stale


def failovers(lab, admin, p, runs, secs=8.0):
    """Per run: (owner that died, ms until the upstream reached the new
    owner, {survivor: longest gap in s, or the error})."""
    rid, gw = p["router"], p["gw"]
    out = []
    for _ in range(runs):
        owner = owner_of(admin, rid)
        survivors = [n for n in p["vms"] if n != owner]
        macs = {fg(lab, n, rid)[0]: n for n in survivors}
        readers = {n: lab.popen(p["vms"][n], ["python3", "-c", READER, INTERNET, str(STREAM),
                                              str(secs)], stdout=subprocess.PIPE, text=True)
                   for n in survivors}
        try:
            for n, r in readers.items():
                line = r.stdout.readline().strip()
                assert line == "connected", (n, line)
            time.sleep(1.5)
            t0 = time.monotonic()
            cut(lab, owner)
            lab.stop_agent(owner)
            took = None
            if wait(10, lambda: upstream_mac(lab, gw) in macs, 0.02):
                took = (time.monotonic() - t0) * 1000
            gaps = {}
            for n, r in readers.items():
                text = r.communicate(timeout=secs + 30)[0].strip()
                m = re.match(r"gap ([\d.]+) bytes", text)
                gaps[n] = float(m.group(1)) if m else text
        finally:
            for r in readers.values():
                lab.stop(r)
        new = owner_of(admin, rid)
        stale = bring_back(lab, admin, p, owner)
        out.append((owner, new, took, gaps, stale))
        print(f"  run {len(out)}: {owner} died, {new} took over, upstream reached it after "
              + (f"{took:.0f} ms" if took is not None else "> 10 s (never)")
              + "; longest gap of the streams: "
              + ", ".join(f"{n} {g * 1000:.0f} ms" if isinstance(g, float) else f"{n} {g}"
                          for n, g in gaps.items())
              + ("; WARNING: back with the gateway address still on its fg- leg"
                 if stale else ""))
        sys.stdout.flush()
    return out


def print_failovers(res):
    stalls = [max(g.values()) for _, _, _, g, _ in res
              if all(isinstance(x, float) for x in g.values())]
    broken = len(res) - len(stalls)
    takes = [t for _, _, t, _, _ in res if t is not None]
    if stalls:
        print(f"owner failover stall (longest gap of the survivors' streams, per failover): "
              f"median {statistics.median(stalls) * 1000:.0f} ms, min {min(stalls) * 1000:.0f}, "
              f"max {max(stalls) * 1000:.0f} ({len(stalls)} failovers"
              + (f"; {broken} with a stream broken" if broken else "") + ")")
    else:
        print(f"owner failover: every stream broken in all {broken} failovers")
    if takes:
        print(f"owner failover, node cut -> the upstream reaches the new owner: median "
              f"{statistics.median(takes):.0f} ms, min {min(takes):.0f}, max {max(takes):.0f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=150, help="uplink rate, Mbit/s each way")
    ap.add_argument("--runs", type=int, default=10, help="owner failovers")
    ap.add_argument("--secs", type=int, default=5, help="seconds per iperf3 run")
    ap.add_argument("--fwd-runs", type=int, default=2, help="forwarded-return runs (median)")
    args = ap.parse_args()

    def stop(sig, _frame):
        raise SystemExit(f"bench/snat: signal {sig}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    t_start = time.monotonic()
    # Failover within seconds needs liveness within one: heartbeats every
    # 200 ms, dead after 1 s without one (as the e2e tests).
    lab = Lab(unique_name("bsn"), computes=COMPUTES, network_node=True, public=True,
              server_config={"agent_down_time": 1}, agent_args=["--heartbeat-interval", "200"])
    srv = None
    try:
        lab.up()
        srv = lab.popen("internet", ["python3", "-c", SERVERS], stdout=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "ready"
        admin = lab.admin()
        ext = admin.get("/v2.0/networks?name=public").json["networks"][0]
        projects = {mode: project(lab, f"b{k}", body, ext) for k, (mode, body) in enumerate(MODES)}
        dist = projects["distributed"]
        print(f"lab {lab.name}: {COMPUTES} computes + network-1; a VM without a Floating IP on "
              f"every compute per mode; distributed SNAT owner: {owner_of(admin, dist['router'])}")
        shape(lab, args.rate)
        print(f"every node's external uplink (network-1's too) shaped to {args.rate} Mbit/s "
              f"each way (tc tbf on its ext0 and on the switch's leg to it)\n")
        print_scaling(f"SNAT uplink: aggregate TCP throughput, VMs -> internet host, Mbit/s "
                      f"(iperf3, {args.secs} s, one stream per node, all at once; ratio to 1 "
                      f"node; machine CPU use):", scaling(lab, projects, args.secs, False))
        print()
        print_scaling(f"SNAT downlink: aggregate TCP throughput, internet host -> VMs, Mbit/s "
                      f"(iperf3 -R, same):", scaling(lab, projects, args.secs, True))
        print()
        print(f"forwarded return, download through distributed SNAT (iperf3 -R, {args.secs} s, "
              f"median of {args.fwd_runs}):")
        print_forwarded(f"uplinks shaped to {args.rate} Mbit/s",
                        forwarded_return(lab, admin, dist, args.secs, args.fwd_runs))
        unshape(lab)
        print_forwarded("uplinks not shaped",
                        forwarded_return(lab, admin, dist, args.secs, args.fwd_runs))
        print()
        print(f"owner failover ({args.runs} runs; streams from the VMs of the two other nodes, "
              f"100 bytes every 10 ms; the dead node comes back between runs):")
        print_failovers(failovers(lab, admin, dist, args.runs))
        print(f"\n(bench took {time.monotonic() - t_start:.0f} s)")
    finally:
        if srv:
            lab.stop(srv)
        lab.down()


if __name__ == "__main__":
    main()
